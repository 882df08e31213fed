// The AVX-512 f32 GEMM. Two register-tiled loops, no packing: the main job's products are small
// enough (a few hundred KiB) to stay in L2, where the operands are read in place.
//
// Broadcast tile (B row-major): 8 rows × 32 columns of C live in 16 zmm accumulators; for each
// k, two loads of B's row and eight broadcasts of A's column feed 16 FMAs.
// Dot tile (A row-major, B column-major, as x·Wᵀ): 4 × 4 elements of C are 16 zmm partial dot
// products over k, 16 lanes at a time, reduced at the end; the k tail is a masked load.
// Both sum over k in a fixed order, so results do not depend on timing or on how the caller
// splits C over threads.
#include <algorithm>

#include "volt/kernels/cpu/avx512.h"

namespace volt::kernels::cpu {

#if defined(__x86_64__)

namespace {

// Every loop over a tile's rows or columns is unrolled whole, so its accumulators are registers:
// a loop left rolled makes the compiler keep the accumulator arrays in memory and store them
// on every k.
#define VOLT_UNROLL _Pragma("GCC unroll 16")

VOLT_AVX512 inline __mmask16 lanes(int64_t count) {
  return count >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << count) - 1u);
}

// The sum of v's 16 lanes, folded in halves (a fixed order). The all-lanes maskz forms because
// GCC 12's plain ones start from _mm512_undefined_ps, which -Wuninitialized reports.
VOLT_AVX512 inline float lane_sum(__m512 v) {
  v = _mm512_add_ps(v, _mm512_maskz_shuffle_f32x4(0xFFFF, v, v, 0x4E));  // + the other 256 bits
  v = _mm512_add_ps(v, _mm512_maskz_shuffle_f32x4(0xFFFF, v, v, 0xB1));  // + the neighbouring 128 bits
  v = _mm512_add_ps(v, _mm512_maskz_permute_ps(0xFFFF, v, 0x4E));        // + the other 64 bits of each 128
  v = _mm512_add_ps(v, _mm512_maskz_permute_ps(0xFFFF, v, 0xB1));        // + the neighbouring lane
  return _mm512_cvtss_f32(v);
}

// alpha·acc + beta·C, stored under the mask; C is not read when beta is 0.
VOLT_AVX512 inline void store(float* out, __mmask16 mask, __m512 acc, float alpha, float beta) {
  __m512 v = _mm512_mul_ps(_mm512_set1_ps(alpha), acc);
  if (beta != 0.0f) v = _mm512_add_ps(v, _mm512_mul_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(mask, out)));
  _mm512_mask_storeu_ps(out, mask, v);
}

// R rows (R <= 8) × up to 32 columns; A(i, kk) = a[i * a_row + kk * a_k].
template <int R>
VOLT_AVX512 void broadcast_tile(const float* a, int64_t a_row, int64_t a_k, const float* b, int64_t ldb, int64_t k,
                                __mmask16 m0, __mmask16 m1, float alpha, float beta, float* c, int64_t ldc) {
  __m512 acc0[R], acc1[R];
  VOLT_UNROLL
  for (int r = 0; r < R; ++r)
    acc0[r] = acc1[r] = _mm512_setzero_ps();
  for (int64_t kk = 0; kk < k; ++kk) {
    const float* row = b + kk * ldb;
    const __m512 b0 = _mm512_maskz_loadu_ps(m0, row), b1 = _mm512_maskz_loadu_ps(m1, row + 16);
    const float* col = a + kk * a_k;
    VOLT_UNROLL
    for (int r = 0; r < R; ++r) {
      const __m512 x = _mm512_set1_ps(col[r * a_row]);
      acc0[r] = _mm512_fmadd_ps(x, b0, acc0[r]);
      acc1[r] = _mm512_fmadd_ps(x, b1, acc1[r]);
    }
  }
  VOLT_UNROLL
  for (int r = 0; r < R; ++r) {
    store(c + r * ldc, m0, acc0[r], alpha, beta);
    if (m1 != 0) store(c + r * ldc + 16, m1, acc1[r], alpha, beta);
  }
}

VOLT_AVX512 void broadcast_gemm(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t a_row,
                                int64_t a_k, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  using Tile = void (*)(const float*, int64_t, int64_t, const float*, int64_t, int64_t, __mmask16, __mmask16, float,
                        float, float*, int64_t);
  static constexpr Tile kTiles[] = {broadcast_tile<1>, broadcast_tile<2>, broadcast_tile<3>, broadcast_tile<4>,
                                    broadcast_tile<5>, broadcast_tile<6>, broadcast_tile<7>, broadcast_tile<8>};
  for (int64_t j = 0; j < n; j += 32) {
    const __mmask16 m0 = lanes(n - j), m1 = lanes(std::max<int64_t>(n - j - 16, 0));
    for (int64_t i = 0; i < m; i += 8) {
      const int64_t rows = std::min<int64_t>(8, m - i);
      kTiles[rows - 1](a + i * a_row, a_row, a_k, b + j, ldb, k, m0, m1, alpha, beta, c + i * ldc + j, ldc);
    }
  }
}

