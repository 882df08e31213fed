// CUDA twins of kernels/cpu/random.h: element i uses word i % 4 of Philox block counter + i/4
// (two words per element for f64/i64 uniforms), exactly as the CPU, so the same (seed,
// counter) gives the same values and the same dropout mask on both devices.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "volt/core/dtype.h"
#include "volt/kernels/op_kinds.h"

namespace volt::kernels::cuda {

void random_fill(Distribution dist, DType dtype, void* out, int64_t n, double a, double b, uint64_t seed,
                 uint64_t counter, cudaStream_t stream);
void randint_fill(DType dtype, void* out, int64_t n, int64_t low, int64_t high, uint64_t seed, uint64_t counter,
                  cudaStream_t stream);
void dropout(DType dtype, void* y, void* mask, const void* x, int64_t n, double p, uint64_t seed, uint64_t counter,
             cudaStream_t stream);

}  // namespace volt::kernels::cuda
