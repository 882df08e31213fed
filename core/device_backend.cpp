#include "volt/core/device_backend.h"

#include <cstring>

#include "volt/core/error.h"

namespace volt {
namespace {

// Written during static initialisation (before main), read afterwards.
DeviceBackend* backends[2] = {nullptr, nullptr};

constexpr const char* kNoCudaBackend =
    "no CUDA backend in this program (volt's CUDA backend is the volt::cuda library, built when volt is "
    "configured where nvcc is found; link it to use CUDA devices)";

}  // namespace

std::unique_ptr<GraphBackend> DeviceBackend::make_graph(int) { VOLT_FAIL("this device backend cannot capture graphs"); }

void register_device_backend(DeviceType type, DeviceBackend* backend) {
  VOLT_CHECK(type != DeviceType::cpu, "register_device_backend: the CPU needs no backend");
  backends[static_cast<int>(type)] = backend;
}

DeviceBackend* find_device_backend(DeviceType type) { return backends[static_cast<int>(type)]; }

std::string device_unusable_reason(Device device) {
  if (device.is_cpu()) return "";
  DeviceBackend* b = find_device_backend(device.type);
  if (b == nullptr) return kNoCudaBackend;
  const int count = b->device_count();
  if (count == 0) return b->unavailable_reason();
  if (device.index < 0 || device.index >= count)
    return device.str() + " does not exist: this machine has " + std::to_string(count) + " CUDA device(s)";
  return "";
}

void check_device_usable(const char* op, Device device) {
  const std::string why = device_unusable_reason(device);
  VOLT_CHECK(why.empty(), op, ": ", device, " cannot be used: ", why);
}

DeviceBackend& backend_of(Device device, const char* op) {
  check_device_usable(op, device);
  return *find_device_backend(device.type);
}

namespace {

// The registered backend of a non-CPU device, without checking the device again: for the
// launch path, whose op has checked it already (the backend still refuses a bad index).
DeviceBackend& registered_backend(Device device, const char* op) {
  DeviceBackend* b = find_device_backend(device.type);
  VOLT_CHECK(b != nullptr, op, ": ", device, " cannot be used: ", kNoCudaBackend);
  return *b;
}

}  // namespace

Allocator* allocator_for(Device device) {
  if (device.is_cpu()) return cpu_allocator();
  return backend_of(device, "allocate").allocator(device.index);
}

Stream current_stream(Device device) {
  if (device.is_cpu()) return Stream{};
  return registered_backend(device, "current_stream").current_stream(device.index);
}

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, std::size_t n) {
  if (dst_device.is_cpu() && src_device.is_cpu()) {
    if (n > 0) std::memcpy(dst, src, n);
    return;
  }
  const Device side = dst_device.is_cpu() ? src_device : dst_device;
  check_device_usable("copy", src_device);
  backend_of(side, "copy").copy_bytes(dst, dst_device, src, src_device, n);
}

DeviceGuard::DeviceGuard(Device device) {
  if (device.is_cpu()) return;
  backend_ = &registered_backend(device, "DeviceGuard");
  previous_ = backend_->exchange_device(device.index);
}

DeviceGuard::~DeviceGuard() {
  if (backend_ && previous_ >= 0) {
    try {
      backend_->exchange_device(previous_);
    } catch (const Error&) {
      // A destructor must not throw; the device stays as the guarded code left it.
    }
  }
}

namespace cuda {

bool is_available() { return device_count() > 0; }

int device_count() {
  DeviceBackend* b = find_device_backend(DeviceType::cuda);
  return b ? b->device_count() : 0;
}

std::string unavailable_reason() {
  DeviceBackend* b = find_device_backend(DeviceType::cuda);
  return b ? b->unavailable_reason() : kNoCudaBackend;
}

void synchronize(int index) { backend_of(Device::cuda(index), "cuda::synchronize").synchronize(index); }

}  // namespace cuda

}  // namespace volt
