// CUDA twins of kernels/cpu/reduce.h. Every output element is reduced either by one thread
// block (a fixed tree over a fixed partition) or by one thread (a scan), the choice a function
// of the loop's shape, so results are the same run to run: no float atomics. f32 sums
// accumulate in double.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "volt/core/dtype.h"
#include "volt/kernels/strided_loop.h"

namespace volt::kernels::cuda {

// out += in over the loop; out has stride 0 along the reduced dims and must start zeroed.
void sum(DType dtype, void* out, const void* in, const StridedLoop& loop, cudaStream_t stream);
void max_dim(DType dtype, void* values, int64_t* indices, const void* in, int64_t outer, int64_t n, int64_t inner,
             cudaStream_t stream);
void max_dim_backward(DType dtype, void* grad_in, const void* grad_out, const int64_t* indices, int64_t outer,
                      int64_t n, int64_t inner, cudaStream_t stream);

}  // namespace volt::kernels::cuda
