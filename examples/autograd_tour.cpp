// A tour of volt for a newcomer: tensors, views, a small graph, and its backward pass.
// Run it and read the output beside this file; each step prints what it shows.
#include <iostream>

#include "volt/volt.h"

using namespace volt;

static void section(const char* title) { std::cout << "\n== " << title << " ==\n"; }

int main() {
  section("1. Tensors: a handle on storage + shape + strides + dtype");
  Tensor a = arange(6.0).reshape({2, 3});
  std::cout << "a = arange(6).reshape({2, 3}):\n" << a << "\n";
  std::cout << "shape " << shape_str(a.shape()) << ", strides " << shape_str(a.strides()) << ", dtype " << a.dtype()
            << ", device " << a.device() << "\n";

  section("2. Views share memory: no copy, only new strides");
  Tensor at = a.t();
  std::cout << "a.t():\n" << at << "\n";
  std::cout << "strides " << shape_str(at.strides()) << ", contiguous? " << std::boolalpha << at.is_contiguous()
            << ", same storage as a? " << (at.storage() == a.storage()) << "\n";
  Tensor row = a.select(0, 1);
  row.fill_(7.0);  // writes through the view
  std::cout << "after a.select(0, 1).fill_(7):\n" << a << "\n";
  Tensor b = a.unsqueeze(0).expand({4, 2, 3});
  std::cout << "a.unsqueeze(0).expand({4, 2, 3}) has strides " << shape_str(b.strides())
            << ": the new dim repeats the same memory (stride 0)\n";

  section("3. Broadcasting: shapes line up from the right");
  Tensor col = tensor({10.0, 20.0}).reshape({2, 1});
  std::cout << "a + [[10], [20]]:\n" << a + col << "\n";

  section("4. A small graph: y = sum(relu(x·Wᵀ + b))");
  Generator gen(0);
  Tensor x = randn({2, 3}, {}, &gen);
  Tensor w = randn({4, 3}, {}, &gen).requires_grad_(true);
  Tensor bias = zeros({4}, TensorOptions().requires_grad(true));
  Tensor h = linear(x, w, bias);
  Tensor r = relu(h);
  Tensor y = sum(r);
  std::cout << "x (a constant):\n" << x << "\n";
  std::cout << "w (a leaf that requires grad):\n" << w << "\n";
  std::cout << "h = linear(x, w, b):\n" << h << "\n";
  std::cout << "y = sum(relu(h)) = " << y << "\n";
  std::cout << "Each result remembers the op that made it: y <- " << y.grad_fn()->name() << " <- "
            << r.grad_fn()->name() << " <- " << h.grad_fn()->name() << "\n";

  section("5. backward(): the engine walks the graph from y to the leaves");
  y.backward();
  std::cout << "dy/db (1 where a unit of h was positive, summed over the batch):\n" << bias.grad() << "\n";
  std::cout << "dy/dw:\n" << w.grad() << "\n";
  std::cout << "x needs no gradient, so it has none: x.grad() defined? " << x.grad().defined() << "\n";

  section("6. Gradients accumulate; hooks see them arrive");
  w.register_post_accumulate_grad_hook(
      [](Tensor& leaf) { std::cout << "  hook: w.grad() now sums to " << sum(leaf.grad()).item<float>() << "\n"; });
  sum(relu(linear(x, w, bias))).backward();
  std::cout << "A second backward added to w.grad() (set it to none between steps, as zero_grad does).\n";

  section("7. Without grad mode nothing is recorded");
  {
    NoGradGuard no_grad;
    Tensor z = linear(x, w, bias);
    std::cout << "under NoGradGuard: z.requires_grad() = " << z.requires_grad() << "\n";
  }

  section("8. Errors say what went wrong");
  try {
    add(ones({2, 3}), ones({4}));
  } catch (const Error& e) {
    std::cout << "add(ones({2, 3}), ones({4})) -> volt::Error: " << e.what() << "\n";
  }
  return 0;
}
