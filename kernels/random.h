// The random family: fills and dropout from volt's Philox stream (core/philox.h). Element i
// uses word i % 4 of block `counter + i / 4` (two words per element for f64 and i64 uniforms) on
// both devices, so the same (seed, counter) gives the same values and the same dropout mask on
// the CPU and on a GPU. Kernels take the stream's start as PhiloxArgs and resolve it where they
// run (philox_seed, philox_counter): in a captured CUDA graph it is read from device memory.
#pragma once

#include <cstdint>

#include "volt/core/dtype.h"
#include "volt/core/philox.h"
#include "volt/core/stream.h"
#include "volt/kernels/dispatch.h"

namespace volt::kernels {

// uniform: [a, b); normal: mean a, std b (Box-Muller on pairs of uniforms); bernoulli: 1 with
// probability a.
enum class Distribution { uniform, normal, bernoulli };

// Blocks a draw of n elements of `dtype` takes (what Generator::reserve is asked for): four
// elements per Philox block, two for the 64-bit dtypes.
inline uint64_t random_blocks(DType dtype, int64_t n) {
  const int64_t per_block = dtype == DType::f64 || dtype == DType::i64 ? 2 : 4;
  return static_cast<uint64_t>((n + per_block - 1) / per_block);
}

using RandomFillFn = void(Distribution dist, DType dtype, void* out, int64_t n, double a, double b, PhiloxArgs philox,
                          Stream stream);
// Integers uniform in [low, high) (high - low ≤ 2^32), by a 32x32→64 multiply of one word.
using RandintFillFn = void(DType dtype, void* out, int64_t n, int64_t low, int64_t high, PhiloxArgs philox,
                           Stream stream);
// y = x * mask, mask = (u >= p) / (1 - p) with u the element's uniform float; mask is stored
// (in x's dtype) for backward. Contiguous, n elements.
using DropoutFn = void(DType dtype, void* y, void* mask, const void* x, int64_t n, double p, PhiloxArgs philox,
                       Stream stream);

namespace cpu {
RandomFillFn random_fill;
RandintFillFn randint_fill;
DropoutFn dropout;
}  // namespace cpu

namespace cuda {
RandomFillFn random_fill;
RandintFillFn randint_fill;
DropoutFn dropout;
}  // namespace cuda

extern Kernel<RandomFillFn> random_fill;
extern Kernel<RandintFillFn> randint_fill;
extern Kernel<DropoutFn> dropout;

}  // namespace volt::kernels
