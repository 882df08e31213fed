// Fused optimizer updates over many tensors at once (one launch per dtype group). The learning
// rate and the step count are read from device memory, so a step needs no host→device traffic
// and stays valid when replayed from a CUDA graph; the step count is incremented on the device.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "volt/core/dtype.h"

namespace volt::kernels::cuda {

// One tensor of the update: parameter, gradient and state buffers (null when unused), n
// elements, all contiguous. Parameter and gradient are of `dtype`; the state buffers are of
// `dtype` for f32 and f64, and f32 for f16/bf16 parameters (computed in float, stored back).
// Tensors with n == 0 are skipped.
struct OptimTensor {
  void* param;
  const void* grad;
  void* buf1;  // SGD: momentum buffer; Adam: exp_avg
  void* buf2;  // Adam: exp_avg_sq
  int64_t n;
  bool fresh;  // SGD: buf1 was just created, so it takes the gradient itself (as the CPU's first step)
};

struct SgdArgs {
  double momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
};
// lr: f64 scalar on the device. SGD needs no step count: a tensor's `fresh` flag says whether its
// momentum buffer takes the gradient itself, as the CPU SGD decides per parameter.
void sgd_step(DType dtype, const std::vector<OptimTensor>& tensors, const double* lr, const SgdArgs& args,
              cudaStream_t stream);

struct AdamArgs {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool decoupled = false;  // AdamW
};
// Reads the step count *after* its increment (step_count_increment runs first).
void adam_step(DType dtype, const std::vector<OptimTensor>& tensors, const double* lr, const int64_t* step,
               const AdamArgs& args, cudaStream_t stream);
void step_count_increment(int64_t* step, cudaStream_t stream);

}  // namespace volt::kernels::cuda
