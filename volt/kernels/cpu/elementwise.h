// Elementwise CPU kernels. One templated map over a StridedLoop; each op is one functor line.
// Arithmetic on f16/bf16 runs in float (acc_t). Kernels never allocate or check user input.
#pragma once

#include "volt/core/dtype.h"
#include "volt/kernels/op_kinds.h"
#include "volt/kernels/strided_loop.h"

namespace volt::kernels::cpu {

void unary(Unary op, DType dtype, void* out, const void* in, const StridedLoop& loop, double scalar);
void binary(Binary op, DType dtype, void* out, const void* a, const void* b, const StridedLoop& loop, double alpha);
void ternary(Ternary op, DType dtype, void* out, const void* a, const void* b, const void* c, const StridedLoop& loop,
             double value);
// out = convert(in); a same-dtype cast is a strided copy.
void cast(DType out_dtype, void* out, DType in_dtype, const void* in, const StridedLoop& loop);
void fill(DType dtype, void* out, const StridedLoop& loop, double value);

}  // namespace volt::kernels::cpu
