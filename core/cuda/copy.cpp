#include "volt/core/cuda/copy.h"

#include <cstring>
#include <mutex>

#include "volt/core/cuda/runtime.h"

namespace volt::cuda {
namespace {

// Pinned staging per device: a ring of buffers, each with an event marking when the copy that
// last used it has finished. A new copy waits only for the copy kSlots before it, so the host
// keeps several host→device copies queued instead of draining the stream on each one.
constexpr int kSlots = 4;

struct Slot {
  void* buffer = nullptr;
  std::size_t size = 0;
  cudaEvent_t done = nullptr;
};

struct Staging {
  std::mutex mutex;
  Slot slots[kSlots];
  int next = 0;

  Slot& acquire(int device, std::size_t n) {
    Slot& s = slots[next];
    next = (next + 1) % kSlots;
    if (!s.done) {
      DeviceGuard guard(device);
      VOLT_CUDA_CHECK(cudaEventCreateWithFlags(&s.done, cudaEventDisableTiming));
    }
    VOLT_CUDA_CHECK(cudaEventSynchronize(s.done));  // the slot's previous transfer has left it
    if (n > s.size) {
      if (s.buffer) VOLT_CUDA_CHECK(cudaFreeHost(s.buffer));
      s.buffer = nullptr;
      s.size = 0;
      VOLT_CUDA_CHECK(cudaHostAlloc(&s.buffer, n, cudaHostAllocDefault));
      s.size = n;
    }
    return s;
  }
};

Staging& staging(int device) {
  static auto* all = new Staging[64];  // never destroyed, like the allocator's caches
  return all[device];
}

// An event recorded on `stream` of `device`, destroyed once queued (CUDA keeps it until done).
cudaEvent_t record_on(int device, cudaStream_t stream) {
  DeviceGuard guard(device);
  cudaEvent_t e = nullptr;
  VOLT_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  VOLT_CUDA_CHECK(cudaEventRecord(e, stream));
  return e;
}

void wait_and_release(cudaStream_t stream, cudaEvent_t e) {
  VOLT_CUDA_CHECK(cudaStreamWaitEvent(stream, e, 0));
  VOLT_CUDA_CHECK(cudaEventDestroy(e));
}

}  // namespace

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, std::size_t n) {
  if (n == 0) return;
  if (dst_device.is_cuda() && src_device.is_cuda()) {
    const cudaStream_t dst_stream = current_stream(dst_device.index);
    if (dst_device == src_device) {
      VOLT_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, dst_stream));
      return;
    }
    // Across devices the copy runs on the destination's stream, after the work queued on the
    // source's stream; the source's stream then waits for the copy, so memory freed there (and
    // reused by its next allocation) is not overwritten while the copy still reads it.
    const cudaStream_t src_stream = current_stream(src_device.index);
    wait_and_release(dst_stream, record_on(src_device.index, src_stream));
    VOLT_CUDA_CHECK(cudaMemcpyPeerAsync(dst, dst_device.index, src, src_device.index, n, dst_stream));
    wait_and_release(src_stream, record_on(dst_device.index, dst_stream));
    return;
  }
  const int device = dst_device.is_cuda() ? dst_device.index : src_device.index;
  const cudaStream_t stream = current_stream(device);
  // A graph cannot hold the host's side of a copy (the staging buffer is filled, or read, by
  // the host now): refuse before a call that would invalidate the capture less clearly.
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  VOLT_CUDA_CHECK(cudaStreamIsCapturing(stream, &status));
  VOLT_CHECK(status == cudaStreamCaptureStatusNone, "a copy of ", n, " bytes between the host and cuda:", device,
             " inside a CUDA graph capture: a captured step cannot read or write host memory (item(), to(cpu), a "
             "host tensor's upload); move it out of the captured work");
  Staging& staging_area = staging(device);
  std::lock_guard lock(staging_area.mutex);
  Slot& slot = staging_area.acquire(device, n);
  if (dst_device.is_cuda()) {
    std::memcpy(slot.buffer, src, n);
    VOLT_CUDA_CHECK(cudaMemcpyAsync(dst, slot.buffer, n, cudaMemcpyHostToDevice, stream));
    VOLT_CUDA_CHECK(cudaEventRecord(slot.done, stream));
  } else {
    VOLT_CUDA_CHECK(cudaMemcpyAsync(slot.buffer, src, n, cudaMemcpyDeviceToHost, stream));
    VOLT_CUDA_CHECK(cudaEventRecord(slot.done, stream));
    VOLT_CUDA_CHECK(cudaEventSynchronize(slot.done));  // the host is about to read the bytes
    std::memcpy(dst, slot.buffer, n);
  }
}

}  // namespace volt::cuda
