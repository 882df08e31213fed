// autograd::grad and create_graph: gradients returned rather than accumulated, only the part of
// the graph that leads to the inputs run, and gradients that are differentiable themselves
// (second and third derivatives, the Hessian-vector product of a small MLP against finite
// differences).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "test_support.h"
#include "volt/volt.h"

namespace volt {
namespace {

using volt::testing::expect_error;

Tensor leaf(std::vector<double> v) { return tensor(v).requires_grad_(true); }

TEST(Grad, ReturnsTheGradientAndLeavesDotGradAlone) {
  Tensor x = leaf({1.0, -2.0, 3.0});
  Tensor y = sum(mul(mul(x, x), 0.5));  // dy/dx = x
  const auto g = autograd::grad({y}, {x});
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0].to_vector<double>(), (std::vector<double>{1.0, -2.0, 3.0}));
  EXPECT_FALSE(x.grad().defined());
  EXPECT_FALSE(g[0].requires_grad());  // no create_graph: plain numbers
}

TEST(Grad, OfAnIntermediateTensorStopsThere) {
  Tensor x = leaf({1.0, 2.0});
  Tensor h = mul(x, x);
  Tensor y = sum(mul(h, 3.0));
  const auto g = autograd::grad({y}, {h, x});
  EXPECT_EQ(g[0].to_vector<double>(), (std::vector<double>{3.0, 3.0}));
  EXPECT_EQ(g[1].to_vector<double>(), (std::vector<double>{6.0, 12.0}));
}

TEST(Grad, SeveralOutputsAddTheirGradients) {
  Tensor x = leaf({1.0, 2.0});
  Tensor a = mul(x, 2.0), b = mul(x, x);
  const auto g = autograd::grad({a, b}, {x}, {tensor({1.0, 1.0}, DType::f64), tensor({1.0, 10.0}, DType::f64)});
  EXPECT_EQ(g[0].to_vector<double>(), (std::vector<double>{2.0 + 2.0, 2.0 + 40.0}));
}

TEST(Grad, RunsOnlyThePartOfTheGraphThatLeadsToTheInputs) {
  Tensor x = leaf({1.0}), w = leaf({2.0});
  int side_branch_runs = 0;
  Tensor side = mul(w, 5.0);
  side.register_hook([&](const Tensor& g) {
    ++side_branch_runs;
    return g;
  });
  Tensor y = sum(add(mul(x, 3.0), side));
  EXPECT_EQ(autograd::grad({y}, {x})[0].item<double>(), 3.0);
  EXPECT_EQ(side_branch_runs, 0);
  EXPECT_FALSE(w.grad().defined());
}

TEST(Grad, RefusesInputsItCannotDifferentiate) {
  Tensor x = leaf({1.0}), unused = leaf({4.0});
  Tensor constant = tensor({2.0}, DType::f64);
  Tensor y = sum(mul(x, 2.0));
  expect_error([&] { autograd::grad({y}, {constant}, {}, true); }, {"grad: input 0", "does not require grad"});
  expect_error([&] { autograd::grad({y}, {x, unused}, {}, true); }, {"input 1", "was not used", "allow_unused"});
  const auto g = autograd::grad({y}, {x, unused}, {}, true, false, true);
  EXPECT_EQ(g[0].item<double>(), 2.0);
  EXPECT_FALSE(g[1].defined());
  expect_error([&] { autograd::grad({mul(x, 2.0).expand({3})}, {x}); }, {"non-scalar output"});
  expect_error([&] { autograd::grad({y}, {x}, {tensor({1.0, 2.0}, DType::f64)}); }, {"does not match output"});
}

TEST(Grad, WithoutRetainGraphFreesWhatItRan) {
  Tensor x = leaf({1.0, 2.0});
  Tensor y = sum(exp(x));
  autograd::grad({y}, {x});
  expect_error([&] { y.backward(); }, {"a second time", "retain_graph"});
}

TEST(CreateGraph, GivesSecondAndThirdDerivatives) {
  Tensor x = leaf({0.5, -1.5, 2.0});
  Tensor y = sum(mul(mul(x, x), x));  // x³: 3x², 6x, 6
  const Tensor d1 = autograd::grad({y}, {x}, {}, std::nullopt, true)[0];
  ASSERT_TRUE(d1.requires_grad());
  const Tensor d2 = autograd::grad({sum(d1)}, {x}, {}, std::nullopt, true)[0];
  const Tensor d3 = autograd::grad({sum(d2)}, {x})[0];
  const std::vector<double> xs{0.5, -1.5, 2.0};
  for (std::size_t i = 0; i < xs.size(); ++i) {
    EXPECT_DOUBLE_EQ(d1.to_vector<double>()[i], 3 * xs[i] * xs[i]);
    EXPECT_DOUBLE_EQ(d2.to_vector<double>()[i], 6 * xs[i]);
    EXPECT_DOUBLE_EQ(d3.to_vector<double>()[i], 6.0);
  }
}

