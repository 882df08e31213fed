// dropout forward (volt's contract, kernels/random.h): mask = (u >= p) · 1/(1-p) in x's dtype
// and y = x · mask, u being element i's uniform from word i % 4 of Philox block counter + i / 4
// (core/philox.h). Every version keeps that mapping, so each must give volt's CPU twin's y and
// mask bit for bit; each is checked so before it is timed beside the byte floor and the device
// copy measured in the same run (docs/kernel_lab.md).
//
//   build/bench/kernels/dropout [--n 67108864] [--dtype f32|bf16|f16[,...]] [--p 0.5] [--runs 100]
//                               [--warmup 10] [--json PATH]
//
// The floor: x read, y and the mask written, 3·n·s bytes. One Philox4x32-10 block (ten rounds of
// two 32x32->64 multiplies and a few xors) feeds four elements: some 25 integer instructions per
// element, a third of the memory time on an H200 when each block is computed once, more than the
// memory time when it is computed four times (v1).
#include <cstdint>
#include <string>
#include <vector>

#include "lab.cuh"
#include "volt/core/philox.h"
#include "volt/kernels/random.h"

namespace {

using namespace lab;

constexpr const char* kUsage =
    "dropout forward: numbered versions checked bit for bit against volt's CPU twin, timed beside the byte floor.\n"
    "  --n N          elements (default 67108864)\n"
    "  --dtype LIST   f32, bf16, f16, comma-separated (default f32)\n"
    "  --p P          drop probability (default 0.5)\n"
    "  --runs R       timed runs per version, the median printed (default 100)\n"
    "  --warmup W     untimed runs first (default 10)\n"
    "  --json PATH    also append one JSON line per timed row to PATH\n";

constexpr int kThreads = 256;
// The draw every version makes: a seed with both 32-bit halves set (both key words matter) and
// a block offset past zero, as a draw in the middle of training would have.
constexpr volt::PhiloxArgs kPhilox{0x9E3779B97F4A7C15ull, 1234567, nullptr};

__device__ inline int64_t thread_index() { return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ inline int64_t thread_count() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

// What every version computes for one element from its 32-bit word, in float as volt does.
struct Keep {
  float scale, threshold;
  template <class T>
  __device__ void operator()(uint32_t word, T x, T& y, T& mask) const {
    const float m = volt::uniform_float(word) >= threshold ? scale : 0.f;
    mask = from_float<T>(m);
    y = from_float<T>(to_float(x) * m);
  }
};

// v1: one element per thread. Each thread computes the whole Philox block of its element and
// keeps one word of four: four times the integer work, and the word is picked with a run-time
// index (i % 4).
template <class T>
__global__ void dropout_v1(T* y, T* mask, const T* x, int64_t n, Keep keep, volt::PhiloxArgs philox) {
  const int64_t i = thread_index();
  if (i >= n) return;
  const volt::Philox4x32 r =
      volt::philox_block(volt::philox_seed(philox), volt::philox_counter(philox) + static_cast<uint64_t>(i / 4));
  keep(r.v[i % 4], x[i], y[i], mask[i]);
}

// v2: one thread per Philox block, each computed once and feeding its four elements; one thread
// per block of four over the whole array, scalar loads and stores.
template <class T>
__global__ void dropout_v2(T* y, T* mask, const T* x, int64_t n, Keep keep, volt::PhiloxArgs philox) {
  const int64_t b = thread_index();
  if (4 * b >= n) return;
  const volt::Philox4x32 r =
      volt::philox_block(volt::philox_seed(philox), volt::philox_counter(philox) + static_cast<uint64_t>(b));
#pragma unroll
  for (int w = 0; w < 4; ++w)
    if (4 * b + w < n) keep(r.v[w], x[4 * b + w], y[4 * b + w], mask[4 * b + w]);
}

// The elements past the last whole pack: each takes its own block's word.
template <class T>
__device__ inline void dropout_tail(T* y, T* mask, const T* x, int64_t from, int64_t n, const Keep& keep, uint64_t seed,
                                    uint64_t counter) {
  for (int64_t i = from + thread_index(); i < n; i += thread_count()) {
    const volt::Philox4x32 r = volt::philox_block(seed, counter + static_cast<uint64_t>(i / 4));
    uint32_t word = r.v[0];
    if (i % 4 == 1) word = r.v[1];
    if (i % 4 == 2) word = r.v[2];
    if (i % 4 == 3) word = r.v[3];
    keep(word, x[i], y[i], mask[i]);
  }
}

// One 16-byte pack of x (4 f32 or 8 half elements, so 1 or 2 whole Philox blocks) to y and mask.
template <class T>
__device__ inline void dropout_pack(const Pack<T>& xv, Pack<T>& yv, Pack<T>& mv, int64_t p, const Keep& keep,
                                    uint64_t seed, uint64_t counter) {
  constexpr int kBlocks = Pack<T>::size / 4;
#pragma unroll
  for (int b = 0; b < kBlocks; ++b) {
    const volt::Philox4x32 r = volt::philox_block(seed, counter + static_cast<uint64_t>(p * kBlocks + b));
#pragma unroll
    for (int w = 0; w < 4; ++w)
      keep(r.v[w], xv.v[4 * b + w], yv.v[4 * b + w], mv.v[4 * b + w]);
  }
}

// v3: 16-byte loads of x and 16-byte stores of y and of the mask, grid-stride over a grid that
// fills the GPU once: a third of v2's memory instructions for f32, a sixth for the half types.
template <class T>
__global__ void dropout_v3(T* y, T* mask, const T* x, int64_t n, Keep keep, volt::PhiloxArgs philox) {
  using P = Pack<T>;
  const uint64_t seed = volt::philox_seed(philox), counter = volt::philox_counter(philox);
  const int64_t packs = n / P::size;
  const auto* xp = reinterpret_cast<const P*>(x);
  auto* yp = reinterpret_cast<P*>(y);
  auto* mp = reinterpret_cast<P*>(mask);
  for (int64_t p = thread_index(); p < packs; p += thread_count()) {
    const P xv = xp[p];
    P yv, mv;
    dropout_pack(xv, yv, mv, p, keep, seed, counter);
    yp[p] = yv;
    mp[p] = mv;
  }
  dropout_tail(y, mask, x, packs * P::size, n, keep, seed, counter);
}

// v4: v3 with U packs per thread per trip, their U loads issued before the Philox work, so the
// loads are in flight while the multiplier computes (and U·16 bytes per thread are in flight).
template <class T, int U>
__global__ void dropout_v4(T* y, T* mask, const T* x, int64_t n, Keep keep, volt::PhiloxArgs philox) {
  using P = Pack<T>;
  const uint64_t seed = volt::philox_seed(philox), counter = volt::philox_counter(philox);
  const int64_t packs = n / P::size, stride = thread_count();
  const auto* xp = reinterpret_cast<const P*>(x);
  auto* yp = reinterpret_cast<P*>(y);
  auto* mp = reinterpret_cast<P*>(mask);
  int64_t p = thread_index();
  for (; p + (U - 1) * stride < packs; p += U * stride) {
    P xv[U];
#pragma unroll
    for (int u = 0; u < U; ++u)
      xv[u] = xp[p + u * stride];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      P yv, mv;
      dropout_pack(xv[u], yv, mv, p + u * stride, keep, seed, counter);
      yp[p + u * stride] = yv;
      mp[p + u * stride] = mv;
    }
  }
  for (; p < packs; p += stride) {
    const P xv = xp[p];
    P yv, mv;
    dropout_pack(xv, yv, mv, p, keep, seed, counter);
    yp[p] = yv;
    mp[p] = mv;
  }
  dropout_tail(y, mask, x, packs * P::size, n, keep, seed, counter);
}

struct Version {
  std::string name, impl;
  std::function<void()> launch;
};

#ifdef LAB_HAVE_CUDNN
// cudnnDropoutForward on [1, n, 1, 1]: cuDNN's own generator and its own mask format (in the
// reserve space), so it is timed, never compared.
class CudnnDropout {
 public:
  CudnnDropout(const Gpu& gpu, volt::DType dtype, int64_t n, double p) {
    if (n > INT32_MAX) throw Failure("cuDNN takes int dimensions; n is larger");
    LAB_CUDNN(cudnnCreate(&handle_));
    LAB_CUDNN(cudnnSetStream(handle_, gpu.stream));
    LAB_CUDNN(cudnnCreateTensorDescriptor(&desc_));
    const cudnnDataType_t type = dtype == volt::DType::bf16  ? CUDNN_DATA_BFLOAT16
                                 : dtype == volt::DType::f16 ? CUDNN_DATA_HALF
                                                             : CUDNN_DATA_FLOAT;
    LAB_CUDNN(cudnnSetTensor4dDescriptor(desc_, CUDNN_TENSOR_NCHW, type, 1, static_cast<int>(n), 1, 1));
    LAB_CUDNN(cudnnCreateDropoutDescriptor(&dropout_));
    std::size_t state_bytes = 0;
    LAB_CUDNN(cudnnDropoutGetStatesSize(handle_, &state_bytes));
    states_ = std::make_unique<Buffer>(state_bytes);
    // Seeds cuDNN's generator states: a kernel of its own, before any timing.
    LAB_CUDNN(cudnnSetDropoutDescriptor(dropout_, handle_, static_cast<float>(p), states_->as(), state_bytes, 1234));
    LAB_CUDNN(cudnnDropoutGetReserveSpaceSize(desc_, &reserve_bytes_));
    reserve_ = std::make_unique<Buffer>(reserve_bytes_);
  }
  ~CudnnDropout() {
    if (dropout_) cudnnDestroyDropoutDescriptor(dropout_);
    if (desc_) cudnnDestroyTensorDescriptor(desc_);
    if (handle_) cudnnDestroy(handle_);
  }
  CudnnDropout(const CudnnDropout&) = delete;
  CudnnDropout& operator=(const CudnnDropout&) = delete;
  void operator()(void* y, const void* x) const {
    LAB_CUDNN(cudnnDropoutForward(handle_, dropout_, desc_, x, desc_, y, reserve_->as(), reserve_bytes_));
  }
  std::size_t reserve_bytes() const { return reserve_bytes_; }

