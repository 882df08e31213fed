// GEMM on the CPU through Eigen, BLAS-style: C = alpha·A·B + beta·C with row-major C.
#pragma once

#include <cstdint>

#include "volt/core/dtype.h"
#include "volt/kernels/op_kinds.h"

namespace volt::kernels::cpu {

// A: [m, k], B: [k, n], C: [m, n] row-major with leading dimension ldc. f32 and f64.
void gemm(DType dtype, int64_t m, int64_t n, int64_t k, double alpha, MatrixOperand a, MatrixOperand b, double beta,
          void* c, int64_t ldc);

}  // namespace volt::kernels::cpu
