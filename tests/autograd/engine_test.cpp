// The autograd engine: dependency counting, gradient sums, retain_graph, grad mode, detach,
// hooks, version counters and error messages.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "test_support.h"
#include "volt/volt.h"

namespace volt {
namespace {

using volt::testing::error_of;

TEST(Engine, TensorUsedTwiceGetsBothContributions) {
  Tensor x = tensor({1.0, -2.0, 3.0}, DType::f64).requires_grad_(true);
  Tensor y = add(mul(x, x), mul(x, 3.0));  // dy/dx = 2x + 3
  sum(y).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{5.0, -1.0, 9.0}));
}

TEST(Engine, DiamondGraphSumsGradientsOnce) {
  Tensor x = tensor({2.0}, DType::f64).requires_grad_(true);
  Tensor a = mul(x, 2.0), b = mul(x, 3.0);
  Tensor y = mul(a, b);  // 6x^2 -> 12x
  y.sum().backward();
  EXPECT_DOUBLE_EQ(x.grad().item<double>(), 24.0);
}

TEST(Engine, GradientsAccumulateAcrossBackwardCalls) {
  Tensor x = tensor({1.0, 2.0}, DType::f64).requires_grad_(true);
  sum(mul(x, 3.0)).backward();
  sum(mul(x, 3.0)).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{6.0, 6.0}));
}

TEST(Engine, SecondBackwardWithoutRetainGraphFails) {
  Tensor x = tensor({1.0, 2.0}, DType::f64).requires_grad_(true);
  Tensor y = sum(exp(x));
  y.backward();
  const std::string msg = error_of([&] { y.backward(); });
  EXPECT_NE(msg.find("retain_graph"), std::string::npos) << msg;
}

TEST(Engine, RetainGraphAllowsASecondBackward) {
  Tensor x = tensor({0.0, 1.0}, DType::f64).requires_grad_(true);
  Tensor y = sum(exp(x));
  y.backward(Tensor(), true);
  y.backward();
  const auto g = x.grad().to_vector<double>();
  EXPECT_DOUBLE_EQ(g[0], 2.0);
  EXPECT_DOUBLE_EQ(g[1], 2.0 * std::exp(1.0));
}

TEST(Engine, NonScalarNeedsAGradient) {
  Tensor x = tensor({1.0, 2.0}, DType::f64).requires_grad_(true);
  Tensor y = mul(x, 2.0);
  EXPECT_NE(error_of([&] { y.backward(); }).find("non-scalar"), std::string::npos);
  y.backward(tensor({1.0, 10.0}, DType::f64));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2.0, 20.0}));
  EXPECT_NE(error_of([&] {
              mul(x, 2.0).backward(tensor({1.0, 2.0, 3.0}, DType::f64));
            }).find("does not match"),
            std::string::npos);
}

TEST(Engine, BackwardOnATensorWithoutGradFails) {
  Tensor x = tensor({1.0});
  EXPECT_NE(error_of([&] { x.backward(); }).find("does not require grad"), std::string::npos);
}

TEST(Engine, NoGradGuardRecordsNothing) {
  Tensor x = tensor({1.0, 2.0}).requires_grad_(true);
  {
    NoGradGuard guard;
    EXPECT_FALSE(is_grad_enabled());
    Tensor y = mul(x, 2.0);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(y.grad_fn(), nullptr);
  }
  EXPECT_TRUE(is_grad_enabled());
  EXPECT_TRUE(mul(x, 2.0).requires_grad());
}

TEST(Engine, DetachStopsGradients) {
  Tensor x = tensor({3.0}, DType::f64).requires_grad_(true);
  Tensor y = mul(x, x.detach());  // d/dx = x (the detached factor is a constant)
  y.sum().backward();
  EXPECT_DOUBLE_EQ(x.grad().item<double>(), 3.0);
  EXPECT_EQ(x.detach().data_ptr(), x.data_ptr());
}

TEST(Engine, HookOnIntermediateReplacesItsGradient) {
  Tensor x = tensor({1.0, 2.0}, DType::f64).requires_grad_(true);
  Tensor h = mul(x, 3.0);
  std::vector<double> seen;
  h.register_hook([&](const Tensor& g) {
    seen = g.to_vector<double>();
    return mul(g, 10.0);
  });
  sum(mul(h, 2.0)).backward();
  EXPECT_EQ(seen, (std::vector<double>{2.0, 2.0}));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{60.0, 60.0}));
}

TEST(Engine, LeafHookAndPostAccumulateHook) {
  Tensor w = tensor({1.0, 1.0}, DType::f64).requires_grad_(true);
  w.register_hook([](const Tensor& g) { return mul(g, 0.5); });
  std::vector<std::vector<double>> after;
  w.register_post_accumulate_grad_hook([&](Tensor& leaf) { after.push_back(leaf.grad().to_vector<double>()); });
  sum(mul(w, 4.0)).backward();
  sum(mul(w, 4.0)).backward();
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0], (std::vector<double>{2.0, 2.0}));
  EXPECT_EQ(after[1], (std::vector<double>{4.0, 4.0}));  // the hook sees the accumulated value
}

