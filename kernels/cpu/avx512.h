// volt's own AVX-512 kernels for the CPU: the f32 GEMM (cpu/gemm_avx512.cpp) that the gemm
// kernel (cpu/matmul.cpp) uses in place of Eigen where it applies, and the Philox stream eight
// blocks at a time (cpu/philox_avx512.cpp) for dropout. Built into every x86-64 volt (the
// functions carry their own target attribute) and chosen at run time, so one binary runs on any
// x86-64 CPU.
#pragma once

#include <cstdint>

#include "volt/kernels/matmul.h"

#if defined(__x86_64__)
#include <immintrin.h>
// Compiles one function for AVX-512F inside a translation unit built for the baseline: the
// kernels' .cpp files mark every function that uses the intrinsics with it.
#define VOLT_AVX512 __attribute__((target("avx512f")))
#endif

namespace volt::kernels::cpu {

// Whether this CPU runs the kernels below (AVX-512F; checked once).
inline bool has_avx512() {
#if defined(__x86_64__)
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
  }();
  return has;
#else
  return false;
#endif
}

// C[m, n] (row-major, ldc) = alpha A·B + beta C, C not read when beta is 0; m, n, k > 0.
// Two layouts, the ones a linear layer's forward and backward need: B row-major (a register
// tile of 8 rows × 32 columns, A's elements broadcast) and A row-major with B column-major
// (both contiguous along k: a tile of 4 × 4 dot products). Returns false, doing nothing, for
// the other layout (both column-major), which Eigen computes.
bool gemm_f32_avx512(int64_t m, int64_t n, int64_t k, float alpha, const MatrixOperand& a, const MatrixOperand& b,
                     float beta, float* c, int64_t ldc);

// The words of Philox blocks counter .. counter + blocks - 1 under `seed` in element order
// (out[4 b + w] is word w of block counter + b), as philox_block (core/philox.h) gives them;
// blocks a multiple of 8.
void philox_words_avx512(uint64_t seed, uint64_t counter, int64_t blocks, uint32_t* out);

}  // namespace volt::kernels::cpu
