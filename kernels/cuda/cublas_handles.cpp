#include "volt/kernels/cuda/cublas_handles.h"

#include "volt/core/cuda/caching_allocator.h"
#include "volt/core/cuda/runtime.h"

namespace volt::kernels::cuda {

namespace detail {
void cublas_fail(cublasStatus_t status, const char* expr, const std::string& context, const char* file, int line) {
  std::string call = expr;
  call = call.substr(0, call.find('('));  // the function's name, not its arguments
  ::volt::detail::throw_error(file, line,
                              context + ": " + call + " failed with " + cublasGetStatusName(status) + " (" +
                                  cublasGetStatusString(status) + ")");
}
}  // namespace detail

namespace {
constexpr int kMaxDevices = 64;  // as volt::cuda's stream table
}  // namespace

struct DeviceHandles {
  std::mutex mutex;
  cublasHandle_t cublas = nullptr;
  cublasLtHandle_t lt = nullptr;
};

Workspace::Workspace(int device, std::size_t bytes)
    : allocator_(volt::cuda::caching_allocator(device)),
      bytes_(bytes),
      data_(bytes ? allocator_->allocate(bytes) : nullptr) {}

Workspace::~Workspace() { allocator_->deallocate(data_, bytes_); }

BlasLease::BlasLease(cudaStream_t stream) : stream_(stream) {
  VOLT_CUDA_CHECK(cudaGetDevice(&device_));
  VOLT_CHECK(device_ >= 0 && device_ < kMaxDevices, "cuBLAS: device ", device_, " is beyond volt's ", kMaxDevices);
  // The workspace is ordered on the allocator's stream (the current one); another stream would
  // race with the next user of the block.
  VOLT_CHECK(stream == volt::cuda::current_stream(device_),
             "cuBLAS: a product was asked to run on a stream other than cuda:", device_, "'s current stream");
  static auto* all = new DeviceHandles[kMaxDevices];  // never destroyed, see the header
  handles_ = &all[device_];
  lock_ = std::unique_lock(handles_->mutex);
}

cublasHandle_t BlasLease::cublas() {
  if (!handles_->cublas) {
    cublasHandle_t h = nullptr;
    VOLT_CUBLAS_CHECK(cublasCreate(&h), "cuBLAS on cuda:", device_);
    // Half-precision products reduce split-K partial sums in fp32, never in the output type
    // (DESIGN.md invariant 8). TF32 is not enabled here: gemm asks for it per call through the
    // compute type, so the default math mode keeps f32 products in full precision.
    VOLT_CUBLAS_CHECK(cublasSetMathMode(h, static_cast<cublasMath_t>(CUBLAS_DEFAULT_MATH |
                                                                     CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)),
                      "cuBLAS on cuda:", device_);
    handles_->cublas = h;
  }
  if (!workspace_) {
    // cublasSetStream resets the handle's workspace to cuBLAS's internal pool (cuBLAS docs,
    // cublasSetStream), so the workspace is set after the stream, on every lease.
    VOLT_CUBLAS_CHECK(cublasSetStream(handles_->cublas, stream_), "cuBLAS on cuda:", device_);
    workspace_.emplace(device_, kCublasWorkspaceBytes);
    VOLT_CUBLAS_CHECK(cublasSetWorkspace(handles_->cublas, workspace_->data(), workspace_->size()),
                      "cuBLAS on cuda:", device_);
  }
  return handles_->cublas;
}

cublasLtHandle_t BlasLease::lt() {
  if (!handles_->lt) {
    cublasLtHandle_t h = nullptr;
    VOLT_CUBLAS_CHECK(cublasLtCreate(&h), "cuBLASLt on cuda:", device_);
    handles_->lt = h;
  }
  return handles_->lt;
}

}  // namespace volt::kernels::cuda