TEST(Engine, PostAccumulateHookOnlyOnLeaves) {
  Tensor x = tensor({1.0}).requires_grad_(true);
  Tensor y = mul(x, 2.0);
  EXPECT_THROW(y.register_post_accumulate_grad_hook([](Tensor&) {}), Error);
}

TEST(Engine, InPlaceChangeOfASavedTensorIsAnError) {
  Tensor x = tensor({1.0, 2.0}, DType::f64).requires_grad_(true);
  Tensor w = tensor({3.0, 4.0}, DType::f64).requires_grad_(true);
  Tensor y = sum(mul(x, w));
  {
    NoGradGuard guard;
    w.mul_(2.0);
  }
  const std::string msg = error_of([&] { y.backward(); });
  EXPECT_NE(msg.find("MulBackward"), std::string::npos) << msg;
  EXPECT_NE(msg.find("in-place"), std::string::npos) << msg;
}

TEST(Engine, InPlaceOnALeafThatRequiresGradNeedsNoGrad) {
  Tensor w = tensor({1.0}).requires_grad_(true);
  const std::string msg = error_of([&] { w.add_(1.0); });
  EXPECT_NE(msg.find("NoGradGuard"), std::string::npos) << msg;
  NoGradGuard guard;
  w.add_(1.0);
  EXPECT_EQ(w.item<float>(), 2.0f);
}

TEST(Engine, RequiresGradOnlyOnLeaves) {
  Tensor x = tensor({1.0}).requires_grad_(true);
  Tensor y = mul(x, 2.0);
  EXPECT_THROW(y.requires_grad_(false), Error);
  EXPECT_THROW(tensor(std::vector<int64_t>{1}).requires_grad_(true), Error);
}

TEST(Engine, InputsWithoutGradGetNone) {
  Tensor x = tensor({1.0, 2.0}).requires_grad_(true);
  Tensor c = tensor({5.0, 6.0});
  sum(mul(x, c)).backward();
  EXPECT_FALSE(c.grad().defined());
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{5.0f, 6.0f}));
}

TEST(Engine, SameGraphGivesBitwiseIdenticalGradients) {
  auto run = [] {
    Generator gen(3);
    Tensor x = randn({16, 8}, {}, &gen).requires_grad_(true);
    Tensor w = randn({4, 8}, {}, &gen).requires_grad_(true);
    Tensor loss = cross_entropy(linear(x, w), randint(0, 4, {16}, DType::i64, &gen));
    loss.backward();
    return std::make_pair(x.grad().to_vector<float>(), w.grad().to_vector<float>());
  };
  EXPECT_EQ(run(), run());
}

TEST(Engine, GradOfUnusedLeafStaysUndefined) {
  Tensor x = tensor({1.0}).requires_grad_(true);
  Tensor unused = tensor({1.0}).requires_grad_(true);
  sum(x).backward();
  EXPECT_TRUE(x.grad().defined());
  EXPECT_FALSE(unused.grad().defined());
}

}  // namespace
}  // namespace volt

namespace volt {
namespace {

// The first gradient of a leaf is taken over without a copy only when nothing else can see it.
// Shared ones are copied: after a + b, whose backward hands one tensor to both, each leaf owns
// its gradient; a caller's gradient passed to backward() stays the caller's.
TEST(Engine, FirstGradientIsNeverSharedWithAnotherTensor) {
  Tensor a = tensor({1.0, 2.0}, DType::f64).requires_grad_(true);
  Tensor b = tensor({3.0, 4.0}, DType::f64).requires_grad_(true);
  sum(add(a, b)).backward();
  EXPECT_NE(a.grad().data_ptr(), b.grad().data_ptr());
  a.grad().add_(tensor({10.0, 10.0}, DType::f64));
  EXPECT_EQ(b.grad().to_vector<double>(), (std::vector<double>{1.0, 1.0}));

  Tensor x = tensor({1.0, 2.0}, DType::f64).requires_grad_(true);
  const Tensor given = tensor({5.0, 6.0}, DType::f64);
  Tensor y = mul(x, 1.0);
  y.backward(given);
  EXPECT_NE(x.grad().data_ptr(), given.data_ptr());
  x.grad().add_(tensor({1.0, 1.0}, DType::f64));
  EXPECT_EQ(given.to_vector<double>(), (std::vector<double>{5.0, 6.0}));

  // A view's gradient (the transpose's backward returns one) is copied into a contiguous .grad().
  Tensor w = tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, DType::f64).reshape({2, 3}).detach().requires_grad_(true);
  sum(mul(w.transpose(0, 1), tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, DType::f64).reshape({3, 2}))).backward();
  EXPECT_TRUE(w.grad().is_contiguous());
  EXPECT_EQ(w.grad().to_vector<double>(), (std::vector<double>{1.0, 3.0, 5.0, 2.0, 4.0, 6.0}));
}

}  // namespace
}  // namespace volt
