// matmul, linear, cat and stack beyond the numbers of op_table_test.cpp's rows: half-type
// rounding, linear without bias as matmul, hand-built cat and stack layouts, and the errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_support.h"
#include "volt/autograd/ops.h"
#include "volt/core/generator.h"
#include "volt/core/tensor.h"

namespace volt {
namespace {

using testing::error_of;
using ::testing::HasSubstr;

Tensor uniform(const Shape& shape, DType dtype, Generator& g) { return rand(shape, dtype, &g) * 2.0 - 1.0; }

TEST(Matmul, HalfTypesRoundTheFloatResult) {
  // 1 + 2^-11 rounds to 1 in f16, so the product of [1, 2^-11] and [1, 1] is 1 after rounding once.
  Tensor a = tensor({1.0, 0x1.0p-11}, DType::f16).view({1, 2});
  Tensor b = ones({2, 1}, DType::f16);
  EXPECT_EQ(matmul(a, b).dtype(), DType::f16);
  EXPECT_EQ(matmul(a, b).item<double>(), 1.0);
  Generator g(4);
  Tensor x = uniform({7, 9}, DType::f32, g), y = uniform({9, 3}, DType::f32, g);
  const auto ref = matmul(x.to(DType::bf16).to(DType::f32), y.to(DType::bf16).to(DType::f32)).to(DType::bf16);
  EXPECT_EQ(matmul(x.to(DType::bf16), y.to(DType::bf16)).to_vector<double>(), ref.to_vector<double>());
}

TEST(Matmul, Errors) {
  const std::string msg = error_of([] { matmul(zeros({2, 3}), zeros({4, 5})); });
  EXPECT_THAT(msg, HasSubstr("[2, 3] and [4, 5] cannot be multiplied (3 vs 4)"));
  EXPECT_THAT(error_of([] { matmul(zeros({3}), zeros({4})); }), HasSubstr("3 vs 4"));
  EXPECT_THAT(error_of([] { matmul(zeros({2, 2, 3}), zeros({3, 3, 1})); }), HasSubstr("cannot be broadcast"));
  EXPECT_THAT(error_of([] { matmul(scalar_tensor(1), zeros({1})); }), HasSubstr("at least 1 dim"));
  EXPECT_THAT(error_of([] { matmul(zeros({2, 2}), zeros({2, 2}, DType::f64)); }), HasSubstr("dtypes differ"));
  EXPECT_THAT(error_of([] {
                matmul(zeros({2, 2}, DType::i64), zeros({2, 2}, DType::i64));
              }),
              HasSubstr("expected a floating tensor"));
}

// Without a bias, linear is matmul with the transposed weight, bit for bit.
TEST(Linear, WithoutBiasIsMatmulWithTheTransposedWeight) {
  Generator g(5);
  Tensor x = uniform({2, 3, 4}, DType::f64, g), w = uniform({5, 4}, DType::f64, g);
  EXPECT_EQ(linear(x, w).to_vector<double>(), matmul(x, w.t()).to_vector<double>());
  EXPECT_THAT(error_of([&] { linear(x, uniform({5, 3}, DType::f64, g)); }), HasSubstr("last dim must be 3"));
}

TEST(Cat, ConcatenatesAlongAnyDim) {
  Tensor a = arange(6).view({2, 3});
  Tensor b = arange(6, 10).view({2, 2});
  Tensor c = cat({a, b}, 1);
  EXPECT_EQ(c.shape(), (Shape{2, 5}));
  EXPECT_EQ(c.to_vector<float>(), (std::vector<float>{0, 1, 2, 6, 7, 3, 4, 5, 8, 9}));
  EXPECT_EQ(cat({a, b, zeros({2, 0})}, -1).to_vector<float>(), c.to_vector<float>());
  Tensor r = cat({a, arange(3).view({1, 3}), a.narrow(0, 1, 1)});
  EXPECT_EQ(r.shape(), (Shape{4, 3}));
  EXPECT_EQ(r.to_vector<float>(), (std::vector<float>{0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5}));
  // Non-contiguous pieces.
  Tensor t = cat({a.t(), b.t()}, 0);  // [3, 2] and [2, 2]
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5, 6, 8, 7, 9}));
}

TEST(Cat, Stack) {
  Tensor a = tensor({1.0, 2.0, 3.0}), b = tensor({4.0, 5.0, 6.0});
  EXPECT_EQ(stack({a, b}).shape(), (Shape{2, 3}));
  EXPECT_EQ(stack({a, b}).to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(stack({a, b}, 1).shape(), (Shape{3, 2}));
  EXPECT_EQ(stack({a, b}, -1).to_vector<float>(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  EXPECT_EQ(stack({scalar_tensor(1), scalar_tensor(2)}).to_vector<float>(), (std::vector<float>{1, 2}));
  EXPECT_EQ(stack({a}).shape(), (Shape{1, 3}));
}

TEST(Cat, Errors) {
  const std::string msg = error_of([] { cat({zeros({2, 3}), zeros({3, 2})}, 1); });
  EXPECT_THAT(msg, HasSubstr("f32[3, 2]"));
  EXPECT_THAT(msg, HasSubstr("f32[2, 3]"));
  EXPECT_THAT(msg, HasSubstr("outside dim 1"));
  EXPECT_THAT(error_of([] { cat({zeros({2}), zeros({2}, DType::f64)}); }), HasSubstr("dtypes differ"));
  EXPECT_THAT(error_of([] { cat({}); }), HasSubstr("non-empty"));
  EXPECT_THAT(error_of([] { cat({scalar_tensor(1)}); }), HasSubstr("zero-dim"));
  EXPECT_THAT(error_of([] { stack({zeros({2}), zeros({3})}); }), HasSubstr("must have the same shape"));
  EXPECT_THROW(cat({zeros({2, 2}), zeros({2})}), Error);
}

}  // namespace
}  // namespace volt
