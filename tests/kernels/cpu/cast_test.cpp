// The CPU's f32 ↔ f16 casts: the contiguous fast path (F16C, split over threads) gives the
// same bits as the element-by-element conversion a strided view takes, on ties, subnormals,
// overflow, infinities and NaN.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "volt/volt.h"

namespace volt {
namespace {

std::vector<uint16_t> bits_of(const Tensor& half) {
  const Tensor c = half.contiguous();
  std::vector<uint16_t> out(static_cast<std::size_t>(c.numel()));
  std::memcpy(out.data(), c.data_ptr(), out.size() * 2);
  return out;
}

TEST(CpuCast, ContiguousF16CastsMatchTheStridedOnes) {
  std::vector<float> v;
  for (int e = -30; e <= 17; ++e)  // across the subnormal, normal and overflow ranges
    for (float m : {1.0f, 1.0009765625f, 1.00048828125f, 1.5f, 1.99951171875f, -1.33f})
      v.push_back(std::ldexp(m, e));
  for (float x : {0.0f, -0.0f, 65504.0f, 65520.0f, std::numeric_limits<float>::infinity(),
                  -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()})
    v.push_back(x);
  const int64_t n = static_cast<int64_t>(v.size());
  // Twice over: once contiguous, once as every other element of a doubled buffer.
  std::vector<float> doubled;
  for (float x : v) {
    doubled.push_back(x);
    doubled.push_back(0.0f);
  }
  const Tensor contiguous = tensor(v, {n}, DType::f32);
  const Tensor strided = tensor(doubled, {n, 2}, DType::f32).select(1, 0);
  ASSERT_FALSE(strided.is_contiguous());
  const Tensor fast = contiguous.to(DType::f16), slow = strided.to(DType::f16);
  EXPECT_EQ(bits_of(fast), bits_of(slow));
  const Tensor strided_half = stack({fast, fast}, 1).select(1, 0);
  ASSERT_FALSE(strided_half.is_contiguous());
  const auto back_fast = fast.to(DType::f32).to_vector<float>();
  const auto back_slow = strided_half.to(DType::f32).to_vector<float>();
  ASSERT_EQ(back_fast.size(), back_slow.size());
  for (std::size_t i = 0; i < back_fast.size(); ++i) {
    if (std::isnan(back_fast[i])) {
      EXPECT_TRUE(std::isnan(back_slow[i]));
      continue;
    }
    EXPECT_EQ(back_fast[i], back_slow[i]) << "element " << i << " (" << v[i] << ")";
  }
  // A run long enough to be split over the threads converts the same as short ones.
  const Tensor big = randn({100003}).mul(300.0);
  const Tensor big_strided = stack({big, big}, 1).select(1, 0);
  ASSERT_FALSE(big_strided.is_contiguous());
  EXPECT_EQ(bits_of(big.to(DType::f16)), bits_of(big_strided.to(DType::f16)));
}

}  // namespace
}  // namespace volt
