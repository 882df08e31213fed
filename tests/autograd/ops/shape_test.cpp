// Views share storage with their base: geometry, writes through views, and the shared
// version counter. Expected strides are worked out by hand from the row-major layout.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "test_support.h"
#include "volt/autograd/grad_mode.h"
#include "volt/autograd/ops.h"
#include "volt/core/tensor.h"

namespace volt {
namespace {

using testing::error_of;
using ::testing::HasSubstr;

// 0, 1, ..., n-1 as f32 of `shape`.
Tensor iota(const Shape& shape) { return arange(static_cast<double>(numel(shape))).view(shape); }

TEST(View, ViewSharesStorage) {
  Tensor x = iota({2, 6});
  Tensor v = x.view({3, 4});
  EXPECT_EQ(v.shape(), (Shape{3, 4}));
  EXPECT_EQ(v.strides(), (Shape{4, 1}));
  EXPECT_EQ(v.data_ptr(), x.data_ptr());
  EXPECT_EQ(v.storage(), x.storage());
  Tensor inferred = x.view({-1, 3});
  EXPECT_EQ(inferred.shape(), (Shape{4, 3}));
  EXPECT_EQ(x.view({2, 3, -1}).shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(x.view({-1}).shape(), (Shape{12}));
  EXPECT_EQ(scalar_tensor(3).view({1, 1}).shape(), (Shape{1, 1}));
  EXPECT_EQ(ones({1, 1}).view({}).dim(), 0);
  EXPECT_EQ(zeros({0, 4}).view({-1, 2, 2}).shape(), (Shape{0, 2, 2}));
}

TEST(View, ViewErrors) {
  Tensor x = iota({2, 6});
  EXPECT_THAT(error_of([&] { x.view({5, -1}); }), HasSubstr("[5, -1] is invalid for 12 elements"));
  EXPECT_THAT(error_of([&] { x.view({-1, -1}); }), HasSubstr("only one dim can be -1"));
  EXPECT_THAT(error_of([&] { x.view({5, 3}); }), HasSubstr("invalid for 12 elements"));
  // A transpose has no row-major run to split: the message names shape, strides and target.
  const std::string msg = error_of([&] { x.t().view({12}); });
  EXPECT_THAT(msg, HasSubstr("f32[6, 2]"));
  EXPECT_THAT(msg, HasSubstr("strides [1, 6]"));
  EXPECT_THAT(msg, HasSubstr("[12]"));
  EXPECT_THAT(msg, HasSubstr("reshape"));
}

TEST(View, ViewOfNonContiguousWhenStridesAllow) {
  Tensor x = iota({4, 6});
  Tensor t = x.t();  // [6, 4] strides [1, 6]
  // Splitting the dim of stride 6 into [2, 2] gives strides [12, 6]; the stride-1 dim stays.
  Tensor v = t.view({6, 2, 2});
  EXPECT_EQ(v.strides(), (Shape{1, 12, 6}));
  EXPECT_EQ(v.data_ptr(), x.data_ptr());
  // Element (i, j, k) of v is t[i][2j + k] = x[2j + k][i] = (2j + k) * 6 + i.
  const auto got = v.to_vector<float>();
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 2; ++j)
      for (int k = 0; k < 2; ++k)
        EXPECT_EQ(got[i * 4 + j * 2 + k], static_cast<float>((2 * j + k) * 6 + i));
  // Every other column: [4, 3] strides [6, 2]. A row (3 elements of stride 2) ends where the
  // next begins, so even the flat view exists, with stride 2.
  Tensor s = x.slice(1, 0, 6, 2);
  EXPECT_EQ(s.view({2, 2, 3}).strides(), (Shape{12, 6, 2}));
  EXPECT_EQ(s.view({12}).strides(), (Shape{2}));
  EXPECT_EQ(s.view({12}).to_vector<float>()[5], 10.0f);
  // With 5 columns the rows (stride 5) do not continue the column run (3 x 2): no flat view.
  EXPECT_THROW(iota({4, 5}).slice(1, 0, 5, 2).view({12}), Error);
  EXPECT_EQ(iota({4, 5}).slice(1, 0, 5, 2).view({2, 2, 3}).strides(), (Shape{10, 5, 2}));
}

TEST(View, ReshapeViewsWhenItCanAndCopiesOtherwise) {
  Tensor x = iota({3, 4});
  Tensor r = x.reshape({2, 6});
  EXPECT_EQ(r.data_ptr(), x.data_ptr());
  Tensor t = x.t();
  Tensor c = t.reshape({12});
  EXPECT_NE(c.data_ptr(), x.data_ptr());
  EXPECT_TRUE(c.is_contiguous());
  // The transpose read in row-major order: t[i][j] = x[j][i] = 4j + i.
  std::vector<float> want;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 3; ++j)
      want.push_back(static_cast<float>(4 * j + i));
  EXPECT_EQ(c.to_vector<float>(), want);
  c.fill_(-1);  // a copy: the base is untouched
  EXPECT_EQ(x.to_vector<float>()[0], 0.0f);
  EXPECT_EQ(x.reshape({-1, 2}).shape(), (Shape{6, 2}));
}

TEST(View, TransposeAndPermute) {
  Tensor x = iota({2, 3, 4});
  Tensor t = x.transpose(0, 2);
  EXPECT_EQ(t.shape(), (Shape{4, 3, 2}));
  EXPECT_EQ(t.strides(), (Shape{1, 4, 12}));
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.data_ptr(), x.data_ptr());
  Tensor p = x.permute({1, 2, 0});
  EXPECT_EQ(p.shape(), (Shape{3, 4, 2}));
  EXPECT_EQ(p.strides(), (Shape{4, 1, 12}));
  const auto got = p.to_vector<float>();
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 4; ++b)
      for (int c = 0; c < 2; ++c)
        EXPECT_EQ(got[(a * 4 + b) * 2 + c], static_cast<float>(c * 12 + a * 4 + b));
  EXPECT_EQ(x.permute({-1, 0, 1}).shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(x.transpose(-1, -2).shape(), (Shape{2, 4, 3}));
  EXPECT_EQ(iota({5}).t().shape(), (Shape{5}));
  EXPECT_THAT(error_of([&] { x.permute({0, 0, 1}); }), HasSubstr("repeated"));
  EXPECT_THAT(error_of([&] { x.permute({0, 1}); }), HasSubstr("2 dims given"));
  EXPECT_THROW(x.t(), Error);
  EXPECT_THAT(error_of([&] { x.transpose(0, 3); }), HasSubstr("dim 3 out of range"));
}

