// The kernel lab's common parts (bench/kernels/*.cu, docs/kernel_lab.md): checked CUDA and cuDNN
// calls, the command line, the storage types on both sides, device-event timing (warm-up, then
// the median of many runs, the L2 flushed before each), the device-copy ceiling measured in the
// same run, the comparison with volt's CPU twin, and the table every program prints.
//
// A program of the lab: open the GPU (or say why there is none and exit 2), then for each
// version validate it against the CPU twin before timing it, print its row beside the byte
// floor, and exit 1 if any version disagreed with the CPU.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>
#ifdef LAB_HAVE_CUDNN
#include <cudnn.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "volt/core/cuda/runtime.h"
#include "volt/core/device.h"
#include "volt/core/device_backend.h"
#include "volt/core/dtype.h"
#include "volt/core/stream.h"

namespace lab {

// ---- failures ----------------------------------------------------------------------------------

// Thrown by every failed CUDA or cuDNN call; main prints it and exits 1.
class Failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline void check_cuda(cudaError_t err, const char* expr, const char* file, int line) {
  if (err != cudaSuccess)
    throw Failure(std::string(file) + ":" + std::to_string(line) + ": " + expr + " failed: " + cudaGetErrorName(err) +
                  " (" + cudaGetErrorString(err) + ")");
}
#define LAB_CUDA(expr) ::lab::check_cuda((expr), #expr, __FILE__, __LINE__)
// After each kernel launch: a bad configuration surfaces at the launch that made it.
#define LAB_LAUNCH() LAB_CUDA(cudaGetLastError())

#ifdef LAB_HAVE_CUDNN
inline void check_cudnn(cudnnStatus_t status, const char* expr, const char* file, int line) {
  if (status != CUDNN_STATUS_SUCCESS)
    throw Failure(std::string(file) + ":" + std::to_string(line) + ": " + expr +
                  " failed: " + cudnnGetErrorString(status));
}
#define LAB_CUDNN(expr) ::lab::check_cudnn((expr), #expr, __FILE__, __LINE__)
#endif

// ---- the command line ----------------------------------------------------------------------------

// --name value pairs; --help prints the usage. Unknown flags are an error.
class Flags {
 public:
  Flags(int argc, char** argv, std::string usage) : usage_(std::move(usage)) {
    for (int i = 1; i < argc; ++i) {
      const std::string flag = argv[i];
      if (flag == "--help" || flag == "-h") {
        std::printf("%s", usage_.c_str());
        std::exit(0);
      }
      if (flag.rfind("--", 0) != 0 || i + 1 >= argc)
        throw Failure("expected --flag value, got '" + flag + "' (see --help)");
      values_[flag] = argv[++i];
    }
  }
  int64_t integer(const std::string& name, int64_t fallback) {
    const auto v = take(name);
    if (!v) return fallback;
    try {
      std::size_t used = 0;
      const int64_t x = std::stoll(*v, &used);
      if (used == v->size()) return x;
    } catch (const std::exception&) {
    }
    throw Failure(name + " expects an integer, got '" + *v + "'");
  }
  double real(const std::string& name, double fallback) {
    const auto v = take(name);
    if (!v) return fallback;
    try {
      std::size_t used = 0;
      const double x = std::stod(*v, &used);
      if (used == v->size()) return x;
    } catch (const std::exception&) {
    }
    throw Failure(name + " expects a number, got '" + *v + "'");
  }
  std::string text(const std::string& name, const std::string& fallback) {
    const auto v = take(name);
    return v ? *v : fallback;
  }
  // Call after reading every flag: a flag nobody read is a typo.
  void finish() const {
    for (const auto& [flag, value] : values_)
      if (!read_.count(flag)) throw Failure("unknown flag " + flag + " (see --help)");
  }

