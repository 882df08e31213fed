// Random fills and dropout from volt's Philox stream (core/philox.h). Element i uses word i % 4
// of block `counter + i / 4` (two words per element for f64), so a CUDA twin that follows the
// same rule produces identical values.
#pragma once

#include <cstdint>

#include "volt/core/dtype.h"
#include "volt/kernels/op_kinds.h"

namespace volt::kernels::cpu {

// Blocks a draw of n elements of `dtype` takes (what Generator::reserve is asked for).
uint64_t random_blocks(DType dtype, int64_t n);

void random_fill(Distribution dist, DType dtype, void* out, int64_t n, double a, double b, uint64_t seed,
                 uint64_t counter);
// Integers uniform in [low, high) (high - low < 2^32), by a 32x32→64 multiply of one word.
void randint_fill(DType dtype, void* out, int64_t n, int64_t low, int64_t high, uint64_t seed, uint64_t counter);

// y = x * mask, mask = (u >= p) / (1 - p) with u the element's uniform float; mask is stored
// (in x's dtype) for backward. Contiguous, n elements.
void dropout(DType dtype, void* y, void* mask, const void* x, int64_t n, double p, uint64_t seed, uint64_t counter);

}  // namespace volt::kernels::cpu
