#include <cstdint>

#include "volt/core/philox.h"
#include "volt/kernels/cuda/device_types.cuh"
#include "volt/kernels/random.h"

// Each thread computes one Philox block and writes the elements that block feeds: 4 (one word
// each) or, for f64/i64 uniforms, 2 (two words each). That is the CPU's mapping, element for
// element, so the same (seed, counter) gives the same values on both devices.
//
// Arithmetic on the uniforms is in double as on the CPU. a + (b - a) * u and a + b * radius *
// cos(angle) are explicit fmas on both devices (std::fma in cpu/random.cpp), so they round alike
// whatever the compiler contracts.
// Box-Muller uses CUDA's log, sqrt, cos and sin, within 1-2 ulp of glibc's, so normal values
// can differ from the CPU's in the last bits of f64 (and, rarely, by one ulp of f32).

namespace volt::kernels::cuda {
namespace {

bool wide(DType dtype) { return dtype == DType::f64 || dtype == DType::i64; }

__device__ inline double box_muller_radius(double u0) { return sqrt(-2.0 * log(1.0 - u0)); }
// 2π as the CPU's 2.0 * std::numbers::pi: the literal is that double.
__device__ inline double box_muller_angle(double u1) { return 2.0 * 3.141592653589793 * u1; }

// Writes element i (if i < n) of a draw from its uniform u; normal takes pairs (u0, u1) and
// writes i0 = 2k (cos) and i0 + 1 (sin), as the CPU does.
template <class T>
struct Draw {
  Distribution dist;
  double a, b;
  T* out;
  int64_t n;

