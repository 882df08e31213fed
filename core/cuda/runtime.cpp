#include "volt/core/cuda/runtime.h"

#include <array>
#include <mutex>
#include <string>

namespace volt::cuda {

namespace detail {
void fail(cudaError_t err, const char* expr, const char* file, int line) {
  ::volt::detail::throw_error(
      file, line,
      std::string("CUDA error ") + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ") from " + expr);
}
}  // namespace detail

namespace {

constexpr int kMaxDevices = 64;

struct Discovery {
  int count = 0;
  std::string reason;
};

const Discovery& discovery() {
  static const Discovery d = [] {
    Discovery r;
    const cudaError_t err = cudaGetDeviceCount(&r.count);
    if (err != cudaSuccess) {
      r.count = 0;
      r.reason = std::string("no CUDA device: ") + cudaGetErrorString(err);
      cudaGetLastError();  // clear the sticky error so later calls report their own
    } else if (r.count == 0) {
      r.reason = "no CUDA device: the driver reports none";
    }
    return r;
  }();
  return d;
}

std::once_flag stream_once[kMaxDevices];
cudaStream_t default_streams[kMaxDevices] = {};
thread_local std::array<cudaStream_t, kMaxDevices> chosen_streams{};

}  // namespace

int detail::driver_device_count() { return discovery().count; }
std::string detail::driver_unavailable_reason() { return discovery().reason; }

void check_device(int index) {
  const int count = detail::driver_device_count();
  VOLT_CHECK(count > 0, "cuda:", index, " is not usable: ", detail::driver_unavailable_reason());
  VOLT_CHECK(index >= 0 && index < count && index < kMaxDevices, "cuda:", index, " does not exist: this machine has ",
             count, " CUDA device(s)");
}

int exchange_device(int index) {
  int previous = 0;
  VOLT_CUDA_CHECK(cudaGetDevice(&previous));
  if (previous != index) VOLT_CUDA_CHECK(cudaSetDevice(index));
  return previous;
}

DeviceGuard::DeviceGuard(int index) : previous_(exchange_device(index)) {}

DeviceGuard::~DeviceGuard() {
  int now = -1;
  if (cudaGetDevice(&now) == cudaSuccess && now != previous_) cudaSetDevice(previous_);
}

cudaStream_t current_stream(int device) {
  check_device(device);
  if (chosen_streams[device]) return chosen_streams[device];
  std::call_once(stream_once[device], [device] {
    DeviceGuard guard(device);
    VOLT_CUDA_CHECK(cudaStreamCreateWithFlags(&default_streams[device], cudaStreamNonBlocking));
  });
  return default_streams[device];
}

void set_current_stream(int device, cudaStream_t stream) {
  check_device(device);
  chosen_streams[device] = stream;
}

}  // namespace volt::cuda