TEST(View, NarrowAndSlice) {
  Tensor x = iota({4, 5});
  Tensor n = x.narrow(1, 1, 3);
  EXPECT_EQ(n.shape(), (Shape{4, 3}));
  EXPECT_EQ(n.strides(), (Shape{5, 1}));
  EXPECT_EQ(n.storage_offset(), 1);
  EXPECT_EQ(n.select(0, 2).to_vector<float>(), (std::vector<float>{11, 12, 13}));
  EXPECT_EQ(x.narrow(0, -1, 1).to_vector<float>(), (std::vector<float>{15, 16, 17, 18, 19}));
  Tensor s = x.slice(1, 0, 5, 2);  // columns 0, 2, 4
  EXPECT_EQ(s.shape(), (Shape{4, 3}));
  EXPECT_EQ(s.strides(), (Shape{5, 2}));
  EXPECT_EQ(s.select(0, 1).to_vector<float>(), (std::vector<float>{5, 7, 9}));
  Tensor s3 = iota({10}).slice(0, 1, 9, 3);  // 1, 4, 7
  EXPECT_EQ(s3.to_vector<float>(), (std::vector<float>{1, 4, 7}));
  EXPECT_EQ(s3.storage_offset(), 1);
  EXPECT_EQ(iota({10}).slice(0, -3, 100).to_vector<float>(), (std::vector<float>{7, 8, 9}));  // clamped
  EXPECT_EQ(iota({10}).slice(0, 6, 2).numel(), 0);
  EXPECT_EQ(x.narrow(0, 4, 0).shape(), (Shape{0, 5}));
  EXPECT_THROW(x.slice(0, 0, 4, 0), Error);
}

TEST(View, NarrowOutOfRange) {
  Tensor x = zeros({2, 3});
  const std::string msg = error_of([&] { x.narrow(1, 2, 2); });
  EXPECT_THAT(msg, HasSubstr("[2, 4) is out of range for dim 1"));
  EXPECT_THAT(msg, HasSubstr("f32[2, 3]"));
  EXPECT_THROW(x.narrow(0, -3, 1), Error);
  EXPECT_THROW(x.narrow(0, 0, -1), Error);
  EXPECT_THROW(x.narrow(2, 0, 1), Error);
}