// R × C dot products (R, C <= 4): C(i, j) = Σ_kk a[i * lda + kk] · b[j * ldb + kk].
template <int R, int C>
VOLT_AVX512 void dot_tile(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t k, float alpha, float beta,
                          float* c, int64_t ldc) {
  __m512 acc[R][C];
  VOLT_UNROLL
  for (int r = 0; r < R; ++r)
    VOLT_UNROLL
  for (int q = 0; q < C; ++q)
    acc[r][q] = _mm512_setzero_ps();
  int64_t kk = 0;
  for (; kk + 16 <= k; kk += 16) {
    __m512 x[R], w[C];
    VOLT_UNROLL
    for (int r = 0; r < R; ++r)
      x[r] = _mm512_loadu_ps(a + r * lda + kk);
    VOLT_UNROLL
    for (int q = 0; q < C; ++q)
      w[q] = _mm512_loadu_ps(b + q * ldb + kk);
    VOLT_UNROLL
    for (int r = 0; r < R; ++r)
      VOLT_UNROLL
    for (int q = 0; q < C; ++q)
      acc[r][q] = _mm512_fmadd_ps(x[r], w[q], acc[r][q]);
  }
  if (kk < k) {
    const __mmask16 mask = lanes(k - kk);
    __m512 x[R], w[C];
    VOLT_UNROLL
    for (int r = 0; r < R; ++r)
      x[r] = _mm512_maskz_loadu_ps(mask, a + r * lda + kk);
    VOLT_UNROLL
    for (int q = 0; q < C; ++q)
      w[q] = _mm512_maskz_loadu_ps(mask, b + q * ldb + kk);
    VOLT_UNROLL
    for (int r = 0; r < R; ++r)
      VOLT_UNROLL
    for (int q = 0; q < C; ++q)
      acc[r][q] = _mm512_fmadd_ps(x[r], w[q], acc[r][q]);
  }
  VOLT_UNROLL
  for (int r = 0; r < R; ++r)
    VOLT_UNROLL
  for (int q = 0; q < C; ++q) {
    float* out = c + r * ldc + q;
    const float v = alpha * lane_sum(acc[r][q]);
    *out = beta == 0.0f ? v : v + beta * *out;
  }
}

template <int R>
VOLT_AVX512 void dot_rows(int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
                          float beta, float* c, int64_t ldc) {
  int64_t j = 0;
  for (; j + 4 <= n; j += 4)
    dot_tile<R, 4>(a, lda, b + j * ldb, ldb, k, alpha, beta, c + j, ldc);
  switch (n - j) {
    case 3:
      return dot_tile<R, 3>(a, lda, b + j * ldb, ldb, k, alpha, beta, c + j, ldc);
    case 2:
      return dot_tile<R, 2>(a, lda, b + j * ldb, ldb, k, alpha, beta, c + j, ldc);
    case 1:
      return dot_tile<R, 1>(a, lda, b + j * ldb, ldb, k, alpha, beta, c + j, ldc);
    default:
      return;
  }
}

VOLT_AVX512 void dot_gemm(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b,
                          int64_t ldb, float beta, float* c, int64_t ldc) {
  int64_t i = 0;
  for (; i + 4 <= m; i += 4)
    dot_rows<4>(n, k, alpha, a + i * lda, lda, b, ldb, beta, c + i * ldc, ldc);
  switch (m - i) {
    case 3:
      return dot_rows<3>(n, k, alpha, a + i * lda, lda, b, ldb, beta, c + i * ldc, ldc);
    case 2:
      return dot_rows<2>(n, k, alpha, a + i * lda, lda, b, ldb, beta, c + i * ldc, ldc);
    case 1:
      return dot_rows<1>(n, k, alpha, a + i * lda, lda, b, ldb, beta, c + i * ldc, ldc);
    default:
      return;
  }
}

#undef VOLT_UNROLL

}  // namespace

bool gemm_f32_avx512(int64_t m, int64_t n, int64_t k, float alpha, const MatrixOperand& a, const MatrixOperand& b,
                     float beta, float* c, int64_t ldc) {
  const auto* pa = static_cast<const float*>(a.data);
  const auto* pb = static_cast<const float*>(b.data);
  if (!b.col_major) {
    broadcast_gemm(m, n, k, alpha, pa, a.col_major ? 1 : a.ld, a.col_major ? a.ld : 1, pb, b.ld, beta, c, ldc);
    return true;
  }
  if (!a.col_major) {
    dot_gemm(m, n, k, alpha, pa, a.ld, pb, b.ld, beta, c, ldc);
    return true;
  }
  return false;
}

#else  // not x86-64: Eigen computes every product

bool gemm_f32_avx512(int64_t, int64_t, int64_t, float, const MatrixOperand&, const MatrixOperand&, float, float*,
                     int64_t) {
  return false;
}

#endif

}  // namespace volt::kernels::cpu
