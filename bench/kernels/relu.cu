// relu forward, from a naive kernel to the one volt ships, each version checked bit for bit
// against volt's CPU twin on the same input before it is timed, and printed beside the byte
// floor and the device copy measured in the same run (docs/kernel_lab.md says how to read it).
//
//   build/bench/kernels/relu [--n 67108864] [--dtype f32|bf16|f16[,...]] [--runs 100] [--warmup 10]
//                            [--json PATH]
//
// The floor: every element read once and written once, 2·n·s bytes for s-byte elements; one
// compare per element is nothing beside that, so bytes decide.
#include <cstdint>
#include <string>
#include <vector>

#include "lab.cuh"
#include "volt/core/shape.h"
#include "volt/kernels/elementwise.h"
#include "volt/kernels/random.h"
#include "volt/kernels/strided_loop.h"

namespace {

using namespace lab;

constexpr const char* kUsage =
    "relu forward: numbered versions checked against volt's CPU twin, timed beside the byte floor.\n"
    "  --n N          elements (default 67108864)\n"
    "  --dtype LIST   f32, bf16, f16, comma-separated (default f32)\n"
    "  --runs R       timed runs per version, the median printed (default 100)\n"
    "  --warmup W     untimed runs first (default 10)\n"
    "  --json PATH    also append one JSON line per timed row to PATH\n";

constexpr int kThreads = 256;

// volt's rule (kernels/elementwise.h): x < 0 ? 0 : x, in float, so NaN stays NaN and -0 stays
// -0. fmaxf(x, 0.f) would make 0 of both and fail the bitwise check.
template <class T>
__device__ inline T relu_of(T x) {
  const float v = to_float(x);
  return from_float<T>(v < 0.f ? 0.f : v);
}

__device__ inline int64_t thread_index() { return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ inline int64_t thread_count() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

// v1: one element per thread, n / 256 blocks of 256 threads. Each warp moves 128 bytes (f32) per
// load instruction: coalesced, but a quarter of what one instruction can move.
template <class T>
__global__ void relu_v1(T* y, const T* x, int64_t n) {
  const int64_t i = thread_index();
  if (i < n) y[i] = relu_of(x[i]);
}

// v2: grid-stride. A grid that fills every multiprocessor once, each thread walking the array
// with the grid's stride: the same accesses as v1, without launching and retiring a quarter of a
// million blocks.
template <class T>
__global__ void relu_v2(T* y, const T* x, int64_t n) {
  for (int64_t i = thread_index(); i < n; i += thread_count())
    y[i] = relu_of(x[i]);
}

// v3: 16-byte accesses. One load and one store move 4 f32 or 8 half elements, a quarter (an
// eighth) of v2's memory instructions for the same bytes; a scalar loop takes the last n % V.
template <class T>
__global__ void relu_v3(T* y, const T* x, int64_t n) {
  using P = Pack<T>;
  const int64_t packs = n / P::size;
  const auto* xp = reinterpret_cast<const P*>(x);
  auto* yp = reinterpret_cast<P*>(y);
  for (int64_t p = thread_index(); p < packs; p += thread_count()) {
    P v = xp[p];
#pragma unroll
    for (int k = 0; k < P::size; ++k)
      v.v[k] = relu_of(v.v[k]);
    yp[p] = v;
  }
  for (int64_t i = packs * P::size + thread_index(); i < n; i += thread_count())
    y[i] = relu_of(x[i]);
}

// v4: v3 with U packs per thread per trip, all U loads issued before the first is used, so each
// thread keeps U·16 bytes in flight instead of 16 (Little's law: bytes in flight = bandwidth x
// latency; a full H200 wants several MB in flight). Each of the U loads is still coalesced: pack
// p + u·stride of one thread sits beside the same pack of its neighbour.
template <class T, int U>
__global__ void relu_v4(T* y, const T* x, int64_t n) {
  using P = Pack<T>;
  const int64_t packs = n / P::size, stride = thread_count();
  const auto* xp = reinterpret_cast<const P*>(x);
  auto* yp = reinterpret_cast<P*>(y);
  int64_t p = thread_index();
  for (; p + (U - 1) * stride < packs; p += U * stride) {
    P v[U];
#pragma unroll
    for (int u = 0; u < U; ++u)
      v[u] = xp[p + u * stride];
#pragma unroll
    for (int u = 0; u < U; ++u) {
#pragma unroll
      for (int k = 0; k < P::size; ++k)
        v[u].v[k] = relu_of(v[u].v[k]);
      yp[p + u * stride] = v[u];
    }
  }
  for (; p < packs; p += stride) {
    P v = xp[p];
#pragma unroll
    for (int k = 0; k < P::size; ++k)
      v.v[k] = relu_of(v.v[k]);
    yp[p] = v;
  }
  for (int64_t i = packs * P::size + thread_index(); i < n; i += stride)
    y[i] = relu_of(x[i]);
}

struct Version {
  std::string name, impl;
  std::function<void()> launch;
};

#ifdef LAB_HAVE_CUDNN
// cudnnActivationForward(RELU) on [1, n, 1, 1]; volt's CUDA tests use it as their oracle.
class CudnnRelu {
 public:
  CudnnRelu(const Gpu& gpu, volt::DType dtype, int64_t n) {
    if (n > INT32_MAX) throw Failure("cuDNN takes int dimensions; n is larger");
    LAB_CUDNN(cudnnCreate(&handle_));
    LAB_CUDNN(cudnnSetStream(handle_, gpu.stream));
    LAB_CUDNN(cudnnCreateTensorDescriptor(&desc_));
    const cudnnDataType_t type = dtype == volt::DType::bf16  ? CUDNN_DATA_BFLOAT16
                                 : dtype == volt::DType::f16 ? CUDNN_DATA_HALF
                                                             : CUDNN_DATA_FLOAT;
    LAB_CUDNN(cudnnSetTensor4dDescriptor(desc_, CUDNN_TENSOR_NCHW, type, 1, static_cast<int>(n), 1, 1));
    LAB_CUDNN(cudnnCreateActivationDescriptor(&relu_));
    LAB_CUDNN(cudnnSetActivationDescriptor(relu_, CUDNN_ACTIVATION_RELU, CUDNN_PROPAGATE_NAN, 0.0));
  }
  ~CudnnRelu() {
    if (relu_) cudnnDestroyActivationDescriptor(relu_);
    if (desc_) cudnnDestroyTensorDescriptor(desc_);
    if (handle_) cudnnDestroy(handle_);
  }
  CudnnRelu(const CudnnRelu&) = delete;
  CudnnRelu& operator=(const CudnnRelu&) = delete;
  void operator()(void* y, const void* x) const {
    const float one = 1, zero = 0;  // float scaling factors for every non-double type
    LAB_CUDNN(cudnnActivationForward(handle_, relu_, &one, desc_, x, &zero, desc_, y));
  }

 private:
  cudnnHandle_t handle_ = nullptr;
  cudnnTensorDescriptor_t desc_ = nullptr;
  cudnnActivationDescriptor_t relu_ = nullptr;
};
#endif

template <class T>
int run_relu(const Gpu& gpu, Timer& timer, volt::DType dtype, const std::string& dtype_name, int64_t n,
             const std::string& json) {
  const auto bytes = static_cast<std::size_t>(n) * sizeof(T);
  Buffer x(bytes), y(bytes);

  // Normal values from volt's Philox fill, then the values where relu's rule shows: NaN, ±0,
  // ±inf, subnormals, ±1.
  volt::kernels::cuda::random_fill(volt::kernels::Distribution::normal, dtype, x.as(), n, 0.0, 1.0,
                                   volt::PhiloxArgs{20251201, 0, nullptr}, gpu.volt_stream());
  const float specials[] = {NAN, -0.0f, 0.0f, INFINITY, -INFINITY, -1e-40f, 1e-40f, -1.0f, 1.0f};
  std::vector<T> head;
  for (float v : specials)
    head.push_back(from_float<T>(v));
  to_device(x, head.data(), std::min<std::size_t>(head.size(), static_cast<std::size_t>(n)) * sizeof(T), gpu.stream);

  // The reference: volt's CPU twin on the same input, through the loop the op would build.
  std::vector<T> host_x(static_cast<std::size_t>(n)), want(host_x.size()), got(host_x.size());
  to_host(host_x.data(), x, bytes, gpu.stream);
  const volt::Shape shape{n}, strides{1};
  const volt::kernels::StridedLoop loop = volt::kernels::make_strided_loop(shape, {{shape, strides}, {shape, strides}});
  volt::kernels::cpu::unary(volt::kernels::Unary::relu, dtype, want.data(), host_x.data(), loop, 0.0, 0.0,
                            volt::Stream{});

  const double floor_bytes = 2.0 * static_cast<double>(bytes);
  Report report("relu", dtype_name, "n=" + std::to_string(n), floor_bytes,
                "read " + std::to_string(sizeof(T)) + " B + write " + std::to_string(sizeof(T)) + " B per element",
                copy_gbps(gpu, timer, bytes), json);

  auto* py = y.as<T>();
  const auto* px = x.as<const T>();
  const unsigned one_per_thread = static_cast<unsigned>((n + kThreads - 1) / kThreads);
  const unsigned resident = gpu.resident_blocks(kThreads);
  std::vector<Version> versions = {
      {"v1 one element per thread", "lab",
       [&] {
         relu_v1<<<one_per_thread, kThreads, 0, gpu.stream>>>(py, px, n);
         LAB_LAUNCH();
       }},
      {"v2 grid-stride", "lab",
       [&] {
         relu_v2<<<resident, kThreads, 0, gpu.stream>>>(py, px, n);
         LAB_LAUNCH();
       }},
      {"v3 16-byte loads/stores", "lab",
       [&] {
         relu_v3<<<resident, kThreads, 0, gpu.stream>>>(py, px, n);
         LAB_LAUNCH();
       }},
      {"v4 16-byte x4 in flight", "lab",
       [&] {
         relu_v4<T, 4><<<resident, kThreads, 0, gpu.stream>>>(py, px, n);
         LAB_LAUNCH();
       }},
      // volt's shipped kernel through its own entry point: the map kernel of
      // kernels/cuda/elementwise.cu (16-byte packs, grid-stride, 65535-block cap).
      {"v5 volt kernels::cuda::unary", "volt",
       [&] {
         volt::kernels::cuda::unary(volt::kernels::Unary::relu, dtype, py, px, loop, 0.0, 0.0, gpu.volt_stream());
       }},
  };

  for (const Version& v : versions) {
    y.poison(gpu.stream);
    v.launch();
    to_host(got.data(), y, bytes, gpu.stream);
    Check check;
    compare_exact(check, "y", got.data(), want.data(), n);
    if (!check.ok()) {
      report.failed(v.name, check.summary(true));
      continue;
    }
    report.row(v.name, v.impl, timer.time(v.launch), check.summary(true));
  }

#ifdef LAB_HAVE_CUDNN
  // cuDNN's relu is timed as the baseline; its disagreements with volt's rule (if any: at -0 or
  // NaN) are reported, not failed on: it is not volt's kernel.
  try {
    CudnnRelu relu(gpu, dtype, n);
    y.poison(gpu.stream);
    relu(y.as(), x.as());
    to_host(got.data(), y, bytes, gpu.stream);
    Check check;
    compare_exact(check, "y", got.data(), want.data(), n);
    const std::string info = check.ok() ? check.summary(true)
                                        : "not volt's rule at " + std::to_string(check.bad) +
                                              " elements (reported, not failed): " + check.first_bad;
    report.row("cuDNN cudnnActivationForward", "cudnn", timer.time([&] { relu(y.as(), x.as()); }), info);
  } catch (const Failure& e) {
    report.skipped("cuDNN cudnnActivationForward", e.what());
  }
#else
  report.skipped("cuDNN cudnnActivationForward", "built without cuDNN");
#endif
  return report.failures();
}

}  // namespace

int main(int argc, char** argv) {
  return run_program("relu", [&] {
    Flags flags(argc, argv, kUsage);
    const int64_t n = flags.integer("--n", int64_t{64} << 20);
    const std::string dtypes = flags.text("--dtype", "f32");
    const auto runs = static_cast<int>(flags.integer("--runs", 100));
    const auto warmup = static_cast<int>(flags.integer("--warmup", 10));
    const std::string json = flags.text("--json", "");
    flags.finish();
    if (n <= 0 || runs <= 0 || warmup < 0) throw Failure("--n and --runs must be positive, --warmup not negative");
    return run_dtypes("relu", dtypes, warmup, runs, [&]<class T>(Gpu& gpu, Timer& timer, volt::DType dtype) {
      return run_relu<T>(gpu, timer, dtype, volt::dtype_name(dtype), n, json);
    });
  });
}
