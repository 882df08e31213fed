#include "volt/core/cuda/copy.h"

#include <cstring>
#include <mutex>

#include "volt/core/cuda/runtime.h"

namespace volt::cuda {
namespace {

// One pinned buffer per device; an event marks when the last copy out of it has finished.
struct Staging {
  std::mutex mutex;
  void* buffer = nullptr;
  std::size_t size = 0;
  cudaEvent_t done = nullptr;

  void* acquire(int device, std::size_t n) {
    if (!done) {
      DeviceGuard guard(device);
      VOLT_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
    }
    VOLT_CUDA_CHECK(cudaEventSynchronize(done));  // the previous transfer has left the buffer
    if (n > size) {
      if (buffer) VOLT_CUDA_CHECK(cudaFreeHost(buffer));
      buffer = nullptr;
      VOLT_CUDA_CHECK(cudaHostAlloc(&buffer, n, cudaHostAllocDefault));
      size = n;
    }
    return buffer;
  }
};

Staging& staging(int device) {
  static auto* all = new Staging[64];  // never destroyed, like the allocator's caches
  return all[device];
}

}  // namespace

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, std::size_t n) {
  if (n == 0) return;
  if (dst_device.is_cuda() && src_device.is_cuda()) {
    const cudaStream_t stream = current_stream(dst_device.index);
    if (dst_device == src_device)
      VOLT_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, stream));
    else
      VOLT_CUDA_CHECK(cudaMemcpyPeerAsync(dst, dst_device.index, src, src_device.index, n, stream));
    return;
  }
  const int device = dst_device.is_cuda() ? dst_device.index : src_device.index;
  const cudaStream_t stream = current_stream(device);
  Staging& s = staging(device);
  std::lock_guard lock(s.mutex);
  void* pinned = s.acquire(device, n);
  if (dst_device.is_cuda()) {
    std::memcpy(pinned, src, n);
    VOLT_CUDA_CHECK(cudaMemcpyAsync(dst, pinned, n, cudaMemcpyHostToDevice, stream));
    VOLT_CUDA_CHECK(cudaEventRecord(s.done, stream));
  } else {
    VOLT_CUDA_CHECK(cudaMemcpyAsync(pinned, src, n, cudaMemcpyDeviceToHost, stream));
    VOLT_CUDA_CHECK(cudaEventRecord(s.done, stream));
    VOLT_CUDA_CHECK(cudaEventSynchronize(s.done));
    std::memcpy(dst, pinned, n);
  }
}

}  // namespace volt::cuda
