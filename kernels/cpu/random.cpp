// The random family on the CPU: Philox blocks walked in element order, the mapping of
// kernels/random.h, so the CUDA twin draws the same values (dropout's blocks split over the
// CPU threads, each block's draws the same on any of them; eight blocks at a time with
// AVX-512).
#include "volt/kernels/random.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "volt/core/philox.h"
#include "volt/core/thread_pool.h"
#include "volt/kernels/cpu/avx512.h"
#include "volt/kernels/cpu/loops.h"

namespace volt::kernels {

Kernel<RandomFillFn> random_fill{"random_fill", cpu::random_fill};
Kernel<RandintFillFn> randint_fill{"randint_fill", cpu::randint_fill};
Kernel<DropoutFn> dropout{"dropout", cpu::dropout};

namespace cpu {
namespace {

bool wide(DType dtype) { return dtype == DType::f64 || dtype == DType::i64; }

// Calls f(i, u) with element i's uniform in [0, 1): float precision, or double from two words.
template <class F>
void for_each_uniform(DType dtype, int64_t n, uint64_t seed, uint64_t counter, F f) {
  if (wide(dtype)) {
    for (int64_t i = 0; i < n; i += 2) {
      const Philox4x32 r = philox_block(seed, counter + static_cast<uint64_t>(i / 2));
      f(i, uniform_double(r.v[0], r.v[1]));
      if (i + 1 < n) f(i + 1, uniform_double(r.v[2], r.v[3]));
    }
  } else {
    for (int64_t i = 0; i < n; i += 4) {
      const Philox4x32 r = philox_block(seed, counter + static_cast<uint64_t>(i / 4));
      for (int64_t k = 0; k < 4 && i + k < n; ++k)
        f(i + k, static_cast<double>(uniform_float(r.v[k])));
    }
  }
}

// mask = scale where the draw is at least p, else 0; y = x · mask. A plain function with by-value
// constants and a select, not a branch, so it vectorises: a branch on a coin flip mispredicts
// half the time, and constants captured by reference are reloaded after every store.
template <class T, class A>
void apply_mask(const uint32_t* __restrict words, const T* __restrict x, T* __restrict y, T* __restrict mask,
                int64_t count, float threshold, A scale) {
  for (int64_t j = 0; j < count; ++j) {
    const A m = uniform_float(words[j]) >= threshold ? scale : A(0);
    mask[j] = static_cast<T>(m);
    y[j] = static_cast<T>(static_cast<A>(x[j]) * m);
  }
}

}  // namespace

void random_fill(Distribution dist, DType dtype, void* out, int64_t n, double a, double b, PhiloxArgs philox, Stream) {
  const uint64_t seed = philox_seed(philox), counter = philox_counter(philox);
  dispatch_all(dtype, "random", [&]<class T>() {
    auto* o = static_cast<T*>(out);
    auto store = [o](int64_t i, double v) { o[i] = static_cast<T>(static_cast<acc_t<T>>(v)); };
    switch (dist) {
      case Distribution::uniform:
        for_each_uniform(dtype, n, seed, counter, [&](int64_t i, double u) { store(i, std::fma(b - a, u, a)); });
        break;
      case Distribution::bernoulli:
        for_each_uniform(dtype, n, seed, counter, [&](int64_t i, double u) { store(i, u < a ? 1.0 : 0.0); });
        break;
      case Distribution::normal: {
        // Box-Muller on the pair (u[2k], u[2k+1]); 1 - u keeps the log's argument in (0, 1].
        double u0 = 0;
        for_each_uniform(dtype, n + (n & 1), seed, counter, [&](int64_t i, double u) {
          if ((i & 1) == 0) {
            u0 = u;
            return;
          }
          const double radius = std::sqrt(-2.0 * std::log(1.0 - u0));
          const double angle = 2.0 * std::numbers::pi * u;
          store(i - 1, std::fma(b * radius, std::cos(angle), a));
          if (i < n) store(i, std::fma(b * radius, std::sin(angle), a));
        });
        break;
      }
    }
  });
}

void randint_fill(DType dtype, void* out, int64_t n, int64_t low, int64_t high, PhiloxArgs philox, Stream) {
  const uint64_t seed = philox_seed(philox), counter = philox_counter(philox);
  dispatch_all(dtype, "randint", [&]<class T>() {
    auto* o = static_cast<T*>(out);
    const auto range = static_cast<uint64_t>(high - low);
    for (int64_t i = 0; i < n; i += 4) {
      const Philox4x32 r = philox_block(seed, counter + static_cast<uint64_t>(i / 4));
      for (int64_t k = 0; k < 4 && i + k < n; ++k)
        o[i + k] = static_cast<T>(static_cast<acc_t<T>>(low + static_cast<int64_t>((r.v[k] * range) >> 32)));
    }
  });
}

void dropout(DType dtype, void* y, void* mask, const void* x, int64_t n, double p, PhiloxArgs philox, Stream) {
  const uint64_t seed = philox_seed(philox), counter = philox_counter(philox);
  dispatch_floating(dtype, "dropout", [&]<class T>() {
    using A = acc_t<T>;
    auto* py = static_cast<T*>(y);
    auto* pm = static_cast<T*>(mask);
    const auto* px = static_cast<const T*>(x);
    const A scale = static_cast<A>(1.0 / (1.0 - p));
    const float threshold = static_cast<float>(p);
    // Block b draws elements 4b..4b+3 whichever thread computes it: the blocks are split over
    // the threads and the mask is the same for any split. Each chunk draws its words a batch at
    // a time (eight blocks per AVX-512 step where the CPU has it), then applies them in a loop
    // the compiler vectorises.
    const bool vector_philox = has_avx512();
    parallel_for(0, (n + 3) / 4, 512, [&](int64_t first, int64_t last) {
      constexpr int64_t kBatch = 64;  // blocks
      uint32_t words[4 * kBatch];
      for (int64_t b0 = first; b0 < last; b0 += kBatch) {
        const int64_t blocks = std::min(kBatch, last - b0);
        const int64_t vector_blocks = vector_philox ? blocks / 8 * 8 : 0;
        if (vector_blocks > 0) philox_words_avx512(seed, counter + static_cast<uint64_t>(b0), vector_blocks, words);
        for (int64_t b = vector_blocks; b < blocks; ++b) {
          const Philox4x32 r = philox_block(seed, counter + static_cast<uint64_t>(b0 + b));
          for (int w = 0; w < 4; ++w)
            words[4 * b + w] = r.v[w];
        }
        const int64_t start = 4 * b0;
        apply_mask(words, px + start, py + start, pm + start, std::min(4 * blocks, n - start), threshold, scale);
      }
    });
  });
}

}  // namespace cpu
}  // namespace volt::kernels
