// In-place ops on contiguous and non-contiguous targets, with broadcasting operands and
// (for copy_) dtype conversion; checked element by element against loops in double.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "test_support.h"
#include "volt/autograd/grad_mode.h"
#include "volt/autograd/ops.h"
#include "volt/core/generator.h"
#include "volt/core/tensor.h"

namespace volt {
namespace {

using testing::error_of;
using ::testing::HasSubstr;

// A [3, 4] target of both kinds: a fresh tensor, and the transpose of a [4, 3] one (whose
// base we also check is written only through the view).
struct Target {
  Tensor base;  // owns the memory
  Tensor view;  // [3, 4]
};
std::vector<Target> targets(Generator& g) {
  Tensor c = rand({3, 4}, {}, &g);
  Tensor t = rand({4, 3}, {}, &g);
  Tensor padded = rand({3, 9}, {}, &g);
  return {{c, c}, {t, t.t()}, {padded, padded.slice(1, 1, 9, 2)}};
}

// Applies `op` to each target and checks every element of the view against `ref` of the old
// value and its flat index, and that the base memory outside the view kept its values.
void check_inplace(const std::string& what, const std::function<void(Tensor&)>& op,
                   const std::function<double(double, int64_t)>& ref, double tol = 1e-6) {
  Generator g(7);
  for (Target target : targets(g)) {
    const auto before_view = target.view.to_vector<double>();
    const auto before_base = target.base.to_vector<double>();
    const uint64_t version = target.base.version();
    op(target.view);
    EXPECT_GT(target.base.version(), version) << what;
    const auto after = target.view.to_vector<double>();
    for (int64_t i = 0; i < 12; ++i)
      ASSERT_NEAR(after[i], ref(before_view[i], i), tol * (1 + std::abs(after[i]))) << what << " element " << i;
    // The padded base: odd columns 1, 3, 5, 7 are the view; the rest must be untouched.
    if (target.base.shape() == Shape{3, 9}) {
      const auto after_base = target.base.to_vector<double>();
      for (int64_t r = 0; r < 3; ++r)
        for (int64_t c = 0; c < 9; c += 2)
          ASSERT_EQ(after_base[r * 9 + c], before_base[r * 9 + c]) << what << " wrote outside the view";
    }
  }
}

const std::vector<double> kRow = {0.5, -1.0, 2.0, 4.0};  // broadcasts along dim 0 of [3, 4]
const std::vector<double> kCol = {2.0, -0.5, 0.25};      // [3, 1]

TEST(InPlace, AddSubMulDivWithTensors) {
  const Tensor row = tensor(kRow).to(DType::f32);
  const Tensor col = tensor(kCol).to(DType::f32).view({3, 1});
  check_inplace(
      "add_", [&](Tensor& t) { t.add_(row); }, [](double x, int64_t i) { return x + kRow[i % 4]; });
  check_inplace(
      "add_ alpha", [&](Tensor& t) { t.add_(col, -3.0); }, [](double x, int64_t i) { return x - 3.0 * kCol[i / 4]; });
  check_inplace(
      "sub_", [&](Tensor& t) { t.sub_(row, 0.5); }, [](double x, int64_t i) { return x - 0.5 * kRow[i % 4]; });
  check_inplace(
      "mul_", [&](Tensor& t) { t.mul_(col); }, [](double x, int64_t i) { return x * kCol[i / 4]; });
  check_inplace(
      "div_", [&](Tensor& t) { t.div_(row); }, [](double x, int64_t i) { return x / kRow[i % 4]; });
  check_inplace(
      "add_ same shape", [&](Tensor& t) { t.add_(t.clone()); }, [](double x, int64_t) { return 2 * x; });
  check_inplace(
      "add_ 0-dim", [&](Tensor& t) { t.add_(scalar_tensor(1.5)); }, [](double x, int64_t) { return x + 1.5; });
}

TEST(InPlace, ScalarForms) {
  check_inplace(
      "add_ scalar", [](Tensor& t) { t.add_(2.5); }, [](double x, int64_t) { return x + 2.5; });
  check_inplace(
      "mul_ scalar", [](Tensor& t) { t.mul_(-3.0); }, [](double x, int64_t) { return -3.0 * x; });
  check_inplace(
      "div_ scalar", [](Tensor& t) { t.div_(8.0); }, [](double x, int64_t) { return x / 8.0; });
  check_inplace(
      "fill_", [](Tensor& t) { t.fill_(0.75); }, [](double, int64_t) { return 0.75; });
  check_inplace(
      "zero_", [](Tensor& t) { t.zero_(); }, [](double, int64_t) { return 0.0; });
  check_inplace(
      "chained", [](Tensor& t) { t.mul_(2.0).add_(1.0); }, [](double x, int64_t) { return 2 * x + 1; });
}

TEST(InPlace, AddcmulAndAddcdiv) {
  const Tensor row = tensor(kRow).to(DType::f32);
  const Tensor col = tensor(kCol).to(DType::f32).view({3, 1});
  check_inplace(
      "addcmul_", [&](Tensor& t) { t.addcmul_(row, col, 0.5); },
      [](double x, int64_t i) { return x + 0.5 * kRow[i % 4] * kCol[i / 4]; });
  check_inplace(
      "addcdiv_", [&](Tensor& t) { t.addcdiv_(col, row, -2.0); },
      [](double x, int64_t i) { return x - 2.0 * kCol[i / 4] / kRow[i % 4]; });
  check_inplace(
      "addcmul_ default value", [&](Tensor& t) { t.addcmul_(row, row); },
      [](double x, int64_t i) { return x + kRow[i % 4] * kRow[i % 4]; });
}

TEST(InPlace, CopyBroadcastsAndConverts) {
  // f64 source, broadcast along rows, rounded to f32 on store.
  static const std::vector<double> row = {1.0 / 3.0, 2.0, -7.25, 1e-3};
  check_inplace(
      "copy_ f64 row", [&](Tensor& t) { t.copy_(tensor(row)); },
      [](double, int64_t i) { return static_cast<double>(static_cast<float>(row[i % 4])); }, 0.0);
  // i64 source [3, 1].
  static const std::vector<int64_t> col = {5, -6, 7};
  check_inplace(
      "copy_ i64 col",
      [&](Tensor& t) {
        t.copy_(tensor(col, {3, 1}));
      },
      [](double, int64_t i) { return static_cast<double>(col[i / 4]); }, 0.0);
  // A transposed source into a contiguous target.
  Tensor src = arange(12).view({4, 3});
  Tensor dst = zeros({3, 4}, DType::i64);
  dst.copy_(src.t());
  std::vector<int64_t> want;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c)
      want.push_back(c * 3 + r);
  EXPECT_EQ(dst.to_vector<int64_t>(), want);
  // f32 -> i32 truncates, f32 -> bool is "non-zero", f32 -> f16 rounds.
  Tensor f = tensor({2.9, -2.9, 0.0, 1.0 / 3.0});
  EXPECT_EQ(zeros({4}, DType::i32).copy_(f).to_vector<int32_t>(), (std::vector<int32_t>{2, -2, 0, 0}));
  EXPECT_EQ(zeros({4}, DType::boolean).copy_(f).to_vector<bool>(), (std::vector<bool>{true, true, false, true}));
  EXPECT_EQ(zeros({4}, DType::f16).copy_(f).to_vector<double>()[3], 1365.0 / 4096.0);
  // Sizes that break vector widths, into a strided target.
  for (int64_t n : {0, 1, 7, 1023, 65537}) {
    Tensor big = zeros({2 * n});
    Tensor odd = big.slice(0, 1, 2 * n, 2);
    odd.copy_(arange(static_cast<double>(n), DType::f64));
    const auto v = big.to_vector<float>();
    for (int64_t i = 0; i < 2 * n; ++i)
      ASSERT_EQ(v[i], i % 2 == 1 ? static_cast<float>(i / 2) : 0.0f) << "n = " << n << " i = " << i;
  }
}

TEST(InPlace, OnlyTheViewChanges) {
  Tensor x = zeros({4, 4});
  x.narrow(0, 1, 2).narrow(1, 1, 2).fill_(1);  // the 2x2 centre
  const std::vector<float> want = {0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0};
  EXPECT_EQ(x.to_vector<float>(), want);
  x.select(1, 0).add_(tensor({1.0, 2.0, 3.0, 4.0}));  // column 0
  EXPECT_EQ(x.select(1, 0).to_vector<float>(), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(x.sum().item<float>(), 14.0f);
}

TEST(InPlace, IntegerTargets) {
  Tensor a = tensor(std::vector<int64_t>{1, 2, 3});
  a.add_(tensor(std::vector<int64_t>{10, 20, 30}), 2);
  EXPECT_EQ(a.to_vector<int64_t>(), (std::vector<int64_t>{21, 42, 63}));
  a.fill_(-4);
  EXPECT_EQ(a.to_vector<int64_t>(), (std::vector<int64_t>{-4, -4, -4}));
  Tensor b = zeros({3}, DType::boolean);
  b.fill_(1);
  EXPECT_EQ(b.to_vector<bool>(), (std::vector<bool>{true, true, true}));
}

TEST(InPlace, Errors) {
  Tensor x = zeros({3, 4});
  const std::string grow = error_of([&] { x.add_(zeros({2, 3, 4})); });
  EXPECT_THAT(grow, HasSubstr("add_"));
  EXPECT_THAT(grow, HasSubstr("f32[2, 3, 4]"));
  EXPECT_THAT(grow, HasSubstr("f32[3, 4]"));
  EXPECT_THAT(error_of([&] { x.copy_(zeros({3, 5})); }), HasSubstr("[3, 4] and [3, 5] cannot be broadcast"));
  EXPECT_THAT(error_of([&] { x.mul_(zeros({4}, DType::f64)); }), HasSubstr("dtypes differ"));
  EXPECT_THAT(error_of([&] { x.addcmul_(zeros({4}), zeros({5})); }), HasSubstr("addcmul_"));
  EXPECT_THAT(error_of([] { zeros({2}, DType::i64).mul_(2.0); }), HasSubstr("expected a floating tensor"));
}

TEST(InPlace, LeafRequiringGradUnderGradMode) {
  Tensor w = ones({2}, TensorOptions().requires_grad());
  const std::string msg = error_of([&] { w.add_(1.0); });
  EXPECT_THAT(msg, HasSubstr("add_: in-place update of f32[2] on cpu, which requires grad"));
  EXPECT_THAT(msg, HasSubstr("NoGradGuard"));
  EXPECT_THROW(w.copy_(zeros({2})), Error);
  EXPECT_THROW(w.zero_(), Error);
  EXPECT_THROW(w.sub_(ones({2})), Error);
  EXPECT_EQ(w.to_vector<float>(), (std::vector<float>{1, 1}));  // nothing half-written
  {
    NoGradGuard guard;  // as an optimizer step does
    w.sub_(tensor({0.5, 0.25}), 2.0);
  }
  EXPECT_EQ(w.to_vector<float>(), (std::vector<float>{0, 0.5f}));
  EXPECT_TRUE(w.requires_grad());
}

}  // namespace
}  // namespace volt