 private:
  const std::string* take(const std::string& name) {
    read_[name] = true;
    const auto it = values_.find(name);
    return it == values_.end() ? nullptr : &it->second;
  }
  std::string usage_;
  std::map<std::string, std::string> values_;
  std::map<std::string, bool> read_;
};

// "f32,bf16" -> {"f32", "bf16"}.
inline std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    const std::size_t comma = s.find(',', start);
    const std::size_t end = comma == std::string::npos ? s.size() : comma;
    if (end > start) out.push_back(s.substr(start, end - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// ---- storage types -----------------------------------------------------------------------------
// float, __nv_bfloat16 and __half on both sides; the half types have the bit layout of the CPU
// kernels' Eigen types, so a buffer computed on either device reads the same on the other.
// Conversions round to nearest even, as volt's kernels do (invariant 8: compute in float).

template <class T>
__host__ __device__ inline float to_float(T x) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>)
    return __bfloat162float(x);
  else if constexpr (std::is_same_v<T, __half>)
    return __half2float(x);
  else
    return x;
}
template <class T>
__host__ __device__ inline T from_float(float x) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>)
    return __float2bfloat16_rn(x);
  else if constexpr (std::is_same_v<T, __half>)
    return __float2half_rn(x);
  else
    return x;
}

inline volt::DType parse_dtype(const std::string& name) {
  if (name == "f32") return volt::DType::f32;
  if (name == "bf16") return volt::DType::bf16;
  if (name == "f16") return volt::DType::f16;
  throw Failure("--dtype expects f32, bf16 or f16, got '" + name + "'");
}

// f.operator()<T>() with T the storage type of dtype.
template <class F>
void with_dtype(volt::DType dtype, F&& f) {
  switch (dtype) {
    case volt::DType::f32:
      return f.template operator()<float>();
    case volt::DType::bf16:
      return f.template operator()<__nv_bfloat16>();
    case volt::DType::f16:
      return f.template operator()<__half>();
    default:
      throw Failure(std::string("the lab has no kernels for ") + volt::dtype_name(dtype));
  }
}

// V elements of T moved by one 16-byte load or store.
template <class T, int V = 16 / static_cast<int>(sizeof(T))>
struct alignas(16) Pack {
  static constexpr int size = V;
  T v[V];
};

// ---- the GPU -----------------------------------------------------------------------------------

struct Gpu {
  cudaDeviceProp prop{};
  cudaStream_t stream = nullptr;  // volt's current stream of cuda:0: every kernel, copy and event goes here
  volt::Stream volt_stream() const { return volt::Stream{volt::Device::cuda(0), stream}; }
  int sms() const { return prop.multiProcessorCount; }
  // Blocks of `threads` that fill every multiprocessor once, for the grid-stride versions.
  unsigned resident_blocks(int threads) const {
    return static_cast<unsigned>(prop.multiProcessorCount * (prop.maxThreadsPerMultiProcessor / threads));
  }
};

// Opens cuda:0 and prints what it is; false (after saying why on stderr) when there is no
// usable GPU, so main can exit 2 instead of crashing at the first allocation.
inline bool open_gpu(const char* program, Gpu& gpu) {
  if (!volt::cuda::is_available()) {
    std::fprintf(stderr, "%s: no usable CUDA GPU, nothing to time: %s\n", program,
                 volt::cuda::unavailable_reason().c_str());
    return false;
  }
  LAB_CUDA(cudaSetDevice(0));
  LAB_CUDA(cudaGetDeviceProperties(&gpu.prop, 0));
  gpu.stream = volt::cuda::current_stream(0);
  int runtime = 0, driver = 0;
  LAB_CUDA(cudaRuntimeGetVersion(&runtime));
  LAB_CUDA(cudaDriverGetVersion(&driver));
  std::printf("%s on %s (sm_%d%d, %d SMs, %.0f MB L2, %.1f GB), CUDA runtime %d, driver %d\n", program, gpu.prop.name,
              gpu.prop.major, gpu.prop.minor, gpu.prop.multiProcessorCount, gpu.prop.l2CacheSize / 1e6,
              static_cast<double>(gpu.prop.totalGlobalMem) / 1e9, runtime, driver);
  return true;
}

// A device allocation, freed at scope exit.
class Buffer {
 public:
  explicit Buffer(std::size_t bytes) : bytes_(bytes) { LAB_CUDA(cudaMalloc(&ptr_, std::max<std::size_t>(bytes, 1))); }
  ~Buffer() { cudaFree(ptr_); }  // no throw from a destructor; a failed free is reported by nothing else
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  template <class T = void>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  std::size_t bytes() const { return bytes_; }
  // Every byte 0xFF: NaN in each floating type, so an element a kernel forgot reads as wrong.
  void poison(cudaStream_t s) const { LAB_CUDA(cudaMemsetAsync(ptr_, 0xFF, bytes_, s)); }