  __device__ void one(int64_t i, double u) const {
    if (i >= n) return;
    const double v = dist == Distribution::uniform ? fma(b - a, u, a) : (u < a ? 1.0 : 0.0);
    out[i] = from_value<T>(static_cast<acc_t<T>>(v));
  }
  __device__ void pair(int64_t i0, double u0, double u1) const {
    if (dist != Distribution::normal) {
      one(i0, u0);
      one(i0 + 1, u1);
      return;
    }
    const double radius = box_muller_radius(u0);
    const double angle = box_muller_angle(u1);
    if (i0 < n) out[i0] = from_value<T>(static_cast<acc_t<T>>(fma(b * radius, cos(angle), a)));
    if (i0 + 1 < n) out[i0 + 1] = from_value<T>(static_cast<acc_t<T>>(fma(b * radius, sin(angle), a)));
  }
};

// Element i: word i % 4 of block counter + i / 4, a float-precision uniform.
template <class T>
__global__ void random_narrow(Draw<T> draw, PhiloxArgs philox) {
  const uint64_t seed = philox_seed(philox), counter = philox_counter(philox);
  const int64_t blocks = (draw.n + 3) / 4;
  for (int64_t k = global_thread(); k < blocks; k += grid_threads()) {
    const Philox4x32 r = philox_block(seed, counter + static_cast<uint64_t>(k));
    double u[4];
    for (int w = 0; w < 4; ++w)
      u[w] = static_cast<double>(uniform_float(r.v[w]));
    draw.pair(4 * k, u[0], u[1]);
    draw.pair(4 * k + 2, u[2], u[3]);
  }
}

// Element i: block counter + i / 2, words (0, 1) for even i and (2, 3) for odd i.
template <class T>
__global__ void random_wide(Draw<T> draw, PhiloxArgs philox) {
  const uint64_t seed = philox_seed(philox), counter = philox_counter(philox);
  const int64_t blocks = (draw.n + 1) / 2;
  for (int64_t k = global_thread(); k < blocks; k += grid_threads()) {
    const Philox4x32 r = philox_block(seed, counter + static_cast<uint64_t>(k));
    draw.pair(2 * k, uniform_double(r.v[0], r.v[1]), uniform_double(r.v[2], r.v[3]));
  }
}

template <class T>
__global__ void randint_kernel(T* out, int64_t n, int64_t low, uint64_t range, PhiloxArgs philox) {
  const uint64_t seed = philox_seed(philox), counter = philox_counter(philox);
  const int64_t blocks = (n + 3) / 4;
  for (int64_t k = global_thread(); k < blocks; k += grid_threads()) {
    const Philox4x32 r = philox_block(seed, counter + static_cast<uint64_t>(k));
    for (int w = 0; w < 4 && 4 * k + w < n; ++w) {
      const int64_t v = low + static_cast<int64_t>((r.v[w] * range) >> 32);
      out[4 * k + w] = from_value<T>(static_cast<acc_t<T>>(v));
    }
  }
}

// mask = (u >= p) ? 1/(1-p) : 0 in x's dtype, y = x * mask, computed in acc_t as the CPU.
template <class T>
__global__ void dropout_kernel(T* y, T* mask, const T* x, int64_t n, acc_t<T> scale, float threshold,
                               PhiloxArgs philox) {
  const uint64_t seed = philox_seed(philox), counter = philox_counter(philox);
  using A = acc_t<T>;
  const int64_t blocks = (n + 3) / 4;
  for (int64_t k = global_thread(); k < blocks; k += grid_threads()) {
    const Philox4x32 r = philox_block(seed, counter + static_cast<uint64_t>(k));
    for (int w = 0; w < 4 && 4 * k + w < n; ++w) {
      const int64_t i = 4 * k + w;
      const A m = uniform_float(r.v[w]) >= threshold ? scale : A(0);
      mask[i] = from_value<T>(m);
      y[i] = from_value<T>(to_acc(x[i]) * m);
    }
  }
}

}  // namespace

void random_fill(Distribution dist, DType dtype, void* out, int64_t n, double a, double b, PhiloxArgs philox,
                 Stream on) {
  const cudaStream_t stream = native(on);
  if (n <= 0) return;
  dispatch_all(dtype, "random", [&]<class T>() {
    const Draw<T> draw{dist, a, b, static_cast<T*>(out), n};
    if (wide(dtype))
      random_wide<<<grid_for((n + 1) / 2, kThreads), kThreads, 0, stream>>>(draw, philox);
    else
      random_narrow<<<grid_for((n + 3) / 4, kThreads), kThreads, 0, stream>>>(draw, philox);
    VOLT_CUDA_CHECK_LAUNCH();
  });
}

void randint_fill(DType dtype, void* out, int64_t n, int64_t low, int64_t high, PhiloxArgs philox, Stream on) {
  const cudaStream_t stream = native(on);
  if (n <= 0) return;
  dispatch_all(dtype, "randint", [&]<class T>() {
    const auto range = static_cast<uint64_t>(high - low);
    randint_kernel<<<grid_for((n + 3) / 4, kThreads), kThreads, 0, stream>>>(static_cast<T*>(out), n, low, range,
                                                                             philox);
    VOLT_CUDA_CHECK_LAUNCH();
  });
}

void dropout(DType dtype, void* y, void* mask, const void* x, int64_t n, double p, PhiloxArgs philox, Stream on) {
  const cudaStream_t stream = native(on);
  if (n <= 0) return;
  dispatch_floating(dtype, "dropout", [&]<class T>() {
    using A = acc_t<T>;
    const A scale = static_cast<A>(1.0 / (1.0 - p));
    dropout_kernel<<<grid_for((n + 3) / 4, kThreads), kThreads, 0, stream>>>(
        static_cast<T*>(y), static_cast<T*>(mask), static_cast<const T*>(x), n, scale, static_cast<float>(p), philox);
    VOLT_CUDA_CHECK_LAUNCH();
  });
}

namespace {
// Plugs these kernels into the dispatch tables when volt_cuda is linked into a program.
[[maybe_unused]] const bool registered =
    (kernels::random_fill.cuda = random_fill, kernels::randint_fill.cuda = randint_fill,
     kernels::dropout.cuda = dropout, true);
}  // namespace

}  // namespace volt::kernels::cuda
