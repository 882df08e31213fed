// GEMM on the CPU through Eigen, BLAS-style: C = alpha·A·B + beta·C with row-major C.
#pragma once

#include <cstdint>

#include "volt/core/dtype.h"

namespace volt::kernels::cpu {

// An operand stored row-major with leading dimension ld (row stride), or, when `col_major`,
// column-major with ld the column stride (a transposed view needs no copy).
struct MatrixOperand {
  const void* data;
  int64_t ld;
  bool col_major;
};

// A: [m, k], B: [k, n], C: [m, n] row-major with leading dimension ldc. f32 and f64.
void gemm(DType dtype, int64_t m, int64_t n, int64_t k, double alpha, MatrixOperand a, MatrixOperand b, double beta,
          void* c, int64_t ldc);

}  // namespace volt::kernels::cpu