namespace volt {
namespace {

// In-place updates may run all elements at once (on a GPU they do), so inputs overlapping the
// written memory, and written views holding one location twice, are refused, as in PyTorch.
TEST(InPlace, RefusesOverlappingInputs) {
  Tensor x = arange(0, 9, 1, DType::f32).reshape({3, 3});
  EXPECT_THAT(testing::error_of([&] { x.add_(x.t()); }), ::testing::HasSubstr("overlaps the memory"));
  Tensor row0 = x.narrow(0, 0, 2), row1 = x.narrow(0, 1, 2);
  EXPECT_THAT(testing::error_of([&] { row0.copy_(row1); }), ::testing::HasSubstr("overlaps the memory"));
  EXPECT_THAT(testing::error_of([&] { row0.addcmul_(row1, row0); }), ::testing::HasSubstr("overlaps"));
  // The very same view, and disjoint parts of one storage, are fine.
  x.add_(x);
  EXPECT_EQ(x.to_vector<float>()[8], 16.0f);
  x.narrow(0, 0, 1).copy_(x.narrow(0, 2, 1));
  EXPECT_EQ(x.to_vector<float>()[0], 12.0f);
}

TEST(InPlace, RefusesWritingIntoAnExpandedView) {
  Tensor base = zeros({3});
  Tensor expanded = base.unsqueeze(0).expand({2, 3});
  EXPECT_THAT(testing::error_of([&] {
                expanded.add_(ones({2, 3}));
              }),
              ::testing::HasSubstr("more than one element at one memory location"));
  EXPECT_THAT(testing::error_of([&] { expanded.mul_(2.0); }), ::testing::HasSubstr("expanded view"));
  EXPECT_THAT(testing::error_of([&] { expanded.copy_(ones({2, 3})); }), ::testing::HasSubstr("expanded view"));
  expanded.fill_(1.0);  // one value everywhere: no order to depend on
  EXPECT_EQ(base.to_vector<float>(), (std::vector<float>{1, 1, 1}));
}

}  // namespace
}  // namespace volt
