// cuBLAS and cuBLASLt as volt's CUDA matmuls use them: checked calls, one handle of each per
// device (created on first use and never destroyed: at exit the CUDA runtime may already be
// torn down, the same reason the caching allocator leaks its caches), and workspaces taken
// from the caching allocator so that a step allocates nothing from the driver and can be
// captured as a CUDA graph.
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <mutex>
#include <optional>
#include <string>

#include "volt/core/allocator.h"
#include "volt/core/error.h"

namespace volt::kernels::cuda {

namespace detail {
[[noreturn]] void cublas_fail(cublasStatus_t status, const char* expr, const std::string& context, const char* file,
                              int line);
}

// Every cuBLAS/cuBLASLt call goes through this: a failure becomes a volt::Error naming the
// function, the status (cublasGetStatusName/String) and the streamed context (op, shapes, dtype).
#define VOLT_CUBLAS_CHECK(expr, ...)                                                                              \
  do {                                                                                                            \
    const cublasStatus_t volt_cublas_status_ = (expr);                                                            \
    if (volt_cublas_status_ != CUBLAS_STATUS_SUCCESS) [[unlikely]]                                                \
      ::volt::kernels::cuda::detail::cublas_fail(volt_cublas_status_, #expr, ::volt::detail::concat(__VA_ARGS__), \
                                                 __FILE__, __LINE__);                                             \
  } while (0)

// Device memory from the caching allocator for the duration of one library call. Freed blocks
// are reused only by later work on the same stream, so returning it right after the call has
// been enqueued is safe.
class Workspace {
 public:
  Workspace(int device, std::size_t bytes);
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  void* data() const { return data_; }
  std::size_t size() const { return bytes_; }

 private:
  Allocator* allocator_;
  std::size_t bytes_;
  void* data_;
};

struct DeviceHandles;

// Exclusive use of the current device's handles while one product is enqueued on `stream`.
// A cuBLAS handle carries its stream and workspace as state, so two threads must not set them
// at once: the lease holds the device's mutex (enqueueing is cheap; nothing waits on the GPU).
// `stream` must be the device's current stream, the one the caching allocator orders the
// workspace on.
class BlasLease {
 public:
  explicit BlasLease(cudaStream_t stream);
  BlasLease(const BlasLease&) = delete;
  BlasLease& operator=(const BlasLease&) = delete;

  int device() const { return device_; }
  cudaStream_t stream() const { return stream_; }
  // The cuBLAS handle, bound to the stream and to a kCublasWorkspaceBytes workspace.
  cublasHandle_t cublas();
  cublasLtHandle_t lt();

  // cuBLAS's own recommendation for Hopper (4 MiB suffices before it); one size keeps one
  // allocator size class warm.
  static constexpr std::size_t kCublasWorkspaceBytes = std::size_t{32} << 20;

 private:
  int device_ = -1;
  cudaStream_t stream_;
  DeviceHandles* handles_;
  std::unique_lock<std::mutex> lock_;
  std::optional<Workspace> workspace_;  // destroyed before the lock is released
};

}  // namespace volt::kernels::cuda