TEST(View, Select) {
  Tensor x = iota({3, 4});
  Tensor row = x.select(0, 1);
  EXPECT_EQ(row.shape(), (Shape{4}));
  EXPECT_EQ(row.storage_offset(), 4);
  EXPECT_EQ(row.to_vector<float>(), (std::vector<float>{4, 5, 6, 7}));
  Tensor col = x.select(1, -1);
  EXPECT_EQ(col.strides(), (Shape{4}));
  EXPECT_EQ(col.to_vector<float>(), (std::vector<float>{3, 7, 11}));
  EXPECT_EQ(x.select(0, -3).select(0, 0).dim(), 0);
  EXPECT_THAT(error_of([&] { x.select(0, 3); }), HasSubstr("index 3 is out of range"));
  EXPECT_THROW(x.select(1, -5), Error);
}

TEST(View, ExpandUsesStrideZero) {
  Tensor x = tensor({1.0, 2.0, 3.0}).view({3, 1});
  Tensor e = x.expand({2, 3, 4});
  EXPECT_EQ(e.shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(e.strides(), (Shape{0, 1, 0}));
  EXPECT_EQ(e.data_ptr(), x.data_ptr());
  const auto got = e.to_vector<float>();
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 3; ++b)
      for (int c = 0; c < 4; ++c)
        EXPECT_EQ(got[(a * 3 + b) * 4 + c], static_cast<float>(b + 1));
  EXPECT_EQ(x.expand({-1, 5}).shape(), (Shape{3, 5}));
  EXPECT_THAT(error_of([&] { x.expand({4, 1}); }), HasSubstr("cannot be expanded to [4, 1]"));
  EXPECT_THROW(x.expand({5}), Error);
  EXPECT_THROW(x.expand({-1, 3, 1}), Error);
}

TEST(View, SqueezeUnsqueezeFlatten) {
  Tensor x = zeros({1, 3, 1, 2});
  EXPECT_EQ(x.squeeze().shape(), (Shape{3, 2}));
  EXPECT_EQ(x.squeeze(0).shape(), (Shape{3, 1, 2}));
  EXPECT_EQ(x.squeeze(-2).shape(), (Shape{1, 3, 2}));
  EXPECT_EQ(x.squeeze(1).shape(), (Shape{1, 3, 1, 2}));  // not size 1: unchanged
  EXPECT_EQ(ones({1, 1}).squeeze().dim(), 0);
  Tensor v = iota({3, 2});
  EXPECT_EQ(v.unsqueeze(0).shape(), (Shape{1, 3, 2}));
  EXPECT_EQ(v.unsqueeze(-1).shape(), (Shape{3, 2, 1}));
  EXPECT_EQ(v.unsqueeze(1).shape(), (Shape{3, 1, 2}));
  EXPECT_EQ(v.t().unsqueeze(1).to_vector<float>(), v.t().contiguous().to_vector<float>());
  EXPECT_EQ(v.unsqueeze(0).data_ptr(), v.data_ptr());
  EXPECT_EQ(scalar_tensor(1).unsqueeze(0).shape(), (Shape{1}));
  Tensor f = iota({2, 3, 4});
  EXPECT_EQ(f.flatten().shape(), (Shape{24}));
  EXPECT_EQ(f.flatten(1).shape(), (Shape{2, 12}));
  EXPECT_EQ(f.flatten(0, 1).shape(), (Shape{6, 4}));
  EXPECT_EQ(f.flatten().data_ptr(), f.data_ptr());
  Tensor ft = f.transpose(0, 2).flatten();  // must copy
  EXPECT_NE(ft.data_ptr(), f.data_ptr());
  EXPECT_EQ(ft.to_vector<float>(), f.transpose(0, 2).contiguous().to_vector<float>());
  EXPECT_EQ(scalar_tensor(4).flatten().shape(), (Shape{1}));
  EXPECT_THROW(f.flatten(2, 1), Error);
}

TEST(View, Contiguous) {
  Tensor x = iota({3, 4});
  EXPECT_TRUE(x.contiguous().is_same(x));
  Tensor t = x.t();
  Tensor c = t.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_NE(c.data_ptr(), x.data_ptr());
  EXPECT_EQ(c.strides(), (Shape{3, 1}));
  // Size-1 dims may have any stride.
  EXPECT_TRUE(x.narrow(0, 1, 1).is_contiguous());
  EXPECT_FALSE(x.narrow(1, 1, 2).is_contiguous());
  EXPECT_TRUE(x.select(1, 2).unsqueeze(1).narrow(0, 1, 1).is_contiguous());
}

