// For tests/cuda: skip (saying why) without a usable GPU, and compare device results with the
// CPU reference.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
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

namespace volt::testing {

// Relative agreement of two tensors (any devices), elementwise: |a - b| <= tol * max(1, |b|).
// NaN only matches NaN; an unwritten (poisoned, NaN) element therefore fails.
inline ::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, double tol) {
  if (actual.shape() != expected.shape())
    return ::testing::AssertionFailure() << "shapes differ: " << shape_str(actual.shape()) << " vs "
                                         << shape_str(expected.shape());
  const std::vector<double> a = actual.to_vector<double>(), e = expected.to_vector<double>();
  for (std::size_t i = 0; i < a.size(); ++i) {
    const bool both_nan = std::isnan(a[i]) && std::isnan(e[i]);
    if (!both_nan && !(std::abs(a[i] - e[i]) <= tol * std::max(1.0, std::abs(e[i]))))
      return ::testing::AssertionFailure()
             << "element " << i << ": " << a[i] << " vs " << e[i] << " (tol " << tol << ")";
  }
  return ::testing::AssertionSuccess();
}

// Tolerance DESIGN.md sets for CPU-vs-CUDA agreement.
inline double agreement_tolerance(DType t) { return (t == DType::f16 || t == DType::bf16) ? 1e-2 : 1e-5; }

}  // namespace volt::testing
