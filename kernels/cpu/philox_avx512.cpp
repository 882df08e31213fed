// Philox4x32-10 eight blocks at a time: each 64-bit lane of a zmm register holds one block's
// 32-bit word, so one vpmuludq gives the eight full 64-bit products a round needs (high and low
// halves by a shift and a mask). The four word vectors are then transposed into element order.
// The same rounds, constants and counter layout as philox4x32_10 in core/philox.h, so the words
// are the scalar (and CUDA) stream's, bit for bit.
#include "volt/kernels/cpu/avx512.h"

namespace volt::kernels::cpu {

#if defined(__x86_64__)

namespace {

// All-lanes maskz forms of three intrinsics: GCC 12's plain ones start from an undefined
// register, which -Wuninitialized reports.
// The low 32 bits of each 64-bit lane.
VOLT_AVX512 inline __m256i low_words(__m512i v) { return _mm512_maskz_cvtepi64_epi32(0xFF, v); }
// Each lane's high 32 bits, moved down.
VOLT_AVX512 inline __m512i shift_down(__m512i v) { return _mm512_maskz_srli_epi64(0xFF, v, 32); }
// The full 64-bit products of the lanes' low 32 bits.
VOLT_AVX512 inline __m512i multiply(__m512i a, __m512i b) { return _mm512_maskz_mul_epu32(0xFF, a, b); }

}  // namespace

VOLT_AVX512 void philox_words_avx512(uint64_t seed, uint64_t counter, int64_t blocks, uint32_t* out) {
  const __m512i m0 = _mm512_set1_epi64(0xD2511F53), m1 = _mm512_set1_epi64(0xCD9E8D57);
  const __m512i low = _mm512_set1_epi64(0xFFFFFFFF);
  const __m512i lane = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
  for (int64_t b = 0; b < blocks; b += 8) {
    const __m512i ctr = _mm512_add_epi64(_mm512_set1_epi64(static_cast<long long>(counter + b)), lane);
    __m512i c0 = _mm512_and_si512(ctr, low), c1 = shift_down(ctr);
    __m512i c2 = _mm512_setzero_si512(), c3 = _mm512_setzero_si512();
    uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
    for (int round = 0; round < 10; ++round) {
      const __m512i p0 = multiply(m0, c0), p1 = multiply(m1, c2);
      const __m512i next0 = _mm512_xor_si512(_mm512_xor_si512(shift_down(p1), c1), _mm512_set1_epi64(k0));
      const __m512i next2 = _mm512_xor_si512(_mm512_xor_si512(shift_down(p0), c3), _mm512_set1_epi64(k1));
      c1 = _mm512_and_si512(p1, low);
      c3 = _mm512_and_si512(p0, low);
      c0 = next0;
      c2 = next2;
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    // Word w of blocks b..b+7 → out[4 (b + j) + w]: a 4 × 8 transpose in two 128-bit halves.
    const __m256 w0 = _mm256_castsi256_ps(low_words(c0)), w1 = _mm256_castsi256_ps(low_words(c1));
    const __m256 w2 = _mm256_castsi256_ps(low_words(c2)), w3 = _mm256_castsi256_ps(low_words(c3));
    const __m256 t0 = _mm256_unpacklo_ps(w0, w1), t1 = _mm256_unpackhi_ps(w0, w1);
    const __m256 t2 = _mm256_unpacklo_ps(w2, w3), t3 = _mm256_unpackhi_ps(w2, w3);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);  // blocks 0|4, 1|5
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);  // blocks 2|6, 3|7
    float* o = reinterpret_cast<float*>(out + 4 * b);
    _mm256_storeu_ps(o, _mm256_permute2f128_ps(u0, u1, 0x20));       // blocks 0, 1
    _mm256_storeu_ps(o + 8, _mm256_permute2f128_ps(u2, u3, 0x20));   // blocks 2, 3
    _mm256_storeu_ps(o + 16, _mm256_permute2f128_ps(u0, u1, 0x31));  // blocks 4, 5
    _mm256_storeu_ps(o + 24, _mm256_permute2f128_ps(u2, u3, 0x31));  // blocks 6, 7
  }
}

#else  // not x86-64: never called (has_avx512() is false)

void philox_words_avx512(uint64_t, uint64_t, int64_t, uint32_t*) {}

#endif

}  // namespace volt::kernels::cpu
