// Elementwise semantics beyond the numbers (those are rows of op_table_test.cpp): NaN, half-type
// rounding, comparisons, integer arithmetic, and the errors for bad shapes and dtypes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "test_support.h"
#include "volt/autograd/ops.h"
#include "volt/core/tensor.h"

namespace volt {
namespace {

using testing::error_of;
using ::testing::HasSubstr;

// relu passes NaN through rather than mapping it to 0, as PyTorch.
TEST(Elementwise, ReluPropagatesNaN) { EXPECT_TRUE(std::isnan(tensor({NAN}).relu().item<float>())); }

TEST(Elementwise, HalfTypesComputeInFloatAndRoundOnStore) {
  // 1 + 2^-11 is halfway between f16's 1 and 1 + 2^-10: round to even gives 1; 1 + 3 * 2^-11
  // is halfway between 1 + 2^-10 and 1 + 2^-9 and goes up.
  Tensor one = tensor({1.0, 1.0}, DType::f16);
  Tensor d = tensor({0x1.0p-11, 3 * 0x1.0p-11}, DType::f16);
  EXPECT_EQ((one + d).to_vector<double>(), (std::vector<double>{1.0, 1.0 + 0x1.0p-9}));
  Tensor oneb = tensor({1.0, 1.0}, DType::bf16);
  Tensor db = tensor({0x1.0p-8, 3 * 0x1.0p-8}, DType::bf16);
  EXPECT_EQ((oneb + db).to_vector<double>(), (std::vector<double>{1.0, 1.0 + 0x1.0p-6}));
  // exp in float then one rounding: exp(1) = 2.71828... -> f16 2.71875 (nearest with 10 bits).
  EXPECT_EQ(tensor({1.0}, DType::f16).exp().item<double>(), 2.71875);
  Tensor big = full({7}, 300.0, DType::f16);
  EXPECT_TRUE(std::isinf((big * big).to_vector<double>()[6]));  // 90000 > 65504
  EXPECT_EQ((big * big).dtype(), DType::f16);
}

TEST(Elementwise, ComparisonsGiveBool) {
  Tensor a = tensor({1.0, 2.0, 3.0});
  Tensor b = tensor({2.0, 2.0, 2.0});
  EXPECT_EQ(a.eq(b).dtype(), DType::boolean);
  EXPECT_EQ(a.eq(b).to_vector<bool>(), (std::vector<bool>{false, true, false}));
  EXPECT_EQ(a.ne(b).to_vector<bool>(), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(a.lt(b).to_vector<bool>(), (std::vector<bool>{true, false, false}));
  EXPECT_EQ(a.le(b).to_vector<bool>(), (std::vector<bool>{true, true, false}));
  EXPECT_EQ(a.gt(b).to_vector<bool>(), (std::vector<bool>{false, false, true}));
  EXPECT_EQ(a.ge(b).to_vector<bool>(), (std::vector<bool>{false, true, true}));
  // Broadcast [3, 1] against [4] for an integer dtype.
  Tensor i = tensor(std::vector<int64_t>{0, 1, 2}, {3, 1});
  Tensor j = tensor(std::vector<int64_t>{0, 1, 2, 3});
  Tensor lt = volt::lt(i, j);
  EXPECT_EQ(lt.shape(), (Shape{3, 4}));
  std::vector<bool> want;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c)
      want.push_back(r < c);
  EXPECT_EQ(lt.to_vector<bool>(), want);
  // NaN compares unequal to everything, itself included.
  Tensor n = tensor({NAN});
  EXPECT_EQ(n.eq(n).item<bool>(), false);
  EXPECT_EQ(n.ne(n).item<bool>(), true);
  // Bool tensors compare too.
  Tensor t = tensor(std::vector<bool>{true, false});
  EXPECT_EQ(t.eq(tensor(std::vector<bool>{true, true})).to_vector<bool>(), (std::vector<bool>{true, false}));
}

TEST(Elementwise, IntegerArithmetic) {
  Tensor a = tensor(std::vector<int64_t>{1, -2, 3, 40}, {2, 2});
  Tensor b = tensor(std::vector<int64_t>{10, 20});
  EXPECT_EQ((a + b).to_vector<int64_t>(), (std::vector<int64_t>{11, 18, 13, 60}));
  EXPECT_EQ((a - b).to_vector<int64_t>(), (std::vector<int64_t>{-9, -22, -7, 20}));
  EXPECT_EQ((a * b).to_vector<int64_t>(), (std::vector<int64_t>{10, -40, 30, 800}));
  EXPECT_EQ(add(a, b, 2).to_vector<int64_t>(), (std::vector<int64_t>{21, 38, 23, 80}));
  EXPECT_EQ((a + b).dtype(), DType::i64);
  Tensor u = tensor(std::vector<uint8_t>{250, 3});
  EXPECT_EQ((u + u).to_vector<int64_t>(), (std::vector<int64_t>{244, 6}));  // wraps mod 256
  // True division, as PyTorch's: integers divide in f32.
  const Tensor q = a / b;
  EXPECT_EQ(q.dtype(), DType::f32);
  EXPECT_EQ(q.to_vector<float>(), (std::vector<float>{0.1f, -0.1f, 0.3f, 2.0f}));
  EXPECT_THAT(error_of([&] { a.exp(); }), HasSubstr("expected a floating tensor"));
}

TEST(Elementwise, ShapeAndDTypeErrors) {
  const std::string msg = error_of([] { zeros({2, 3}) + zeros({4}); });
  EXPECT_THAT(msg, HasSubstr("add"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));
  EXPECT_THAT(msg, HasSubstr("[4]"));
  EXPECT_THAT(error_of([] { zeros({2, 1, 3}) * zeros({5, 2}); }), HasSubstr("[2, 1, 3] and [5, 2]"));
  EXPECT_THAT(error_of([] { add(Tensor(), zeros({1})); }), HasSubstr("undefined"));
}

// PyTorch's promotion, checked against torch 2.15's answers for the same pairs.
TEST(Promotion, FollowsPyTorchsRules) {
  EXPECT_EQ(promote_types(DType::u8, DType::i32), DType::i32);
  EXPECT_EQ(promote_types(DType::boolean, DType::u8), DType::u8);
  EXPECT_EQ(promote_types(DType::f16, DType::bf16), DType::f32);
  EXPECT_EQ(promote_types(DType::i64, DType::f16), DType::f16);
  EXPECT_EQ(promote_types(DType::f32, DType::f64), DType::f64);
  const Tensor ints = tensor(std::vector<int64_t>{1, 2});
  EXPECT_EQ((ints + scalar_tensor(1.5, DType::f64)).dtype(), DType::f64);                // a higher kind decides
  EXPECT_EQ((tensor({1.0, 2.0}) + scalar_tensor(1.5, DType::f64)).dtype(), DType::f32);  // the same kind does not
  EXPECT_EQ((tensor(std::vector<uint8_t>{1, 2}) + scalar_tensor(3.0, DType::i64)).dtype(), DType::u8);
  EXPECT_EQ((tensor(std::vector<uint8_t>{1, 2}) + tensor(std::vector<int64_t>{3})).dtype(), DType::i64);
  EXPECT_EQ((tensor({1.0}, DType::f16) + tensor({1.0}, DType::bf16)).dtype(), DType::f32);
  EXPECT_EQ(where(tensor(std::vector<bool>{true}), tensor({1.0}, DType::f16), tensor({2.0})).dtype(), DType::f32);
  EXPECT_EQ((tensor(std::vector<int32_t>{1, 2}) > tensor({1.5})).to_vector<bool>(), (std::vector<bool>{false, true}));
  // An integer tensor against a fractional scalar compares as numbers, not truncated.
  EXPECT_EQ((ints >= 1.5).to_vector<bool>(), (std::vector<bool>{false, true}));
  EXPECT_EQ(ints.eq(2.0).to_vector<bool>(), (std::vector<bool>{false, true}));
}

TEST(Promotion, GradientsComeBackInEachInputsDtype) {
  Tensor a = tensor({1.0, 2.0}, DType::f32).requires_grad_(true);
  Tensor b = tensor({3.0, 4.0}, DType::f64).requires_grad_(true);
  const Tensor y = mul(a, b);
  EXPECT_EQ(y.dtype(), DType::f64);
  sum(y).backward();
  EXPECT_EQ(a.grad().dtype(), DType::f32);
  EXPECT_EQ(b.grad().dtype(), DType::f64);
  EXPECT_EQ(a.grad().to_vector<float>(), (std::vector<float>{3.0f, 4.0f}));
  EXPECT_EQ(b.grad().to_vector<double>(), (std::vector<double>{1.0, 2.0}));
}

}  // namespace
}  // namespace volt
