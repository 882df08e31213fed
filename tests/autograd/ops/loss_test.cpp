// cross_entropy and dropout beyond the numbers of op_table_test.cpp's rows: hand-computed
// examples, the gradient's closed form, large logits, bad input, and dropout's Philox mask.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "test_support.h"
#include "volt/autograd/autocast.h"
#include "volt/autograd/grad_mode.h"
#include "volt/autograd/ops.h"
#include "volt/core/generator.h"
#include "volt/core/philox.h"
#include "volt/core/tensor.h"

namespace volt {
namespace {

using testing::error_of;
using ::testing::HasSubstr;

TEST(CrossEntropy, HandComputedExample) {
  // Row 0: lse(1, 2, 3) = 3 + log(1 + e^-1 + e^-2) = 3.4076059644; target 2 -> 0.4076059644.
  // Row 1: uniform over three classes -> log 3 = 1.0986122887.
  Tensor x = tensor({1.0, 2.0, 3.0, 1.0, 1.0, 1.0}, DType::f64).view({2, 3});
  Tensor t = tensor(std::vector<int64_t>{2, 0});
  EXPECT_NEAR(cross_entropy(x, t).item<double>(), (0.4076059644 + 1.0986122887) / 2, 1e-9);
  EXPECT_NEAR(cross_entropy(x, t, {.reduction = Reduction::sum}).item<double>(), 0.4076059644 + 1.0986122887, 1e-9);
  const auto none = cross_entropy(x, t, {.reduction = Reduction::none}).to_vector<double>();
  ASSERT_EQ(none.size(), 2u);
  EXPECT_NEAR(none[0], 0.4076059644, 1e-9);
  EXPECT_NEAR(none[1], 1.0986122887, 1e-9);
  // One sample: logits [C], target [] gives a 0-dim loss.
  Tensor one = cross_entropy(x.select(0, 0), scalar_tensor(2, DType::i64));
  EXPECT_EQ(one.dim(), 0);
  EXPECT_NEAR(one.item<double>(), 0.4076059644, 1e-9);
  EXPECT_EQ(cross_entropy(x.select(0, 0), scalar_tensor(2, DType::i64), {.reduction = Reduction::none}).dim(), 0);
}

TEST(CrossEntropy, GradientIsSoftmaxMinusSmoothedTarget) {
  Tensor x = tensor({1.0, 2.0, 3.0, -1.0, 0.0, 4.0, 2.0, 2.0, 0.0}, DType::f64).view({3, 3}).requires_grad_();
  Tensor t = tensor(std::vector<int64_t>{0, 2, -100});
  const double eps = 0.2;
  cross_entropy(x, t, {.label_smoothing = eps}).backward();
  const auto vx = x.detach().to_vector<double>();
  const auto grad = x.grad().to_vector<double>();
  const std::vector<int64_t> tv = {0, 2, -100};
  for (int r = 0; r < 3; ++r) {
    double s = 0;
    for (int c = 0; c < 3; ++c)
      s += std::exp(vx[r * 3 + c]);
    for (int c = 0; c < 3; ++c) {
      // d(mean over 2 counted rows)/dx = (p - (1-eps)·[c = t] - eps/C) / 2; ignored rows get 0.
      const double want = tv[r] < 0 ? 0.0 : (std::exp(vx[r * 3 + c]) / s - (c == tv[r] ? 1 - eps : 0.0) - eps / 3) / 2;
      EXPECT_NEAR(grad[r * 3 + c], want, 1e-12) << r << ", " << c;
    }
  }
}

// The mean counts only the rows whose target is not ignored, and all ignored is 0/0 = NaN; its
// gradient divides by that count (the kernel reads it, on the device where it lies).
TEST(CrossEntropy, MeanCountsTheRowsThatCount) {
  const Tensor x = tensor({1.0, 2.0, 3.0, -1.0, 0.0, 4.0, 2.0, 2.0, 0.0}, DType::f64).view({3, 3});
  const Tensor t = tensor(std::vector<int64_t>{0, -100, 2});
  const auto rows = cross_entropy(x, t, {.reduction = Reduction::none}).to_vector<double>();
  EXPECT_EQ(rows[1], 0.0);
  EXPECT_NEAR(cross_entropy(x, t).item<double>(), (rows[0] + rows[2]) / 2, 1e-15);
  EXPECT_TRUE(std::isnan(cross_entropy(x, tensor(std::vector<int64_t>{-100, -100, -100})).item<double>()));
  EXPECT_TRUE(std::isnan(cross_entropy(empty({0, 3}, DType::f64), empty({0}, DType::i64)).item<double>()));
  Tensor xg = x.clone().requires_grad_();
  mul(cross_entropy(xg, t), 3.0).backward();
  Tensor xs = x.clone().requires_grad_();
  mul(cross_entropy(xs, t, {.reduction = Reduction::sum}), 1.5).backward();  // 3 × sum / 2 counted rows
  const auto gm = xg.grad().to_vector<double>(), gs = xs.grad().to_vector<double>();
  for (std::size_t i = 0; i < gm.size(); ++i)
    EXPECT_NEAR(gm[i], gs[i], 1e-15) << i;
}

// Half logits go into the kernel as they are: the losses are float, what autocast's
// cross_entropy returns; outside autocast the result is of the logits' dtype, as PyTorch's.
TEST(CrossEntropy, HalfLogitsAreReadDirectly) {
  const Tensor x32 = tensor({0.5, -1.25, 2.0, 0.75, 1.5, -0.5, 3.0, 0.25}).view({2, 4});
  const Tensor t = tensor(std::vector<int64_t>{2, 0});
  const double want = cross_entropy(x32, t).item<double>();
  for (DType half : {DType::f16, DType::bf16}) {
    const Tensor xh = x32.to(half);  // these values are exact in both
    const Tensor outside = cross_entropy(xh, t);
    EXPECT_EQ(outside.dtype(), half) << dtype_name(half);
    EXPECT_NEAR(outside.item<double>(), want, 1e-2 * want) << dtype_name(half);
    Tensor inside;
    {
      const AutocastGuard autocast(DeviceType::cpu, half);
      inside = cross_entropy(xh, t);
    }
    EXPECT_EQ(inside.dtype(), DType::f32) << dtype_name(half);
    EXPECT_NEAR(inside.item<double>(), want, 1e-6) << dtype_name(half);
    Tensor leaf = xh.clone().requires_grad_();
    {
      const AutocastGuard autocast(DeviceType::cpu, half);
      cross_entropy(leaf, t).backward();
    }
    ASSERT_EQ(leaf.grad().dtype(), half);
    Tensor ref = x32.clone().requires_grad_();
    cross_entropy(ref, t).backward();
    const auto g = leaf.grad().to_vector<double>(), r = ref.grad().to_vector<double>();
    for (std::size_t i = 0; i < g.size(); ++i)
      EXPECT_NEAR(g[i], r[i], 1e-2) << dtype_name(half) << " " << i;
  }
}

TEST(CrossEntropy, LargeLogitsKeepTheirPrecision) {
  // Equal logits of 1000: the loss is log 2 exactly in real arithmetic, whatever the offset.
  Tensor x = full({1, 2}, 1000.0);
  Tensor t = zeros({1}, DType::i64);
  EXPECT_NEAR(cross_entropy(x, t).item<double>(), std::log(2.0), 1e-6);
  EXPECT_NEAR(cross_entropy(x, t, {.label_smoothing = 0.5}).item<double>(), std::log(2.0), 1e-6);
  Tensor big = tensor({5000.0, 4990.0}).view({1, 2}).requires_grad_();
  Tensor l = cross_entropy(big, t);
  EXPECT_NEAR(l.item<double>(), std::log1p(std::exp(-10.0)), 1e-3 * std::exp(-10.0));
  l.backward();
  // p1 = 1 / (1 + e^10); the target's gradient p0 - 1 = -p1 must not round to 0.
  const double p1 = 1 / (1 + std::exp(10.0));
  EXPECT_NEAR(big.grad().to_vector<double>()[0], -p1, 1e-3 * p1);
  EXPECT_NEAR(big.grad().to_vector<double>()[1], p1, 1e-3 * p1);
}

TEST(CrossEntropy, BadInput) {
  Tensor x = zeros({2, 3});
  EXPECT_THAT(error_of([&] {
                cross_entropy(x, tensor(std::vector<int64_t>{0, 3}));
              }),
              HasSubstr("target 3 at position 1 is out of range for 3 classes"));
  EXPECT_THAT(error_of([&] { cross_entropy(x, tensor(std::vector<int64_t>{-1, 0})); }), HasSubstr("target -1"));
  EXPECT_THAT(error_of([&] {
                cross_entropy(x, tensor(std::vector<int32_t>{0, 1}));
              }),
              HasSubstr("target must hold i64 class indices, got i32[2]"));
  EXPECT_THAT(error_of([&] { cross_entropy(x, tensor({0.0, 1.0})); }), HasSubstr("got f32[2]"));
  const std::string shape = error_of([&] { cross_entropy(x, tensor(std::vector<int64_t>{0, 1, 2})); });
  EXPECT_THAT(shape, HasSubstr("f32[2, 3]"));
  EXPECT_THAT(shape, HasSubstr("i64[3]"));
  EXPECT_THAT(error_of([&] {
                cross_entropy(zeros({2, 3}, DType::i64), tensor(std::vector<int64_t>{0, 1}));
              }),
              HasSubstr("expected a floating tensor"));
  EXPECT_THROW(cross_entropy(x, tensor(std::vector<int64_t>{0, 1}), {.label_smoothing = 1.5}), Error);
}

TEST(Dropout, IdentityCases) {
  Tensor x = rand({7, 3});
  EXPECT_TRUE(dropout(x, 0.0, true).is_same(x));
  EXPECT_TRUE(dropout(x, 0.7, false).is_same(x));
  Generator g(1);
  dropout(x, 0.5, false, &g);
  EXPECT_EQ(g.offset(), 0u);  // no randomness drawn in eval mode
  EXPECT_EQ(dropout(x, 1.0, true).to_vector<float>(), std::vector<float>(21, 0.0f));
  EXPECT_THAT(error_of([&] { dropout(x, -0.1, true); }), HasSubstr("[0, 1]"));
  EXPECT_THROW(dropout(zeros({3}, DType::i64), 0.5, true), Error);
}

TEST(Dropout, MaskFollowsThePhiloxStreamAndScalesExactly) {
  for (DType dtype : {DType::f32, DType::f64}) {
    for (int64_t n : {1, 7, 1023, 65537}) {
      const double p = 0.3;
      Generator g(55);
      g.set_offset(9);
      Tensor x = rand({n}, dtype) + 0.5;
      Tensor y = dropout(x, p, true, &g);
      EXPECT_EQ(g.offset(), 9u + static_cast<uint64_t>((n + 3) / 4));  // four per block, any dtype
      const auto vx = x.to_vector<double>(), vy = y.to_vector<double>();
      int64_t dropped = 0;
      for (int64_t i = 0; i < n; ++i) {
        const bool keep = uniform_float(philox_block(55, 9 + static_cast<uint64_t>(i / 4)).v[i % 4]) >= p;
        // Survivors are x·(1/(1-p)) rounded once to the dtype.
        const double want = !keep ? 0.0
                            : dtype == DType::f32
                                ? static_cast<float>(static_cast<float>(vx[i]) * static_cast<float>(1.0 / (1.0 - p)))
                                : vx[i] * (1.0 / (1.0 - p));
        ASSERT_EQ(vy[i], want) << dtype << " n = " << n << " element " << i;
        dropped += keep ? 0 : 1;
      }
      if (n == 65537) {
        EXPECT_NEAR(static_cast<double>(dropped) / n, p, 0.01);
      }
    }
  }
}

TEST(Dropout, SameGeneratorStateSameMask) {
  Tensor x = ones({4, 33});
  Generator a(8), b(8);
  const auto ya = dropout(x, 0.5, true, &a).to_vector<float>();
  EXPECT_EQ(dropout(x, 0.5, true, &b).to_vector<float>(), ya);
  EXPECT_NE(dropout(x, 0.5, true, &a).to_vector<float>(), ya);  // the offset moved on
  manual_seed(3);
  const auto d1 = dropout(x, 0.5, true).to_vector<float>();
  manual_seed(3);
  EXPECT_EQ(dropout(x, 0.5, true).to_vector<float>(), d1);
}

TEST(Dropout, NonContiguousInputAndBackward) {
  Tensor base = rand({5, 4}) + 1.0;
  Tensor x = base.t();  // [4, 5]
  Generator g1(3), g2(3);
  const auto y = dropout(x, 0.4, true, &g1).to_vector<float>();
  const auto yc = dropout(x.contiguous(), 0.4, true, &g2).to_vector<float>();
  EXPECT_EQ(y, yc);  // the mask follows the logical (row-major) order
  Tensor w = ones({1000}, TensorOptions().requires_grad());
  Generator g(12);
  Tensor out = dropout(w, 0.25, true, &g);
  (out * 2.0).sum().backward();
  const auto grad = w.grad().to_vector<float>(), vo = out.detach().to_vector<float>();
  for (int i = 0; i < 1000; ++i)
    ASSERT_EQ(grad[i], 2.0f * vo[i]) << i;  // d(2·x·m)/dx = 2·m, and out = m for x = 1
}

}  // namespace
}  // namespace volt

