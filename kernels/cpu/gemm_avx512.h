// volt's own f32 GEMM for CPUs with AVX-512, used by the CPU gemm kernel (cpu/matmul.cpp) in
// place of Eigen where it applies. Built into every x86-64 volt (the functions carry their own
// target attribute) and chosen at run time, so one binary runs on any x86-64 CPU.
#pragma once

#include <cstdint>

#include "volt/kernels/matmul.h"

namespace volt::kernels::cpu {

// Whether this CPU runs the kernels below (checked once).
bool has_avx512_gemm();

// C[m, n] (row-major, ldc) = alpha A·B + beta C, C not read when beta is 0; m, n, k > 0.
// Two layouts, the ones a linear layer's forward and backward need: B row-major (a register
// tile of 8 rows × 32 columns, A's elements broadcast) and A row-major with B column-major
// (both contiguous along k: a tile of 4 × 4 dot products). Returns false, doing nothing, for
// the other layout (both column-major), which Eigen computes.
bool gemm_f32_avx512(int64_t m, int64_t n, int64_t k, float alpha, const MatrixOperand& a, const MatrixOperand& b,
                     float beta, float* c, int64_t ldc);

}  // namespace volt::kernels::cpu
