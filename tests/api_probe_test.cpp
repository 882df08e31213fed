// The API probe: one line per name a libtorch user reaches for first, each checked against a
// value worked out here by hand. It grows with the API issue; what is not here yet is listed
// in the README ("Not yet").
#include <gtest/gtest.h>

#include <cmath>
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

TEST(ApiProbe, ModulesLossesAndOptimizers) {
  Generator gen(0);
  nn::Sequential net{std::make_shared<nn::Linear>(2, 8, true, &gen), std::make_shared<nn::Tanh>(),
                     std::make_shared<nn::Linear>(8, 1, true, &gen), std::make_shared<nn::Identity>()};
  EXPECT_DOUBLE_EQ(optim::SGD(net.parameters(), 0.1).lr(), 0.1);  // libtorch's SGD(params, /*lr=*/0.1)
  optim::Adam opt(net.parameters(), 0.05);
  EXPECT_DOUBLE_EQ(optim::AdamW(net.parameters(), 1e-3).options.weight_decay, 1e-2);
  const Tensor x = tensor({{0., 0.}, {0., 1.}, {1., 0.}, {1., 1.}});
  const Tensor y = tensor({0., 1., 1., 0.}).reshape({4, 1});  // ({{0.}, {1.}, ...} reads as a flat list)
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
