// The CUDA runtime as volt uses it: checked calls, device discovery that explains itself,
// device guards, and one current stream per device (non-blocking, so a step can be captured
// as a CUDA graph). Part of the volt_cuda library; the queries every program can make
// (cuda::is_available(), device_count(), unavailable_reason(), synchronize()) are core's, in
// core/device_backend.h, and reach this file through the backend core/cuda/backend.cpp registers.
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#include "volt/core/device_backend.h"
#include "volt/core/error.h"
#include "volt/core/stream.h"

namespace volt::cuda {

namespace detail {
[[noreturn]] void fail(cudaError_t err, const char* expr, const char* file, int line);
// What the driver reported once, at the first question: the device count, or why there is none.
int driver_device_count();
std::string driver_unavailable_reason();
}  // namespace detail

// Every CUDA runtime call goes through this: a failure becomes a volt::Error with the call,
// the error's name and text.
#define VOLT_CUDA_CHECK(expr)                                                \
  do {                                                                       \
    const cudaError_t volt_cuda_err_ = (expr);                               \
    if (volt_cuda_err_ != cudaSuccess) [[unlikely]]                          \
      ::volt::cuda::detail::fail(volt_cuda_err_, #expr, __FILE__, __LINE__); \
  } while (0)
// After each kernel launch: configuration errors surface here, at the launch that made them.
#define VOLT_CUDA_CHECK_LAUNCH() VOLT_CUDA_CHECK(cudaGetLastError())

// Throws volt::Error unless `index` names a usable device.
void check_device(int index);

// Makes `index` the calling thread's current device; returns the one that was.
int exchange_device(int index);

// Makes `index` the current device for its lifetime.
class DeviceGuard {
 public:
  explicit DeviceGuard(int index);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
};

// The stream volt's kernels on `device` run on (this thread's; a per-device non-blocking
// stream unless set_current_stream chose another).
cudaStream_t current_stream(int device);
void set_current_stream(int device, cudaStream_t stream);

// The CUDA stream a core Stream of a CUDA device holds.
inline cudaStream_t native(Stream stream) { return static_cast<cudaStream_t>(stream.handle); }

}  // namespace volt::cuda