 private:
  cudnnHandle_t handle_ = nullptr;
  cudnnTensorDescriptor_t desc_ = nullptr;
  cudnnDropoutDescriptor_t dropout_ = nullptr;
  std::unique_ptr<Buffer> states_, reserve_;
  std::size_t reserve_bytes_ = 0;
};
#endif

template <class T>
int run_dropout(const Gpu& gpu, Timer& timer, volt::DType dtype, const std::string& dtype_name, int64_t n, double p,
                const std::string& json) {
  const auto bytes = static_cast<std::size_t>(n) * sizeof(T);
  Buffer x(bytes), y(bytes), mask(bytes);
  volt::kernels::cuda::random_fill(volt::kernels::Distribution::normal, dtype, x.as(), n, 0.0, 1.0,
                                   volt::PhiloxArgs{20251202, 0, nullptr}, gpu.volt_stream());

  // The reference: volt's CPU twin, the same draw.
  std::vector<T> host_x(static_cast<std::size_t>(n)), want_y(host_x.size()), want_mask(host_x.size());
  std::vector<T> got_y(host_x.size()), got_mask(host_x.size());
  to_host(host_x.data(), x, bytes, gpu.stream);
  volt::kernels::cpu::dropout(dtype, want_y.data(), want_mask.data(), host_x.data(), n, p, kPhilox, volt::Stream{});
  int64_t kept = 0;
  for (const T& m : want_mask)
    kept += to_float(m) != 0.f ? 1 : 0;

  const double floor_bytes = 3.0 * static_cast<double>(bytes);
  const std::string s = std::to_string(sizeof(T));
  char shape[96];
  std::snprintf(shape, sizeof shape, "n=%lld p=%g", static_cast<long long>(n), p);
  Report report("dropout", dtype_name, shape, floor_bytes,
                "read x " + s + " B, write y " + s + " B and the mask " + s + " B per element",
                copy_gbps(gpu, timer, bytes), json);
  std::printf("  (the CPU twin keeps %.4f of the elements)\n", static_cast<double>(kept) / static_cast<double>(n));

  const Keep keep{static_cast<float>(1.0 / (1.0 - p)), static_cast<float>(p)};
  T* py = y.as<T>();
  T* pm = mask.as<T>();
  const T* px = x.as<const T>();
  const auto grid_of = [](int64_t work) { return static_cast<unsigned>((work + kThreads - 1) / kThreads); };
  const unsigned resident = gpu.resident_blocks(kThreads);
  std::vector<Version> versions = {
      {"v1 one element per thread", "lab",
       [&] {
         dropout_v1<<<grid_of(n), kThreads, 0, gpu.stream>>>(py, pm, px, n, keep, kPhilox);
         LAB_LAUNCH();
       }},
      {"v2 one Philox block per thread", "lab",
       [&] {
         dropout_v2<<<grid_of((n + 3) / 4), kThreads, 0, gpu.stream>>>(py, pm, px, n, keep, kPhilox);
         LAB_LAUNCH();
       }},
      {"v3 16-byte, grid-stride", "lab",
       [&] {
         dropout_v3<<<resident, kThreads, 0, gpu.stream>>>(py, pm, px, n, keep, kPhilox);
         LAB_LAUNCH();
       }},
      {"v4 16-byte x4 in flight", "lab",
       [&] {
         dropout_v4<T, 4><<<resident, kThreads, 0, gpu.stream>>>(py, pm, px, n, keep, kPhilox);
         LAB_LAUNCH();
       }},
      // volt's shipped kernel through its entry point (kernels/cuda/random.cu): a Philox block
      // per thread, scalar accesses, grid-stride over at most 65535 blocks.
      {"v5 volt kernels::cuda::dropout", "volt",
       [&] { volt::kernels::cuda::dropout(dtype, py, pm, px, n, p, kPhilox, gpu.volt_stream()); }},
  };

  for (const Version& v : versions) {
    y.poison(gpu.stream);
    mask.poison(gpu.stream);
    v.launch();
    to_host(got_y.data(), y, bytes, gpu.stream);
    to_host(got_mask.data(), mask, bytes, gpu.stream);
    Check check;
    compare_exact(check, "mask", got_mask.data(), want_mask.data(), n);
    compare_exact(check, "y", got_y.data(), want_y.data(), n);
    if (!check.ok()) {
      report.failed(v.name, check.summary(true));
      continue;
    }
    report.row(v.name, v.impl, timer.time(v.launch), check.summary(true) + " mask and y");
  }

#ifdef LAB_HAVE_CUDNN
  try {
    CudnnDropout dropout(gpu, dtype, n, p);
    char note[160];
    std::snprintf(note, sizeof note, "time only: cuDNN's own generator, its mask (%.2f B/element) differs",
                  static_cast<double>(dropout.reserve_bytes()) / static_cast<double>(n));
    report.row("cuDNN cudnnDropoutForward", "cudnn", timer.time([&] { dropout(y.as(), x.as()); }), note);
  } catch (const Failure& e) {
    report.skipped("cuDNN cudnnDropoutForward", e.what());
  }
#else
  report.skipped("cuDNN cudnnDropoutForward", "built without cuDNN");
#endif
  return report.failures();
}

}  // namespace

int main(int argc, char** argv) {
  return run_program("dropout", [&] {
    Flags flags(argc, argv, kUsage);
    const int64_t n = flags.integer("--n", int64_t{64} << 20);
    const std::string dtypes = flags.text("--dtype", "f32");
    const double p = flags.real("--p", 0.5);
    const auto runs = static_cast<int>(flags.integer("--runs", 100));
    const auto warmup = static_cast<int>(flags.integer("--warmup", 10));
    const std::string json = flags.text("--json", "");
    flags.finish();
    if (n <= 0 || runs <= 0 || warmup < 0) throw Failure("--n and --runs must be positive, --warmup not negative");
    if (!(p >= 0 && p < 1)) throw Failure("--p must be in [0, 1)");
    return run_dtypes("dropout", dtypes, warmup, runs, [&]<class T>(Gpu& gpu, Timer& timer, volt::DType dtype) {
      return run_dropout<T>(gpu, timer, dtype, volt::dtype_name(dtype), n, p, json);
    });
  });
}
