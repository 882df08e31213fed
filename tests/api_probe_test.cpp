// The API probe: one line per name a libtorch user reaches for first, each checked against a
// value worked out here by hand. What volt leaves out is listed in the README ("Left out").
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <tuple>
#include <vector>

#include "test_support.h"
#include "volt/volt.h"

namespace volt {
namespace {

std::vector<float> v(const Tensor& t) { return t.to_vector<float>(); }
std::vector<bool> b(const Tensor& t) { return t.to_vector<bool>(); }

TEST(ApiProbe, ReductionsTakeOneDimOrAList) {
  const Tensor x = tensor({{1., 2., 3.}, {4., 5., 6.}});
  EXPECT_EQ(x.shape(), (Shape{2, 3}));
  EXPECT_EQ(v(x.sum(1)), (std::vector<float>{6, 15}));
  EXPECT_EQ(v(x.sum(0)), (std::vector<float>{5, 7, 9}));
  EXPECT_EQ(v(x.sum({0, 1})), (std::vector<float>{21}));
  EXPECT_EQ(v(x.sum({})), (std::vector<float>{21}));
  EXPECT_EQ(x.mean(-1, true).shape(), (Shape{2, 1}));
  EXPECT_EQ(v(x.mean(-1, true)), (std::vector<float>{2, 5}));
  EXPECT_EQ(v(sum(x, 1)), (std::vector<float>{6, 15}));
  EXPECT_EQ(v(std::get<0>(x.max(1))), (std::vector<float>{3, 6}));
  const auto [values, indices] = max(x, 0);
  EXPECT_EQ(v(values), (std::vector<float>{4, 5, 6}));
  EXPECT_EQ(indices.to_vector<int64_t>(), (std::vector<int64_t>{1, 1, 1}));
  EXPECT_THROW(tensor({{1., 2.}, {3.}}), Error);
}

TEST(ApiProbe, ComparisonsWithTensorsAndScalars) {
  const Tensor x = tensor({0.25, 0.5, 0.75}), y = tensor({0.5, 0.5, 0.5});
  EXPECT_EQ(b(x.gt(0.5)), (std::vector<bool>{false, false, true}));
  EXPECT_EQ(b(x > 0.5), (std::vector<bool>{false, false, true}));
  EXPECT_EQ(b(x >= y), (std::vector<bool>{false, true, true}));
  EXPECT_EQ(b(x < y), (std::vector<bool>{true, false, false}));
  EXPECT_EQ(b(0.5 <= x), (std::vector<bool>{false, true, true}));
  EXPECT_EQ(b(0.5 > x), (std::vector<bool>{true, false, false}));
  EXPECT_EQ(b(x.le(0.5)), (std::vector<bool>{true, true, false}));
  EXPECT_EQ(b(x.eq(0.5)), (std::vector<bool>{false, true, false}));
  EXPECT_EQ(b(ne(x, 0.5)), (std::vector<bool>{true, false, true}));
}

TEST(ApiProbe, ArithmeticMembers) {
  const Tensor x = tensor({1., 2.}), y = tensor({3., 5.});
  EXPECT_EQ(v(x.add(y)), (std::vector<float>{4, 7}));
  EXPECT_EQ(v(x.add(y, 2.0)), (std::vector<float>{7, 12}));
  EXPECT_EQ(v(x.sub(y)), (std::vector<float>{-2, -3}));
  EXPECT_EQ(v(x.mul(y)), (std::vector<float>{3, 10}));
  EXPECT_EQ(v(y.div(x)), (std::vector<float>{3, 2.5}));
  EXPECT_EQ(v(x.add(1.0)), (std::vector<float>{2, 3}));
  EXPECT_EQ(v(x.mul(3.0)), (std::vector<float>{3, 6}));
  EXPECT_EQ(v(y.div(2.0)), (std::vector<float>{1.5, 2.5}));
  EXPECT_EQ(v(x.sub(0.5)), (std::vector<float>{0.5, 1.5}));
}

TEST(ApiProbe, ElementwiseFunctions) {
  const Tensor x = tensor({-1.0, 0.0, 2.0}, DType::f64);
  const std::vector<double> xs = {-1.0, 0.0, 2.0};
  const auto each = [&](double (*f)(double)) {
    std::vector<double> out;
    for (double a : xs)
      out.push_back(f(a));
    return out;
  };
  EXPECT_EQ(log1p(add(x, 1.5)).to_vector<double>(),
            (std::vector<double>{std::log1p(0.5), std::log1p(1.5), std::log1p(3.5)}));
  EXPECT_EQ(expm1(x).to_vector<double>(), each([](double a) { return std::expm1(a); }));
  EXPECT_EQ(square(x).to_vector<double>(), (std::vector<double>{1, 0, 4}));
  EXPECT_EQ(x.clamp(-0.5, 1.0).to_vector<double>(), (std::vector<double>{-0.5, 0, 1}));
  EXPECT_EQ(x.clamp_min(0.0).to_vector<double>(), (std::vector<double>{0, 0, 2}));
  EXPECT_EQ(x.clamp_max(0.0).to_vector<double>(), (std::vector<double>{-1, 0, 0}));
  EXPECT_EQ(leaky_relu(x, 0.1).to_vector<double>(), (std::vector<double>{-0.1, 0, 2}));
  EXPECT_NEAR(softplus(x).to_vector<double>()[0], std::log1p(std::exp(-1.0)), 1e-15);
  EXPECT_NEAR(gelu(x).to_vector<double>()[2], 2 * 0.5 * (1 + std::erf(2 / std::sqrt(2.0))), 1e-15);
  EXPECT_NEAR(silu(x).to_vector<double>()[0], -1 / (1 + std::exp(1.0)), 1e-15);
}

TEST(ApiProbe, PredicatesCreationAndSelection) {
  const double inf = std::numeric_limits<double>::infinity();
  const Tensor x = tensor({1.0, std::nan(""), inf, -inf, -2.0});
  EXPECT_EQ(b(isnan(x)), (std::vector<bool>{false, true, false, false, false}));
  EXPECT_EQ(b(isinf(x)), (std::vector<bool>{false, false, true, true, false}));
  EXPECT_EQ(b(isfinite(x)), (std::vector<bool>{true, false, false, false, true}));
  EXPECT_TRUE(allclose(tensor({1.0, 2.0}), tensor({1.0 + 1e-7, 2.0})));
  EXPECT_FALSE(allclose(tensor({1.0, 2.0}), tensor({1.0, 2.01})));
  EXPECT_FALSE(allclose(x, x));
  EXPECT_TRUE(allclose(x, x, 1e-5, 1e-8, /*equal_nan=*/true));
  EXPECT_EQ(v(where(x > 0.0, x, zeros_like(x))), (std::vector<float>{1, 0, INFINITY, 0, 0}));
  EXPECT_EQ(v(masked_fill(tensor({1.0, 2.0, 3.0}), tensor({1.0, 0.0, 1.0}) > 0.5, -1.0)),
            (std::vector<float>{-1, 2, -1}));
  EXPECT_EQ(one_hot(tensor(std::vector<int64_t>{2, 0}), 3).to_vector<int64_t>(),
            (std::vector<int64_t>{0, 0, 1, 1, 0, 0}));
  EXPECT_EQ(one_hot(tensor(std::vector<int64_t>{1, 3})).shape(), (Shape{2, 4}));
  EXPECT_THROW(one_hot(tensor(std::vector<int64_t>{5}), 3), Error);
  EXPECT_EQ(v(linspace(0.0, 1.0, 5)), (std::vector<float>{0, 0.25, 0.5, 0.75, 1}));
  EXPECT_EQ(linspace(-1.0, 1.0, 1).to_vector<float>(), (std::vector<float>{-1}));
  Generator g1(4), g2(4);
  const Tensor like = zeros({2, 3}, DType::f64);
  EXPECT_EQ(rand_like(like, &g1).to_vector<double>(), rand({2, 3}, DType::f64, &g2).to_vector<double>());
  EXPECT_EQ(randn_like(like, &g1).shape(), like.shape());
  const Tensor m = tensor({{1., 5.}, {7., 3.}});
  EXPECT_EQ(v(amax(m)), (std::vector<float>{7}));
  EXPECT_EQ(v(amin(m, 1)), (std::vector<float>{1, 3}));
  EXPECT_EQ(argmin(m, 0).to_vector<int64_t>(), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(v(std::get<0>(min(m, 1))), (std::vector<float>{1, 3}));
  EXPECT_NEAR(logsumexp(m, 1).to_vector<float>()[0], std::log(std::exp(1.0) + std::exp(5.0)), 1e-5);
  EXPECT_EQ(logsumexp(full({2}, -inf), 0).item<float>(), -INFINITY);  // no NaN from the shift
  EXPECT_EQ(v(var(m, 1)), (std::vector<float>{8, 8}));
  EXPECT_EQ(v(var(m, 1, 0)), (std::vector<float>{4, 4}));
  EXPECT_EQ(v(std(tensor({2., 4., 4., 4., 5., 5., 7., 9.}), {}, 0)), (std::vector<float>{2}));
}

TEST(ApiProbe, ProductsNormsAndClassificationLosses) {
  const Tensor a = tensor({{1., 2.}, {3., 4.}}), e = tensor({{0., 1.}, {1., 0.}});
  EXPECT_EQ(v(mm(a, e)), (std::vector<float>{2, 1, 4, 3}));
  EXPECT_EQ(v(bmm(a.unsqueeze(0), e.unsqueeze(0))), (std::vector<float>{2, 1, 4, 3}));
  EXPECT_FLOAT_EQ(norm(tensor({3., 4.})).item<float>(), 5.0f);
  EXPECT_EQ(v(norm(a, 1.0, 1)), (std::vector<float>{3, 7}));
  EXPECT_FLOAT_EQ(norm(a, std::numeric_limits<double>::infinity()).item<float>(), 4.0f);
  // The 2-norm's gradient at 0 is 0, not NaN.
  Tensor z = zeros({3}).requires_grad_(true);
  norm(z).backward();
  EXPECT_EQ(v(z.grad()), (std::vector<float>{0, 0, 0}));
  // nll_loss picks -log_probs[i, target[i]]; the mean skips the ignored row.
  const Tensor lp = log(tensor({{0.5, 0.25, 0.25}, {0.1, 0.8, 0.1}, {0.2, 0.2, 0.6}}));
  const Tensor target = tensor(std::vector<int64_t>{0, 1, -100});
  EXPECT_NEAR(nll_loss(lp, target).item<float>(), -(std::log(0.5) + std::log(0.8)) / 2, 1e-6);
  EXPECT_EQ(nn::NLLLoss()(lp, target).item<float>(), nll_loss(lp, target).item<float>());
  // nll_loss of log_softmax is cross_entropy.
  const Tensor logits = tensor({{1., 2., 0.5}, {0.1, -1., 2.}});
  const Tensor t2 = tensor(std::vector<int64_t>{2, 0});
  EXPECT_NEAR(nll_loss(log_softmax(logits, 1), t2).item<float>(), cross_entropy(logits, t2).item<float>(), 1e-6);
  // kl_div: Σ t (log t - input), 0 where t is 0.
  const Tensor q = log(tensor({0.5, 0.5})), p = tensor({1.0, 0.0});
  EXPECT_NEAR(kl_div(q, p, Reduction::sum).item<float>(), std::log(2.0), 1e-6);
}

TEST(ApiProbe, InitialisersAndGradientClipping) {
  Generator gen(3);
  Tensor w = empty({400, 500});
  nn::init::kaiming_normal_(w, 0.0, nn::init::FanMode::fan_in, "relu", &gen);
  const double want_std = std::sqrt(2.0 / 500);  // relu's gain √2 over √fan_in
  EXPECT_NEAR(std(w).item<double>(), want_std, want_std * 0.02);
  EXPECT_NEAR(mean(w).item<double>(), 0.0, want_std * 0.02);
  nn::init::xavier_normal_(w, 1.0, &gen);
  EXPECT_NEAR(std(w).item<double>(), std::sqrt(2.0 / 900), std::sqrt(2.0 / 900) * 0.02);
  nn::init::constant_(w, 0.25);
  EXPECT_EQ(amax(w).item<float>(), 0.25f);
  EXPECT_EQ(amin(w).item<float>(), 0.25f);

  Tensor a = tensor({1.0, 1.0}).requires_grad_(true), b = tensor({1.0}).requires_grad_(true);
  a.set_grad(tensor({3.0, 0.0}));
  b.set_grad(tensor({4.0}));
  const Tensor total = nn::utils::clip_grad_norm_({a, b}, 1.0);
  EXPECT_FLOAT_EQ(total.item<float>(), 5.0f);  // √(3² + 4²)
  EXPECT_NEAR(a.grad().to_vector<float>()[0], 0.6, 1e-6);
  EXPECT_NEAR(b.grad().to_vector<float>()[0], 0.8, 1e-6);
  // Under the limit nothing changes; the infinity norm is the largest magnitude.
  EXPECT_FLOAT_EQ(nn::utils::clip_grad_norm_({a, b}, 10.0, std::numeric_limits<double>::infinity()).item<float>(),
                  0.8f);
  EXPECT_NEAR(b.grad().to_vector<float>()[0], 0.8, 1e-6);
  b.set_grad(tensor({std::nan("")}));
  EXPECT_THROW(nn::utils::clip_grad_norm_({a, b}, 1.0, 2.0, /*error_if_nonfinite=*/true), Error);
  a.set_grad(tensor({-3.0, 0.5}));
  nn::utils::clip_grad_value_({a}, 1.0);
  EXPECT_EQ(a.grad().to_vector<float>(), (std::vector<float>{-1.0f, 0.5f}));
}

TEST(ApiProbe, IndexingAndNormalisation) {
  const Tensor x = tensor({{1., 2., 3.}, {4., 5., 6.}});
  const Tensor idx = tensor(std::vector<int64_t>{2, 0}, {2, 1});
  EXPECT_EQ(v(x.gather(1, idx)), (std::vector<float>{3, 4}));
  EXPECT_EQ(v(gather(x, 1, idx)), (std::vector<float>{3, 4}));
  EXPECT_EQ(v(x.index_select(0, tensor(std::vector<int64_t>{1, 1}))), (std::vector<float>{4, 5, 6, 4, 5, 6}));
  EXPECT_EQ(v(index_select(x, 1, tensor(std::vector<int64_t>{2}))), (std::vector<float>{3, 6}));
  EXPECT_EQ(v(zeros({3}).scatter_add(0, tensor(std::vector<int64_t>{0, 0, 2}), tensor({1., 2., 3.}))),
            (std::vector<float>{3, 0, 3}));
  EXPECT_EQ(v(zeros({3}).index_add(0, tensor(std::vector<int64_t>{1, 1}), tensor({1., 2.}))),
            (std::vector<float>{0, 3, 0}));
  nn::Embedding emb(10, 4);
  EXPECT_EQ(emb(tensor(std::vector<int64_t>{1, 2, 3}, {3})).shape(), (Shape{3, 4}));
  nn::LayerNorm ln(Shape{3});
  EXPECT_NEAR(v(ln(x))[0], -1.2247, 1e-4);  // (1 - 2)/√(2/3 + 1e-5)
  EXPECT_NEAR(v(nn::functional::layer_norm(x, {3}))[2], 1.2247, 1e-4);
}

TEST(ApiProbe, GradWithCreateGraph) {
  Tensor w = tensor({2.0}).requires_grad_(true);
  const Tensor y = pow(w, 3.0).sum();
  const Tensor dy = autograd::grad({y}, {w}, {}, std::nullopt, /*create_graph=*/true)[0];  // 3w² = 12
  EXPECT_FLOAT_EQ(dy.item<float>(), 12.0f);
  EXPECT_FLOAT_EQ(autograd::grad({dy}, {w})[0].item<float>(), 12.0f);  // 6w = 12
  EXPECT_FALSE(w.grad().defined());
  // Type promotion: f32 with f64 is f64, integers divide in f32.
  EXPECT_EQ((tensor({1.0}) + tensor({1.0}, DType::f64)).dtype(), DType::f64);
  EXPECT_EQ((tensor(std::vector<int64_t>{1}) / tensor(std::vector<int64_t>{2})).item<float>(), 0.5f);
}

TEST(ApiProbe, OptimizerOptionsGroupsAndSchedules) {
  Tensor a = tensor({1.0}).requires_grad_(true), c = tensor({1.0}).requires_grad_(true);
  optim::SGD sgd({a}, optim::SGDOptions(0.1).nesterov(true).momentum(0.9));
  EXPECT_DOUBLE_EQ(sgd.options.momentum(), 0.9);
  optim::Adam adam(std::vector<optim::ParamGroup>{optim::ParamGroup({a}), optim::ParamGroup({c}, 1e-4)},
                   optim::AdamOptions(1e-3).amsgrad(true));
  EXPECT_DOUBLE_EQ(*adam.param_groups()[1].lr, 1e-4);
  optim::RMSprop rms({a}, optim::RMSpropOptions(0.01).alpha(0.9));
  optim::Adagrad adagrad({a}, optim::AdagradOptions(0.1));
  EXPECT_DOUBLE_EQ(rms.lr() + adagrad.lr(), 0.11);
  optim::LinearLR warm(sgd, 0.5, 1.0, 2);
  EXPECT_DOUBLE_EQ(sgd.lr(), 0.05);
  optim::OneCycleLR cycle(adagrad, 1.0, 100, 0.3, "cos", false);
  EXPECT_NEAR(adagrad.lr(), 0.04, 1e-15);  // max_lr / div_factor 25
  optim::ReduceLROnPlateau plateau(rms, "min", 0.5, 0);
  plateau.step(1.0);
  plateau.step(2.0);
  EXPECT_DOUBLE_EQ(rms.lr(), 0.005);
}

TEST(ApiProbe, ModulesLossesAndOptimizers) {
  Generator gen(0);
  nn::Sequential net{std::make_shared<nn::Linear>(2, 8, true, &gen), std::make_shared<nn::Tanh>(),
                     std::make_shared<nn::Linear>(8, 1, true, &gen), std::make_shared<nn::Identity>()};
  EXPECT_DOUBLE_EQ(optim::SGD(net.parameters(), 0.1).lr(), 0.1);  // libtorch's SGD(params, /*lr=*/0.1)
  optim::Adam opt(net.parameters(), 0.05);
  EXPECT_DOUBLE_EQ(optim::AdamW(net.parameters(), 1e-3).options.weight_decay(), 1e-2);
  const Tensor x = tensor({{0., 0.}, {0., 1.}, {1., 0.}, {1., 1.}});
  const Tensor y = tensor({0., 1., 1., 0.}).reshape({4, 1});  // ({{0.}, {1.}, ...} is ambiguous in C++)
  nn::MSELoss mse;
  const double before = mse(net.forward(x), y).item<double>();
  for (int step = 0; step < 200; ++step) {
    const Tensor loss = mse(net.forward(x), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  EXPECT_LT(mse(net.forward(x), y).item<double>(), before / 4);
  EXPECT_NEAR(nn::BCEWithLogitsLoss()(tensor({0.0}), tensor({1.0})).item<double>(), std::log(2.0), 1e-7);
}

}  // namespace
}  // namespace volt
