// CUDA twins of kernels/cpu/elementwise.h: the same arguments, plus the stream to run on.
// One templated kernel over a functor and the storage type (f32, f64, f16, bf16 and the
// integers); half types compute in float. Contiguous operands take 16-byte vector loads when
// every pointer is aligned, with a scalar tail; anything else walks the StridedLoop.
#pragma once

#include <cuda_runtime_api.h>

#include "volt/core/dtype.h"
#include "volt/kernels/op_kinds.h"
#include "volt/kernels/strided_loop.h"

namespace volt::kernels::cuda {

void unary(Unary op, DType dtype, void* out, const void* in, const StridedLoop& loop, double scalar,
           cudaStream_t stream);
void binary(Binary op, DType dtype, void* out, const void* a, const void* b, const StridedLoop& loop, double alpha,
            cudaStream_t stream);
void ternary(Ternary op, DType dtype, void* out, const void* a, const void* b, const void* c, const StridedLoop& loop,
             double value, cudaStream_t stream);
void cast(DType out_dtype, void* out, DType in_dtype, const void* in, const StridedLoop& loop, cudaStream_t stream);
void fill(DType dtype, void* out, const StridedLoop& loop, double value, cudaStream_t stream);

}  // namespace volt::kernels::cuda