 private:
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
};

// count bytes of device memory from `offset` to the host (waits for the stream first).
inline void to_host(void* dst, const Buffer& src, std::size_t bytes, cudaStream_t s, std::size_t offset = 0) {
  LAB_CUDA(cudaMemcpyAsync(dst, src.as<char>() + offset, bytes, cudaMemcpyDeviceToHost, s));
  LAB_CUDA(cudaStreamSynchronize(s));
}
inline void to_device(Buffer& dst, const void* src, std::size_t bytes, cudaStream_t s, std::size_t offset = 0) {
  LAB_CUDA(cudaMemcpyAsync(dst.as<char>() + offset, src, bytes, cudaMemcpyHostToDevice, s));
  LAB_CUDA(cudaStreamSynchronize(s));
}

// ---- timing ------------------------------------------------------------------------------------

struct Timing {
  double median_us = 0, p10_us = 0, p90_us = 0;
};

// Times a launch with CUDA events on the lab's stream: `warmup` untimed runs, then `runs` timed
// ones, each after an untimed write of twice the L2's size, so no run starts with the last one's
// data in cache. The median is what the table prints; p10-p90 says how steady it was.
class Timer {
 public:
  Timer(const Gpu& gpu, int warmup, int runs)
      : gpu_(gpu),
        warmup_(warmup),
        runs_(std::max(runs, 1)),
        flush_(2 * static_cast<std::size_t>(gpu.prop.l2CacheSize)) {}

  Timing time(const std::function<void()>& launch) {
    for (int i = 0; i < warmup_; ++i)
      launch();
    std::vector<cudaEvent_t> events(2 * static_cast<std::size_t>(runs_));
    for (auto& e : events)
      LAB_CUDA(cudaEventCreate(&e));
    for (int i = 0; i < runs_; ++i) {
      LAB_CUDA(cudaMemsetAsync(flush_.as(), i & 0xFF, flush_.bytes(), gpu_.stream));
      LAB_CUDA(cudaEventRecord(events[2 * i], gpu_.stream));
      launch();
      LAB_CUDA(cudaEventRecord(events[2 * i + 1], gpu_.stream));
    }
    LAB_CUDA(cudaStreamSynchronize(gpu_.stream));
    std::vector<double> us(static_cast<std::size_t>(runs_));
    for (int i = 0; i < runs_; ++i) {
      float ms = 0;
      LAB_CUDA(cudaEventElapsedTime(&ms, events[2 * i], events[2 * i + 1]));
      us[i] = 1000.0 * ms;
    }
    for (auto& e : events)
      LAB_CUDA(cudaEventDestroy(e));
    std::sort(us.begin(), us.end());
    auto at = [&](double q) { return us[static_cast<std::size_t>(q * static_cast<double>(us.size() - 1) + 0.5)]; };
    return {at(0.5), at(0.1), at(0.9)};
  }

 private:
  const Gpu& gpu_;
  int warmup_, runs_;
  Buffer flush_;
};

// The end of every lab program's main: the dtype list parsed (before the GPU, so a bad flag is
// said without one), the GPU opened, `run.template operator()<T>(gpu, timer, dtype)` for each
// dtype (T its storage type; it returns the versions that disagreed), and the exit code: 2
// without a usable GPU, 1 if a version disagreed with volt's CPU twin, else 0.
template <class F>
int run_dtypes(const char* program, const std::string& dtypes, int warmup, int runs, F&& run) {
  std::vector<volt::DType> types;
  for (const std::string& name : split(dtypes))
    types.push_back(parse_dtype(name));
  Gpu gpu;
  if (!open_gpu(program, gpu)) return 2;
  Timer timer(gpu, warmup, runs);
  int failures = 0;
  for (const volt::DType dtype : types)
    with_dtype(dtype, [&]<class T>() { failures += run.template operator()<T>(gpu, timer, dtype); });
  if (failures > 0) {
    std::fprintf(stderr, "%s: %d version(s) disagreed with volt's CPU twin\n", program, failures);
    return 1;
  }
  return 0;
}

