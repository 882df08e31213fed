// For tests/cuda: skip (saying why) without a usable GPU, and compare device results with the
// CPU reference.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "volt/core/cuda/caching_allocator.h"
#include "volt/core/cuda/runtime.h"
#include "volt/volt.h"

// Use first in every CUDA test.
#define VOLT_REQUIRE_CUDA()                                                                \
  do {                                                                                     \
    if (!::volt::cuda::is_available()) GTEST_SKIP() << ::volt::cuda::unavailable_reason(); \
    ::volt::cuda::set_poison_allocations(true);                                            \
  } while (0)

namespace volt {
// The stream volt's kernels use on cuda:0, for calling the CUDA twins directly.
inline Stream stream() { return current_stream(Device::cuda(0)); }
}  // namespace volt

namespace volt::testing {

// Relative agreement of two tensors (any devices), elementwise: |a - b| <= tol * max(1, |b|).
// NaN only matches NaN (an unwritten, poisoned element therefore fails); an infinity matches
// the same infinity.
inline ::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, double tol) {
  if (actual.shape() != expected.shape())
    return ::testing::AssertionFailure() << "shapes differ: " << shape_str(actual.shape()) << " vs "
                                         << shape_str(expected.shape());
  const std::vector<double> a = actual.to_vector<double>(), e = expected.to_vector<double>();
  for (std::size_t i = 0; i < a.size(); ++i) {
    const bool same = a[i] == e[i] || (std::isnan(a[i]) && std::isnan(e[i]));  // equal infinities too
    if (!same && !(std::abs(a[i] - e[i]) <= tol * std::max(1.0, std::abs(e[i]))))
      return ::testing::AssertionFailure()
             << "element " << i << ": " << a[i] << " vs " << e[i] << " (tol " << tol << ")";
  }
  return ::testing::AssertionSuccess();
}

// Tolerance DESIGN.md sets for CPU-vs-CUDA agreement.
inline double agreement_tolerance(DType t) { return (t == DType::f16 || t == DType::bf16) ? 1e-2 : 1e-5; }

// Byte-for-byte equality of two tensors (any devices): for integer and bool results, and for
// what must be bitwise identical across devices (casts, random draws, dropout masks).
inline ::testing::AssertionResult same_bytes(const Tensor& actual, const Tensor& expected) {
  if (actual.shape() != expected.shape() || actual.dtype() != expected.dtype())
    return ::testing::AssertionFailure() << describe(actual) << " vs " << describe(expected);
  const Tensor a = actual.to(Device::cpu()).contiguous(), e = expected.to(Device::cpu()).contiguous();
  const auto* pa = static_cast<const unsigned char*>(a.data_ptr());
  const auto* pe = static_cast<const unsigned char*>(e.data_ptr());
  const std::size_t item = itemsize(a.dtype());
  for (std::size_t i = 0; i < a.nbytes(); i += item)
    if (std::memcmp(pa + i, pe + i, item) != 0)
      return ::testing::AssertionFailure()
             << "element " << i / item
             << " differs: " << a.reshape({-1}).select(0, static_cast<int64_t>(i / item)).item<double>() << " vs "
             << e.reshape({-1}).select(0, static_cast<int64_t>(i / item)).item<double>();
  return ::testing::AssertionSuccess();
}

// n values in [lo, hi), rounded down to multiples of `step` when step > 0 (ties, zeros and
// values exact in every dtype), as a CPU tensor of `dtype`. The same seed gives the same values.
inline Tensor sample(int64_t n, DType dtype, uint64_t seed, double lo = -3, double hi = 3, double step = 0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(static_cast<std::size_t>(n));
  for (double& x : v)
    x = step > 0 ? lo + std::floor((dist(rng) - lo) / step) * step : dist(rng);
  return tensor(v, {n}).to(dtype);
}

inline Tensor cuda_empty(const Shape& shape, DType dtype) {
  return empty(shape, TensorOptions(dtype).device(Device::cuda(0)));
}

}  // namespace volt::testing
