// A small regression written only with names a libtorch user would guess: fit
// y = sin(3·x₀) + x₁² - 0.5·x₀·x₁ from noisy samples with an MLP (LayerNorm, GELU), AdamW with
// two parameter groups (no weight decay on biases and norms), OneCycleLR, gradient clipping,
// and a check of the input gradient's curvature by autograd::grad with create_graph.
//
//   build/examples/regression [steps]     prints the loss as it trains; exits 1 if it did not learn
#include <volt/volt.h>

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

using namespace volt;

struct Net : nn::Module {
  std::shared_ptr<nn::Linear> fc1 = register_module("fc1", std::make_shared<nn::Linear>(2, 64));
  std::shared_ptr<nn::LayerNorm> norm = register_module("norm", std::make_shared<nn::LayerNorm>(Shape{64}));
  std::shared_ptr<nn::Linear> fc2 = register_module("fc2", std::make_shared<nn::Linear>(64, 64));
  std::shared_ptr<nn::Linear> out = register_module("out", std::make_shared<nn::Linear>(64, 1));

  Tensor forward(const Tensor& x) override {
    Tensor h = nn::functional::gelu((*norm)((*fc1)(x)));
    h = nn::functional::silu((*fc2)(h));
    return (*out)(h).squeeze(-1);
  }
};

Tensor target_of(const Tensor& x) {
  const Tensor x0 = x.select(1, 0), x1 = x.select(1, 1);
  return sin(x0 * 3.0) + x1.square() - 0.5 * x0 * x1;
}

int main(int argc, char** argv) try {
  const int steps = argc > 1 ? std::stoi(argv[1]) : 1500;
  manual_seed(0);
  const Tensor x_train = rand({512, 2}) * 4.0 - 2.0;  // uniform in [-2, 2)²
  const Tensor y_train = target_of(x_train) + 0.05 * randn({512});
  const Tensor x_test = rand({256, 2}) * 4.0 - 2.0;
  const Tensor y_test = target_of(x_test);

  Net net;
  std::vector<Tensor> decayed, plain;
  for (const auto& [name, p] : net.named_parameters())
    (name.ends_with("weight") && name.rfind("norm", 0) != 0 ? decayed : plain).push_back(p);
  optim::AdamW opt({optim::ParamGroup(decayed), optim::ParamGroup(plain, std::nullopt, 0.0)},
                   optim::AdamWOptions(3e-3).weight_decay(1e-4));
  optim::OneCycleLR schedule(opt, 1e-2, steps);

  const double start = nn::functional::mse_loss(net(x_test), y_test).item<double>();
  for (int step = 0; step < steps; ++step) {
    const Tensor batch = randint(0, 512, {64});
    const Tensor loss = nn::functional::mse_loss(net(x_train.index_select(0, batch)), y_train.index_select(0, batch));
    opt.zero_grad();
    loss.backward();
    nn::utils::clip_grad_norm_(net.parameters(), 1.0);
    opt.step();
    schedule.step();
    if (step % 300 == 0) std::cout << "step " << step << "  loss " << loss.item<double>() << "\n";
  }
  NoGradGuard no_grad;
  const double test = nn::functional::mse_loss(net(x_test), y_test).item<double>();
  std::cout << "test mse " << start << " -> " << test << "\n";

  // The fitted function's second derivative in x₁ at the origin; the target's is 2.
  AutoGradMode grad_on(true);
  const Tensor origin = zeros({1, 2}).requires_grad_(true);
  const Tensor dy = autograd::grad({net(origin).sum()}, {origin}, {}, std::nullopt, /*create_graph=*/true)[0];
  const Tensor d2y = autograd::grad({dy.select(1, 1).sum()}, {origin})[0];
  std::cout << "d²y/dx₁² at 0: " << d2y.select(1, 1).item<double>() << " (target: 2)\n";
  return test < start / 10 ? 0 : 1;
} catch (const Error& e) {
  std::cerr << "volt::Error: " << e.what() << "\n";
  return 2;
}
