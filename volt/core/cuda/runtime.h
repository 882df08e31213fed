// The CUDA runtime as volt uses it: checked calls, device discovery that explains itself,
// device guards, and one current stream per device (non-blocking, so a step can be captured
// as a CUDA graph).
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#include "volt/core/error.h"

namespace volt::cuda {

namespace detail {
[[noreturn]] void fail(cudaError_t err, const char* expr, const char* file, int line);
}

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

// Usable devices; 0 when there is no device or no working driver.
int device_count();
bool is_available();
// Why CUDA is unusable ("no CUDA device: <driver message>"), or "" when it is usable.
std::string unavailable_reason();
// Throws volt::Error unless `index` names a usable device.
void check_device(int index);

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
// Waits for the current stream of `device`.
void synchronize(int device);

}  // namespace volt::cuda
