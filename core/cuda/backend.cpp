// The CUDA DeviceBackend: how core reaches the CUDA runtime, the caching allocator and the
// copies without knowing CUDA. Registered when the volt_cuda library is linked in (CMake links
// it whole, so this initialiser is never dropped).
#include "volt/core/cuda/caching_allocator.h"
#include "volt/core/cuda/copy.h"
#include "volt/core/cuda/graph.h"
#include "volt/core/cuda/runtime.h"
#include "volt/core/device_backend.h"

namespace volt::cuda {
namespace {

class GraphOnDevice final : public GraphBackend {
 public:
  explicit GraphOnDevice(int index) : index_(index) {}
  void capture_begin() override { graph_.capture_begin(index_); }
  void capture_end() override { graph_.capture_end(); }
  void replay() override { graph_.replay(); }
  void reset() override { graph_.reset(); }
  bool captured() const override { return graph_.captured(); }

 private:
  int index_;
  CUDAGraph graph_;
};

class CudaBackend final : public DeviceBackend {
 public:
  int device_count() override { return detail::driver_device_count(); }
  std::string unavailable_reason() override { return detail::driver_unavailable_reason(); }
  Allocator* allocator(int index) override {
    check_device(index);
    return caching_allocator(index);
  }
  Stream current_stream(int index) override { return Stream{Device::cuda(index), cuda::current_stream(index)}; }
  int exchange_device(int index) override {
    check_device(index);
    return cuda::exchange_device(index);
  }
  void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, std::size_t n) override {
    cuda::copy_bytes(dst, dst_device, src, src_device, n);
  }
  void synchronize(int index) override { VOLT_CUDA_CHECK(cudaStreamSynchronize(cuda::current_stream(index))); }
  bool can_capture_graphs() override { return true; }
  bool is_capturing(int index) override {
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    VOLT_CUDA_CHECK(cudaStreamIsCapturing(cuda::current_stream(index), &status));
    return status != cudaStreamCaptureStatusNone;
  }
  std::unique_ptr<GraphBackend> make_graph(int index) override {
    check_device(index);
    return std::make_unique<GraphOnDevice>(index);
  }
};

const bool registered = [] {
  static CudaBackend backend;
  register_device_backend(DeviceType::cuda, &backend);
  return true;
}();

}  // namespace
}  // namespace volt::cuda
