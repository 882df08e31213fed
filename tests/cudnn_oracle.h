// cuDNN as an independent oracle for volt's hand-written CUDA kernels (DESIGN.md: cuDNN is the
// reference for activation and softmax). Every cuDNN status is checked; a failure throws, which
// GoogleTest reports as a test failure with the call and cuDNN's message.
#pragma once

#include <cudnn.h>

#include <string>

#include "cuda_test_support.h"

namespace volt::testing {

inline void cudnn_check(cudnnStatus_t status, const char* expr) {
  if (status != CUDNN_STATUS_SUCCESS)
    throw Error(std::string("cuDNN error from ") + expr + ": " + cudnnGetErrorString(status));
}
#define VOLT_CUDNN_CHECK(expr) ::volt::testing::cudnn_check((expr), #expr)

// relu and softmax of contiguous CUDA tensors, on volt's current stream of cuda:0.
class CudnnOracle {
 public:
  CudnnOracle() {
    VOLT_CUDNN_CHECK(cudnnCreate(&handle_));
    VOLT_CUDNN_CHECK(cudnnSetStream(handle_, cuda::current_stream(0)));
    VOLT_CUDNN_CHECK(cudnnCreateTensorDescriptor(&desc_));
    VOLT_CUDNN_CHECK(cudnnCreateActivationDescriptor(&relu_));
    VOLT_CUDNN_CHECK(cudnnSetActivationDescriptor(relu_, CUDNN_ACTIVATION_RELU, CUDNN_PROPAGATE_NAN, 0.0));
  }
  ~CudnnOracle() {
    cudnnDestroyActivationDescriptor(relu_);
    cudnnDestroyTensorDescriptor(desc_);
    cudnnDestroy(handle_);
  }
  CudnnOracle(const CudnnOracle&) = delete;
  CudnnOracle& operator=(const CudnnOracle&) = delete;

  // x: n elements, viewed as NCHW [1, n, 1, 1].
  Tensor relu(const Tensor& x) {
    Tensor y = cuda_empty(x.shape(), x.dtype());
    describe(x.dtype(), 1, x.numel());
    Scale s(x.dtype());
    VOLT_CUDNN_CHECK(
        cudnnActivationForward(handle_, relu_, s.one(), desc_, x.data_ptr(), s.zero(), desc_, y.data_ptr()));
    return y;
  }

  // x: [rows, classes] as NCHW [rows, classes, 1, 1], softmax per row (CUDNN_SOFTMAX_MODE_INSTANCE).
  Tensor softmax(const Tensor& x, bool log) {
    Tensor y = cuda_empty(x.shape(), x.dtype());
    describe(x.dtype(), x.size(0), x.size(1));
    Scale s(x.dtype());
    VOLT_CUDNN_CHECK(cudnnSoftmaxForward(handle_, log ? CUDNN_SOFTMAX_LOG : CUDNN_SOFTMAX_ACCURATE,
                                         CUDNN_SOFTMAX_MODE_INSTANCE, s.one(), desc_, x.data_ptr(), s.zero(), desc_,
                                         y.data_ptr()));
    return y;
  }

 private:
  // cuDNN takes alpha and beta as double for double data, float otherwise.
  struct Scale {
    explicit Scale(DType t) : wide(t == DType::f64) {}
    const void* one() const { return wide ? static_cast<const void*>(&d1) : &f1; }
    const void* zero() const { return wide ? static_cast<const void*>(&d0) : &f0; }
    bool wide;
    float f1 = 1, f0 = 0;
    double d1 = 1, d0 = 0;
  };

  void describe(DType t, int64_t n, int64_t c) {
    cudnnDataType_t type = CUDNN_DATA_FLOAT;
    if (t == DType::f64) type = CUDNN_DATA_DOUBLE;
    if (t == DType::f16) type = CUDNN_DATA_HALF;
    if (t == DType::bf16) type = CUDNN_DATA_BFLOAT16;
    VOLT_CUDNN_CHECK(
        cudnnSetTensor4dDescriptor(desc_, CUDNN_TENSOR_NCHW, type, static_cast<int>(n), static_cast<int>(c), 1, 1));
  }

  cudnnHandle_t handle_ = nullptr;
  cudnnTensorDescriptor_t desc_ = nullptr;
  cudnnActivationDescriptor_t relu_ = nullptr;
};

}  // namespace volt::testing
