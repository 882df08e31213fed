// How a device type other than the CPU plugs into core. core knows no CUDA: the CUDA backend
// library (volt_cuda, CMake target volt::cuda) implements DeviceBackend and registers it when it
// is linked into a program. A program without it computes on the CPU and gets a clear error
// for a CUDA tensor, so a CPU-only consumer needs no CUDA library.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "volt/core/allocator.h"
#include "volt/core/device.h"
#include "volt/core/device_graph.h"
#include "volt/core/stream.h"

namespace volt {

class DeviceBackend {
 public:
  virtual ~DeviceBackend() = default;
  // Usable devices; 0 when there is no device or no working driver.
  virtual int device_count() = 0;
  // Why device_count() is 0 ("no CUDA device: <driver message>"), or "" when it is not.
  virtual std::string unavailable_reason() = 0;
  virtual Allocator* allocator(int index) = 0;
  // The stream volt's kernels on device `index` are queued on (this thread's choice).
  virtual Stream current_stream(int index) = 0;
  // Makes `index` the calling thread's current device; returns the one that was.
  virtual int exchange_device(int index) = 0;
  // n bytes between two devices, at least one of them of this backend's type, ordered on the
  // current stream of that side; a copy to the host returns once the bytes are there.
  virtual void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, std::size_t n) = 0;
  // Waits for everything queued on the current stream of device `index`.
  virtual void synchronize(int index) = 0;
  // Graphs (core/device_graph.h): whether this backend has them, and a new, empty one.
  virtual bool can_capture_graphs() { return false; }
  virtual bool is_capturing(int /*index*/) { return false; }
  virtual std::unique_ptr<GraphBackend> make_graph(int index);
};

// Called once per device type, by the backend library's static initialiser.
void register_device_backend(DeviceType type, DeviceBackend* backend);
// The registered backend of `type`, or null.
DeviceBackend* find_device_backend(DeviceType type);

// Why kernels cannot run on `device`, or "" when they can: the CPU, or an existing, usable
// device of a backend linked into this program.
std::string device_unusable_reason(Device device);
// Throws volt::Error naming `op` and `device` with that reason.
void check_device_usable(const char* op, Device device);

// The backend of a non-CPU device after check_device_usable.
DeviceBackend& backend_of(Device device, const char* op);

Allocator* allocator_for(Device device);
Stream current_stream(Device device);
// n bytes from (src, src_device) to (dst, dst_device), any pair of devices.
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, std::size_t n);

// Makes `device` current for its lifetime (nothing to do for the CPU).
class DeviceGuard {
 public:
  explicit DeviceGuard(Device device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  DeviceBackend* backend_ = nullptr;
  int previous_ = -1;
};

// PyTorch's torch::cuda queries, answered whether or not the CUDA backend is linked in.
namespace cuda {
bool is_available();
int device_count();
// Why CUDA cannot be used here, or "" when it can.
std::string unavailable_reason();
// Waits for the work queued on device `index`'s current stream.
void synchronize(int index = 0);
}  // namespace cuda

}  // namespace volt