namespace volt {
namespace {

// A -inf logit on a class that is not the target is a probability of 0, not a NaN loss
// (PyTorch gives log(1 + e) here); label smoothing then makes it +inf, as in PyTorch.
TEST(CrossEntropy, NegativeInfinityLogitIsFiniteWithoutSmoothing) {
  const double inf = std::numeric_limits<double>::infinity();
  const Tensor logits = tensor({0.0, 1.0, -inf}, DType::f64).reshape({1, 3});
  const Tensor target = tensor(std::vector<int64_t>{0});
  EXPECT_NEAR(cross_entropy(logits, target).item<double>(), std::log(1.0 + std::exp(1.0)), 1e-12);
  EXPECT_TRUE(std::isinf(cross_entropy(logits, target, {Reduction::mean, -100, 0.1}).item<double>()));
}

}  // namespace
}  // namespace volt

namespace volt {
namespace {

// Hand-computed values of the elementwise losses and the errors their checks give.
TEST(ElementwiseLosses, HandComputedValues) {
  const Tensor x = tensor({0.5, -1.0, 2.0}, DType::f64), y = tensor({0.0, 1.0, 2.5}, DType::f64);
  EXPECT_DOUBLE_EQ(mse_loss(x, y).item<double>(), (0.25 + 4.0 + 0.25) / 3);
  EXPECT_DOUBLE_EQ(l1_loss(x, y, Reduction::sum).item<double>(), 0.5 + 2.0 + 0.5);
  // beta 1: |d| = 0.5 -> 0.125; |d| = 2 -> 1.5; |d| = 0.5 -> 0.125.
  EXPECT_EQ(smooth_l1_loss(x, y, Reduction::none).to_vector<double>(), (std::vector<double>{0.125, 1.5, 0.125}));
  EXPECT_EQ(smooth_l1_loss(x, y, Reduction::none, 0.0).to_vector<double>(), (std::vector<double>{0.5, 2.0, 0.5}));
  const Tensor p = tensor({0.5, 0.25, 0.0}, DType::f64), t = tensor({1.0, 0.0, 0.0}, DType::f64);
  // -log 0.5, -log 0.75, and log(1 - 0) = 0 for the certain zero.
  const std::vector<double> bce = binary_cross_entropy(p, t, Tensor(), Reduction::none).to_vector<double>();
  EXPECT_DOUBLE_EQ(bce[0], std::log(2.0));
  EXPECT_DOUBLE_EQ(bce[1], -std::log(0.75));
  EXPECT_DOUBLE_EQ(bce[2], 0.0);
  // A certain wrong answer costs 100, the clamp PyTorch applies to the log.
  EXPECT_DOUBLE_EQ(binary_cross_entropy(tensor({0.0}, DType::f64), tensor({1.0}, DType::f64)).item<double>(), 100.0);
  // From logits: x = 0 is p = 0.5 whatever the target; a large logit stays finite.
  EXPECT_DOUBLE_EQ(
      binary_cross_entropy_with_logits(tensor({0.0}, DType::f64), tensor({1.0}, DType::f64)).item<double>(),
      std::log(2.0));
  EXPECT_NEAR(binary_cross_entropy_with_logits(tensor({-200.0}, DType::f64), tensor({1.0}, DType::f64)).item<double>(),
              200.0, 1e-12);
}

TEST(ElementwiseLosses, BadInputIsAClearError) {
  const Tensor p = tensor({0.5, 1.5}), t = tensor({1.0, 0.0});
  EXPECT_THAT(error_of([&] { binary_cross_entropy(p, t); }),
              HasSubstr("binary_cross_entropy: input 1.5 at flat index 1 is not a probability in [0, 1]"));
  EXPECT_THAT(error_of([&] {
                mse_loss(tensor({1.0, 2.0}), tensor({1.0, 2.0, 3.0}));
              }),
              HasSubstr("mse_loss: target f32[3] on cpu must have the input's shape, f32[2] on cpu"));
  EXPECT_THAT(error_of([&] { l1_loss(tensor({1.0}), tensor({1.0}, DType::f64)); }), HasSubstr("l1_loss"));
  EXPECT_THAT(error_of([&] {
                binary_cross_entropy(p, t, tensor({1.0, 2.0}, DType::f64));
              }),
              HasSubstr("binary_cross_entropy"));
}

}  // namespace
}  // namespace volt
