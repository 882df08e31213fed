// Reductions along dims, in a fixed order (deterministic), f32/f64/integers. Half types are
// reduced by the op layer in f32.
#pragma once

#include <cstdint>

#include "volt/core/dtype.h"
#include "volt/kernels/strided_loop.h"

namespace volt::kernels::cpu {

// out += in over the loop; out has stride 0 along the reduced dims and must start zeroed.
void sum(DType dtype, void* out, const void* in, const StridedLoop& loop);

// For a contiguous [outer, n, inner] input: the max over n and its first index (NaN wins, as in
// PyTorch). `values` may be null (argmax).
void max_dim(DType dtype, void* values, int64_t* indices, const void* in, int64_t outer, int64_t n, int64_t inner);
// grad_in (zeroed, [outer, n, inner]) gets grad_out[o, i] at the position indices[o, i].
void max_dim_backward(DType dtype, void* grad_in, const void* grad_out, const int64_t* indices, int64_t outer,
                      int64_t n, int64_t inner);

}  // namespace volt::kernels::cpu