TEST(CreateGraph, OfSavedOutputsDifferentiatesThroughThem) {
  // exp, tanh and sigmoid save their output: with create_graph it must carry its history.
  Tensor x = leaf({0.3, -0.7});
  const Tensor d1 = autograd::grad({sum(tanh(x))}, {x}, {}, std::nullopt, true)[0];  // 1 - t²
  const Tensor d2 = autograd::grad({sum(d1)}, {x})[0];                               // -2t(1 - t²)
  for (int i = 0; i < 2; ++i) {
    const double t = std::tanh(x.to_vector<double>()[static_cast<std::size_t>(i)]);
    EXPECT_NEAR(d2.to_vector<double>()[static_cast<std::size_t>(i)], -2 * t * (1 - t * t), 1e-15);
  }
}

TEST(CreateGraph, BackwardLeavesADifferentiableDotGrad) {
  Tensor x = leaf({1.0, 3.0});
  sum(mul(mul(x, x), x)).backward({}, std::nullopt, true);
  const Tensor g = x.grad();  // 3x²
  ASSERT_TRUE(g.requires_grad());
  x.set_grad(Tensor());
  sum(g).backward();  // d(Σ3x²)/dx = 6x, into a fresh .grad
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{6.0, 18.0}));
}

// A two-layer MLP's loss as a function of its parameters: linear → tanh → matmul + bias → one of
// two losses. Everything in f64.
struct Mlp {
  Tensor x = randn({6, 4}, DType::f64), target_values = randn({6, 3}, DType::f64);
  Tensor classes = tensor(std::vector<int64_t>{0, 2, 1, 1, 0, 2});
  bool classify = false;

  Tensor loss(const std::vector<Tensor>& p) const {
    const Tensor h = tanh(linear(x, p[0], p[1]));
    const Tensor out = add(matmul(h, p[2]), p[3]);
    return classify ? cross_entropy(out, classes) : mse_loss(softplus(out), target_values);
  }
  std::vector<Tensor> gradient(const std::vector<Tensor>& p) const {
    std::vector<Tensor> leaves;
    for (const Tensor& t : p)
      leaves.push_back(t.detach().clone().requires_grad_(true));
    return autograd::grad({loss(leaves)}, leaves);
  }
};

void expect_hvp_matches_finite_differences(bool classify) {
  manual_seed(7);
  Mlp mlp;
  mlp.classify = classify;
  std::vector<Tensor> params{randn({5, 4}, DType::f64), randn({5}, DType::f64), randn({5, 3}, DType::f64),
                             randn({3}, DType::f64)};
  std::vector<Tensor> v;
  for (Tensor& p : params) {
    p.requires_grad_(true);
    v.push_back(randn(p.shape(), DType::f64));
  }
  // H·v = ∇(∇L · v), by double backward.
  const std::vector<Tensor> g = autograd::grad({mlp.loss(params)}, params, {}, std::nullopt, true);
  Tensor gv = zeros({}, DType::f64);
  for (std::size_t i = 0; i < g.size(); ++i)
    gv = add(gv, sum(mul(g[i], v[i])));
  const std::vector<Tensor> hv = autograd::grad({gv}, params);

  // (∇L(θ + εv) - ∇L(θ - εv)) / 2ε.
  const double eps = 1e-5;
  std::vector<Tensor> plus, minus;
  for (std::size_t i = 0; i < params.size(); ++i) {
    plus.push_back(add(params[i].detach(), mul(v[i], eps)));
    minus.push_back(add(params[i].detach(), mul(v[i], -eps)));
  }
  const auto gp = mlp.gradient(plus), gm = mlp.gradient(minus);
  double largest = 0;
  for (const Tensor& t : hv)
    for (double e : t.to_vector<double>())
      largest = std::max(largest, std::abs(e));
  ASSERT_GT(largest, 1e-3);  // a real curvature, not zeros matching zeros
  for (std::size_t i = 0; i < params.size(); ++i) {
    const auto analytic = hv[i].to_vector<double>();
    const auto numeric = mul(sub(gp[i], gm[i]), 1.0 / (2 * eps)).to_vector<double>();
    for (std::size_t j = 0; j < analytic.size(); ++j)
      EXPECT_NEAR(analytic[j], numeric[j], 1e-6 * (1 + largest)) << "parameter " << i << " element " << j;
  }
}

TEST(CreateGraph, HessianVectorProductOfAnMlpMatchesFiniteDifferences) { expect_hvp_matches_finite_differences(false); }

TEST(CreateGraph, HessianVectorProductThroughCrossEntropy) { expect_hvp_matches_finite_differences(true); }

}  // namespace
}  // namespace volt