TEST(View, WritesThroughViewsReachTheBase) {
  Tensor x = zeros({3, 4});
  x.select(0, 1).fill_(1);
  x.t().select(0, 2).add_(10);                // column 2
  x.slice(1, 0, 4, 3).select(0, 2).fill_(7);  // x[2][0], x[2][3]
  x.view({12}).narrow(0, 0, 1).fill_(-5);
  const std::vector<float> want = {-5, 0, 10, 0, 1, 1, 11, 1, 7, 0, 10, 7};
  EXPECT_EQ(x.to_vector<float>(), want);
  Tensor e = zeros({1}).expand({4});
  EXPECT_EQ(e.to_vector<float>(), std::vector<float>(4, 0));
}

TEST(View, VersionCounterIsSharedAndBumpedInPlace) {
  Tensor x = zeros({2, 3});
  Tensor v = x.t();
  Tensor s = x.select(0, 1);
  const uint64_t v0 = x.version();
  EXPECT_EQ(v.version(), v0);
  s.add_(1.0);
  EXPECT_EQ(x.version(), v0 + 1);
  EXPECT_EQ(v.version(), v0 + 1);
  v.mul_(2.0);
  x.zero_();
  EXPECT_EQ(s.version(), v0 + 3);
  Tensor copy = x.clone();
  EXPECT_EQ(copy.version(), 0u);  // a copy has its own counter
  copy.fill_(1);
  EXPECT_EQ(x.version(), v0 + 3);
  // Out-of-place ops and views do not count as writes.
  Tensor y = x + 1.0;
  Tensor w = x.view({6});
  (void)y;
  (void)w;
  EXPECT_EQ(x.version(), v0 + 3);
}

TEST(View, InPlaceChangeOfSavedTensorFailsBackward) {
  Tensor a = tensor({1.0, 2.0}).requires_grad_();
  Tensor b = tensor({3.0, 4.0});
  Tensor y = a * b;  // saves b
  b.view({2}).mul_(2.0);
  EXPECT_THAT(error_of([&] { y.sum().backward(); }), HasSubstr("modified by an in-place operation"));
}

TEST(View, ViewsPropagateGradients) {
  Tensor x = iota({2, 3}).requires_grad_();
  Tensor y = x.t().slice(0, 0, 3, 2).select(1, 1);  // x[1][0], x[1][2]
  EXPECT_TRUE(y.requires_grad());
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{3, 5}));
  (y * tensor({10.0, 20.0})).sum().backward();
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{0, 0, 0, 10, 0, 20}));
  Tensor z = tensor({1.0, 2.0}).requires_grad_();
  z.view({2, 1}).expand({2, 3}).sum().backward();
  EXPECT_EQ(z.grad().to_vector<float>(), (std::vector<float>{3, 3}));
}

// A float outside an integer dtype's range has no C++ conversion (it is undefined behaviour,
// found by fuzzing load_state_dict); volt saturates, NaN to 0, as a GPU's conversion does.
TEST(Cast, FloatsOutsideAnIntegerRangeSaturate) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Tensor x = tensor({1e300, -1e300, nan, 3.7, -3.7, 9.3e18, -9.3e18}, DType::f64);
  EXPECT_EQ(x.to(DType::i64).to_vector<int64_t>(),
            (std::vector<int64_t>{INT64_MAX, INT64_MIN, 0, 3, -3, INT64_MAX, INT64_MIN}));
  EXPECT_EQ(x.to(DType::i32).to_vector<int32_t>(),
            (std::vector<int32_t>{INT32_MAX, INT32_MIN, 0, 3, -3, INT32_MAX, INT32_MIN}));
  EXPECT_EQ(tensor({-5.0, 300.0, 2.9, nan, 255.0}, DType::f32).to(DType::u8).to_vector<uint8_t>(),
            (std::vector<uint8_t>{0, 255, 2, 0, 255}));
  EXPECT_EQ(tensor({3e9, -3e9}, DType::f16).to(DType::i32).to_vector<int32_t>(),  // f16 holds inf
            (std::vector<int32_t>{INT32_MAX, INT32_MIN}));
  EXPECT_EQ(full({2}, 1e300, DType::i64).to_vector<int64_t>(), (std::vector<int64_t>{INT64_MAX, INT64_MAX}));
  EXPECT_EQ(scalar_tensor(-1e300, DType::f64).item<int64_t>(), INT64_MIN);
  // In range, a conversion still truncates toward zero, and exact values stay exact.
  EXPECT_EQ(tensor({-2147483648.0, 2147483647.0, -0.9}, DType::f64).to(DType::i32).to_vector<int32_t>(),
            (std::vector<int32_t>{INT32_MIN, INT32_MAX, 0}));
}

}  // namespace
}  // namespace volt