// The ceiling the table divides by: a device-to-device cudaMemcpyAsync of `bytes`, counting the
// bytes read and the bytes written, timed like the kernels.
inline double copy_gbps(const Gpu& gpu, Timer& timer, std::size_t bytes) {
  Buffer a(bytes), b(bytes);
  LAB_CUDA(cudaMemsetAsync(a.as(), 0x5A, bytes, gpu.stream));
  const Timing t =
      timer.time([&] { LAB_CUDA(cudaMemcpyAsync(b.as(), a.as(), bytes, cudaMemcpyDeviceToDevice, gpu.stream)); });
  return 2.0 * static_cast<double>(bytes) / (t.median_us * 1e3);
}

// ---- checking against the CPU twin -------------------------------------------------------------

// The worst element over every array compared for one version.
struct Check {
  double max_abs = 0, max_rel = 0;
  int64_t compared = 0, bad = 0;
  std::string first_bad;  // "grad[12345]: got ... want ..."

  bool ok() const { return bad == 0 && compared > 0; }
  void note(const char* what, int64_t i, double got, double want, bool wrong) {
    ++compared;
    const double diff = std::fabs(got - want);
    if (std::isfinite(diff)) {
      max_abs = std::max(max_abs, diff);
      if (want != 0) max_rel = std::max(max_rel, diff / std::fabs(want));
    }
    if (wrong && bad++ == 0) {
      char text[160];
      std::snprintf(text, sizeof text, "%s[%lld]: got %.9g want %.9g", what, static_cast<long long>(i), got, want);
      first_bad = text;
    }
  }
  // "exact, 67108864 elements" / "max abs 1.2e-07, rel 3.4e-07" / "FAIL: 3 of 512 ...".
  std::string summary(bool exact) const {
    char text[320];
    if (compared == 0)
      std::snprintf(text, sizeof text, "FAIL: nothing compared");
    else if (bad > 0)
      std::snprintf(text, sizeof text, "FAIL: %lld of %lld differ, max abs %.2g, rel %.2g; first %s",
                    static_cast<long long>(bad), static_cast<long long>(compared), max_abs, max_rel, first_bad.c_str());
    else if (exact)
      std::snprintf(text, sizeof text, "exact (%lld elements)", static_cast<long long>(compared));
    else
      std::snprintf(text, sizeof text, "max abs %.2g, rel %.2g", max_abs, max_rel);
    return text;
  }
};

template <class T>
bool same_bits(T a, T b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

// Bit for bit; two NaNs agree (a float NaN converted to a half type may take another payload).
template <class T>
void compare_exact(Check& check, const char* what, const T* got, const T* want, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = to_float(got[i]), w = to_float(want[i]);
    const bool agree = same_bits(got[i], want[i]) || (std::isnan(g) && std::isnan(w));
    check.note(what, i, g, w, !agree);
  }
}

// |got - want| <= atol + rtol·|want|; a NaN on either side is wrong (the lab's inputs have none).
template <class T>
void compare_close(Check& check, const char* what, const T* got, const T* want, int64_t n, double rtol, double atol) {
  for (int64_t i = 0; i < n; ++i) {
    const double g = to_float(got[i]), w = to_float(want[i]);
    const bool close = std::fabs(g - w) <= atol + rtol * std::fabs(w);  // false for NaN
    check.note(what, i, g, w, !close);
  }
}

// ---- the table ---------------------------------------------------------------------------------

// One op at one dtype and size: its floor, the copy ceiling, and a row per version.
//   µs       median of the timed runs (CUDA events)
//   p10-p90  the spread of those runs, in % of the median
//   GB/s     floor bytes over the median: the rate the op would need to move only what it must
//   %copy    that rate over the device copy's read+write rate, measured in the same run
//   ×floor   the median over the floor time (floor bytes at the copy's rate): 1.00 is as fast
//            as a copy of the same bytes
class Report {
 public:
  Report(std::string op, std::string dtype, std::string shape, double floor_bytes, std::string floor_what,
         double copy_gbps, std::string json_path)
      : op_(std::move(op)),
        dtype_(std::move(dtype)),
        shape_(std::move(shape)),
        floor_bytes_(floor_bytes),
        copy_gbps_(copy_gbps),
        json_(std::move(json_path)) {
    const double floor_us = floor_bytes_ / (copy_gbps_ * 1e3);
    std::printf("\n%s %s %s\n", op_.c_str(), dtype_.c_str(), shape_.c_str());
    std::printf("  floor: %.1f MB (%s)\n", floor_bytes_ / 1e6, floor_what.c_str());
    std::printf("  device copy: %.0f GB/s counting read + written bytes, so the floor is %.1f us\n", copy_gbps_,
                floor_us);
    std::printf("  %-34s %10s %8s %8s %6s %7s  %s\n", "version", "us", "p10-p90", "GB/s", "%copy", "xfloor",
                "check against volt's CPU twin");
  }

