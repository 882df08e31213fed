// The reduction family: sums along dims and max/argmax along one dim, on both devices in a
// fixed order (deterministic). The CPU reduces a run into one element in order, f32 adding in
// double; the CUDA twin reduces each output element in one thread block by a fixed tree (or
// in one thread by a scan), f32 adding in double, with no float atomics. Half types are reduced
// by the op layer through f32; small integers through i64.
#pragma once

#include <cstdint>

#include "volt/core/dtype.h"
#include "volt/core/stream.h"
#include "volt/kernels/dispatch.h"
#include "volt/kernels/strided_loop.h"

namespace volt::kernels {

// out += in over the loop; out has stride 0 along the reduced dims and must start zeroed.
using SumFn = void(DType dtype, void* out, const void* in, const StridedLoop& loop, Stream stream);
// For a contiguous [outer, n, inner] input: the max over n and its first index (NaN wins, as in
// PyTorch). `values` may be null (argmax).
using MaxDimFn = void(DType dtype, void* values, int64_t* indices, const void* in, int64_t outer, int64_t n,
                      int64_t inner, Stream stream);
// grad_in (zeroed, [outer, n, inner]) gets grad_out[o, i] at the position indices[o, i].
using MaxDimBackwardFn = void(DType dtype, void* grad_in, const void* grad_out, const int64_t* indices, int64_t outer,
                              int64_t n, int64_t inner, Stream stream);

namespace cpu {
SumFn sum;
MaxDimFn max_dim;
MaxDimBackwardFn max_dim_backward;
}  // namespace cpu

namespace cuda {
SumFn sum;
MaxDimFn max_dim;
MaxDimBackwardFn max_dim_backward;
}  // namespace cuda

extern Kernel<SumFn> sum;
extern Kernel<MaxDimFn> max_dim;
extern Kernel<MaxDimBackwardFn> max_dim_backward;

}  // namespace volt::kernels
