// Finite-difference gradient checks (f64, CPU) for every differentiable op: one table row per
// case, covering broadcasting, non-contiguous inputs and sizes that break vector widths.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "volt/volt.h"

namespace volt {
namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// How an input is made.
enum class Layout { contiguous, transposed, sliced };
enum class Values { normal, positive, away_from_zero, distinct };

struct InputSpec {
  Shape shape;
  Layout layout = Layout::contiguous;
  Values values = Values::normal;
};

struct Case {
  std::string name;
  std::vector<InputSpec> inputs;
  Fn fn;
  int64_t max_checked = 0;
  double eps = 1e-6;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

// A leaf f64 tensor of `spec.shape` that requires grad, laid out as asked.
Tensor make_input(const InputSpec& spec, uint64_t seed) {
  Generator gen(seed);
  Shape base_shape = spec.shape;
  if (spec.layout == Layout::transposed) {
    EXPECT_GE(base_shape.size(), 2u);
    std::swap(base_shape[base_shape.size() - 1], base_shape[base_shape.size() - 2]);
  }
  if (spec.layout == Layout::sliced) base_shape.back() = base_shape.back() * 2;
  Tensor base = randn(base_shape, DType::f64, &gen);
  if (spec.values == Values::positive) base = add(abs(base), 0.5);
  if (spec.values == Values::away_from_zero)
    base = add(base, mul(add(gt(base, zeros({}, DType::f64)).to(DType::f64), -0.5), 0.4));
  if (spec.values == Values::distinct)
    base = add(mul(arange(0, static_cast<double>(numel(base_shape)), 1, DType::f64).reshape(base_shape), 0.37), base);
  Tensor x = base;
  if (spec.layout == Layout::transposed) x = base.transpose(-1, -2);
  if (spec.layout == Layout::sliced) x = base.slice(-1, 0, base_shape.back(), 2);
  EXPECT_EQ(x.shape(), spec.shape);
  if (x.numel() > 1) {
    EXPECT_EQ(spec.layout == Layout::contiguous, x.is_contiguous());
  }
  x.requires_grad_(true);
  return x;
}

class OpGradcheck : public ::testing::TestWithParam<Case> {};

TEST_P(OpGradcheck, MatchesFiniteDifferences) {
  const Case& c = GetParam();
  std::vector<Tensor> inputs;
  for (std::size_t i = 0; i < c.inputs.size(); ++i)
    inputs.push_back(make_input(c.inputs[i], 100 + i));
  GradcheckOptions options;
  options.max_checked = c.max_checked;
  options.eps = c.eps;
  const GradcheckResult r = gradcheck(c.fn, inputs, options);
  EXPECT_TRUE(r.ok) << c.name << ": " << r.message;
}

Tensor target_of(std::vector<int64_t> t) { return tensor(t); }

std::vector<Case> cases() {
  using L = Layout;
  using V = Values;
  std::vector<Case> all = {
      {"add_broadcast", {{{3, 1, 4}}, {{5, 4}}}, [](auto& x) { return add(x[0], x[1]); }},
      {"add_alpha", {{{2, 3}}, {{3}}}, [](auto& x) { return add(x[0], x[1], -2.5); }},
      {"sub_broadcast", {{{4, 1}}, {{1, 3}, L::contiguous}}, [](auto& x) { return sub(x[0], x[1]); }},
      {"mul_broadcast_transposed", {{{3, 4}, L::transposed}, {{4}}}, [](auto& x) { return mul(x[0], x[1]); }},
      {"mul_same_input_twice", {{{5}}}, [](auto& x) { return mul(x[0], x[0]); }},
      {"div_broadcast", {{{2, 3}}, {{2, 1}, L::contiguous, V::positive}}, [](auto& x) { return div(x[0], x[1]); }},
      {"scalar_ops", {{{2, 3}, L::sliced}}, [](auto& x) { return (2.0 - x[0] * 3.0 + 1.5) / 4.0; }},
      {"neg", {{{3, 2}, L::transposed}}, [](auto& x) { return neg(x[0]); }},
      {"exp", {{{7}}}, [](auto& x) { return exp(x[0]); }},
      {"log", {{{7}, L::contiguous, V::positive}}, [](auto& x) { return log(x[0]); }},
      {"sqrt", {{{2, 4}, L::sliced, V::positive}}, [](auto& x) { return sqrt(x[0]); }},
      {"pow_fractional", {{{6}, L::contiguous, V::positive}}, [](auto& x) { return pow(x[0], 2.5); }},
      {"pow_integer", {{{6}}}, [](auto& x) { return pow(x[0], 3.0); }},
      {"reciprocal", {{{6}, L::contiguous, V::positive}}, [](auto& x) { return 1.0 / x[0]; }},
      {"tanh", {{{3, 3}, L::transposed}}, [](auto& x) { return tanh(x[0]); }},
      {"sigmoid", {{{3, 3}}}, [](auto& x) { return sigmoid(x[0]); }},
      {"relu", {{{4, 5}, L::transposed, V::away_from_zero}}, [](auto& x) { return relu(x[0]); }},
      {"abs", {{{9}, L::contiguous, V::away_from_zero}}, [](auto& x) { return abs(x[0]); }},
      {"matmul_2d", {{{3, 4}}, {{4, 5}}}, [](auto& x) { return matmul(x[0], x[1]); }},
      {"matmul_2d_transposed",
       {{{3, 4}, L::transposed}, {{4, 2}, L::transposed}},
       [](auto& x) { return matmul(x[0], x[1]); }},
      {"matmul_dot", {{{5}}, {{5}}}, [](auto& x) { return matmul(x[0], x[1]); }},
      {"matmul_vec_mat", {{{4}}, {{4, 3}}}, [](auto& x) { return matmul(x[0], x[1]); }},
      {"matmul_mat_vec", {{{3, 4}}, {{4}}}, [](auto& x) { return matmul(x[0], x[1]); }},
      {"matmul_batched_broadcast", {{{2, 1, 3, 4}}, {{3, 4, 2}}}, [](auto& x) { return matmul(x[0], x[1]); }},
      {"matmul_batched_sliced", {{{2, 3, 2}, L::sliced}, {{2, 2, 3}}}, [](auto& x) { return matmul(x[0], x[1]); }},
      {"linear", {{{4, 3}}, {{5, 3}}, {{5}}}, [](auto& x) { return linear(x[0], x[1], x[2]); }},
      {"linear_no_bias_3d", {{{2, 3, 4}}, {{2, 4}}}, [](auto& x) { return linear(x[0], x[1]); }},
      {"linear_transposed_input",
       {{{3, 4}, L::transposed}, {{2, 4}}, {{2}}},
       [](auto& x) { return linear(x[0], x[1], x[2]); }},
      {"sum_all", {{{3, 4}, L::transposed}}, [](auto& x) { return sum(x[0]); }},
      {"sum_dims_keepdim",
       {{{2, 3, 4}}},
       [](auto& x) {
         return sum(x[0], {0, 2}, true);
       }},
      {"sum_negative_dim", {{{2, 3, 4}, L::sliced}}, [](auto& x) { return sum(x[0], {-1}); }},
      {"mean_dim", {{{3, 5}}}, [](auto& x) { return mean(x[0], {1}); }},
      {"mean_all", {{{3, 5}, L::transposed}}, [](auto& x) { return mean(x[0]); }},
      {"max_dim", {{{3, 4}, L::contiguous, V::distinct}}, [](auto& x) { return max(x[0], 1).values; }},
      {"max_dim0_keepdim", {{{4, 3}, L::transposed, V::distinct}}, [](auto& x) { return max(x[0], 0, true).values; }},
      {"softmax_last", {{{3, 5}}}, [](auto& x) { return softmax(x[0], -1); }},
      {"softmax_dim0_transposed", {{{4, 3}, L::transposed}}, [](auto& x) { return softmax(x[0], 0); }},
      {"log_softmax_middle", {{{2, 3, 4}}}, [](auto& x) { return log_softmax(x[0], 1); }},
      {"cross_entropy_mean",
       {{{4, 5}}},
       [](auto& x) {
         return cross_entropy(x[0], target_of({1, 0, 4, 2}));
       }},
      {"cross_entropy_sum_transposed",
       {{{3, 4}, L::transposed}},
       [](auto& x) {
         return cross_entropy(x[0], target_of({2, 1, 0}), {Reduction::sum});
       }},
      {"cross_entropy_none",
       {{{3, 4}}},
       [](auto& x) {
         return cross_entropy(x[0], target_of({3, 3, 0}), {Reduction::none});
       }},
      {"cross_entropy_smoothing_ignore",
       {{{5, 4}}},
       [](auto& x) {
         return cross_entropy(x[0], target_of({1, -100, 3, 0, -100}), {Reduction::mean, -100, 0.2});
       }},
      {"cross_entropy_single",
       {{{6}}},
       [](auto& x) { return cross_entropy(x[0], tensor(std::vector<int64_t>{2}).reshape({})); }},
      {"dropout",
       {{{4, 6}, L::transposed}},
       [](auto& x) {
         Generator gen(7);  // the same mask on every call
         return dropout(x[0], 0.4, true, &gen);
       }},
      {"cat",
       {{{2, 3}}, {{1, 3}, L::contiguous}, {{4, 3}, L::sliced}},
       [](auto& x) {
         return cat({x[0], x[1], x[2]}, 0);
       }},
      {"cat_dim1",
       {{{2, 3}, L::transposed}, {{2, 1}}},
       [](auto& x) {
         return cat({x[0], x[1]}, -1);
       }},
      {"stack",
       {{{2, 3}}, {{2, 3}, L::transposed}},
       [](auto& x) {
         return stack({x[0], x[1]}, 1);
       }},
      {"view",
       {{{2, 6}}},
       [](auto& x) {
         return x[0].view({3, -1, 2}) * 2.0;
       }},
      {"reshape_copy", {{{3, 4}, L::transposed}}, [](auto& x) { return x[0].reshape({12}) * 2.0; }},
      {"transpose_permute",
       {{{2, 3, 4}}},
       [](auto& x) {
         return x[0].permute({2, 0, 1}).transpose(0, 1) * 2.0;
       }},
      {"narrow", {{{5, 3}}}, [](auto& x) { return x[0].narrow(0, 1, 3) * 2.0; }},
      {"slice_step", {{{9, 2}}}, [](auto& x) { return x[0].slice(0, 1, 8, 3) * 2.0; }},
      {"select", {{{4, 3}, L::transposed}}, [](auto& x) { return x[0].select(1, -1) * 2.0; }},
      {"expand",
       {{{3, 1}}},
       [](auto& x) {
         return x[0].expand({2, 3, 4}) * x[0].expand({2, 3, 4});
       }},
      {"squeeze_unsqueeze", {{{3, 1, 2}}}, [](auto& x) { return x[0].squeeze().unsqueeze(0).squeeze(1) * 2.0; }},
      {"flatten", {{{2, 3, 4}, L::sliced}}, [](auto& x) { return x[0].flatten(1) * 2.0; }},
      {"contiguous_clone", {{{3, 4}, L::transposed}}, [](auto& x) { return x[0].contiguous().clone() * 2.0; }},
      {"to_f32_and_back",
       {{{3}}},
       [](auto& x) { return x[0].to(DType::f32).to(DType::f64) * 1.0; },
       0,
       1e-2},  // f32 steps
      {"mlp",
       {{{4, 3}}, {{5, 3}}, {{5}}, {{2, 5}}, {{2}}},
       [](auto& x) {
         return cross_entropy(linear(relu(linear(x[0], x[1], x[2])), x[3], x[4]), target_of({0, 1, 1, 0}));
       }},
  };
  // Sizes that break vector widths and tile edges, for the elementwise paths.
  for (int64_t n : {0, 1, 7, 1023, 65537}) {
    const std::string s = std::to_string(n);
    all.push_back(
        {"size" + s + "_binary_broadcast", {{{n}}, {{1}}}, [](auto& x) { return mul(add(x[0], x[1]), x[0]); }, 24});
    all.push_back({"size" + s + "_unary", {{{n}, L::sliced}}, [](auto& x) { return tanh(sigmoid(exp(x[0]))); }, 24});
    all.push_back(
        {"size" + s + "_reduce_softmax", {{{2, n}}}, [](auto& x) { return sum(softmax(x[0], 1) * x[0], {1}); }, 24});
  }
  return all;
}

INSTANTIATE_TEST_SUITE_P(Ops, OpGradcheck, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

// The check must be able to fail: an op whose backward is off by a factor is caught.
TEST(Gradcheck, DetectsAWrongBackward) {
  Tensor x = randn({4}, DType::f64).requires_grad_(true);
  auto wrong_identity = [](const std::vector<Tensor>& in) {
    Tensor y = in[0].detach().clone();
    record("WrongBackward", y, {in[0]}, [](const Tensor& g) { return std::vector<Tensor>{mul(g, 2.0)}; });
    return y;
  };
  const GradcheckResult r = gradcheck(wrong_identity, {x});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.message.find("analytic"), std::string::npos);
}

TEST(Gradcheck, RejectsF32Inputs) {
  Tensor x = randn({3}).requires_grad_(true);
  EXPECT_THROW(gradcheck([](const std::vector<Tensor>& in) { return in[0]; }, {x}), Error);
}

}  // namespace
}  // namespace volt