  // impl: "lab" (a version written here), "volt" (volt's shipped kernel) or "cudnn".
  void row(const std::string& version, const std::string& impl, const Timing& t, const std::string& check) {
    const double gbps = floor_bytes_ / (t.median_us * 1e3);
    const double spread = t.median_us > 0 ? 100.0 * (t.p90_us - t.p10_us) / t.median_us : 0;
    std::printf("  %-34s %10.1f %7.1f%% %8.0f %6.1f %7.2f  %s\n", version.c_str(), t.median_us, spread, gbps,
                100.0 * gbps / copy_gbps_, copy_gbps_ / gbps, check.c_str());
    std::fflush(stdout);
    if (!json_.empty()) {
      std::ofstream out(json_, std::ios::app);
      char line[768];
      std::snprintf(line, sizeof line,
                    "{\"op\": \"%s\", \"dtype\": \"%s\", \"shape\": \"%s\", \"version\": \"%s\", \"impl\": \"%s\", "
                    "\"us\": %.3f, \"p10_us\": %.3f, \"p90_us\": %.3f, \"floor_bytes\": %.0f, \"gbps\": %.1f, "
                    "\"copy_gbps\": %.1f, \"x_floor\": %.3f}\n",
                    op_.c_str(), dtype_.c_str(), shape_.c_str(), version.c_str(), impl.c_str(), t.median_us, t.p10_us,
                    t.p90_us, floor_bytes_, gbps, copy_gbps_, copy_gbps_ / gbps);
      out << line;
      if (!out) throw Failure("cannot write " + json_);
    }
  }
  // A version that did not pass its check: not timed, and the program will exit 1.
  void failed(const std::string& version, const std::string& check) {
    failures_ += 1;
    std::printf("  %-34s %10s %8s %8s %6s %7s  %s\n", version.c_str(), "-", "-", "-", "-", "-", check.c_str());
    std::fflush(stdout);
  }
  void skipped(const std::string& version, const std::string& why) {
    std::printf("  %-34s %10s %8s %8s %6s %7s  skipped: %s\n", version.c_str(), "-", "-", "-", "-", "-", why.c_str());
    std::fflush(stdout);
  }
  int failures() const { return failures_; }

 private:
  std::string op_, dtype_, shape_;
  double floor_bytes_, copy_gbps_;
  std::string json_;
  int failures_ = 0;
};

// Counts the elements that are not finite in n values of T (after a poisoned run: the ones no
// thread wrote).
template <class T>
__global__ void count_nonfinite_kernel(const T* x, int64_t n, unsigned long long* count) {
  unsigned long long mine = 0;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    mine += isfinite(to_float(x[i])) ? 0 : 1;
  if (mine) atomicAdd(count, mine);
}
template <class T>
unsigned long long count_nonfinite(const Gpu& gpu, const T* x, int64_t n) {
  Buffer count(sizeof(unsigned long long));
  LAB_CUDA(cudaMemsetAsync(count.as(), 0, sizeof(unsigned long long), gpu.stream));
  count_nonfinite_kernel<<<gpu.resident_blocks(256), 256, 0, gpu.stream>>>(x, n, count.as<unsigned long long>());
  LAB_LAUNCH();
  unsigned long long host = 0;
  to_host(&host, count, sizeof host, gpu.stream);
  return host;
}

// The body of every lab program's main: runs `body`, turns a thrown failure into a message and
// exit code 1.
inline int run_program(const char* program, const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    return 1;
  }
}

}  // namespace lab
