// The optimizer family: SGD and Adam/AdamW updates over many tensors in one pass (one launch
// per group of tensors on a GPU). The learning rate and the step count are read from memory
// on the parameters' device, so a step needs no host→device traffic and stays valid when
// replayed from a CUDA graph; the step count is incremented there too.
//
// The formulas are PyTorch's, operation for operation in the same order and precision on both
// devices (float for f32/f16/bf16 parameters, double for f64), so the twins agree to rounding.
#pragma once

#include <cstdint>
#include <vector>

#include "volt/core/dtype.h"
#include "volt/core/stream.h"
#include "volt/kernels/dispatch.h"

namespace volt::kernels {

// One tensor of the update: parameter, gradient and state buffers (null when unused), n
// elements, all contiguous. Parameter and gradient are of the update's dtype; the state buffers
// are of that dtype for f32 and f64, and f32 for f16/bf16 parameters. Tensors with n == 0 are
// skipped.
struct OptimTensor {
  void* param;
  const void* grad;
  void* buf1;  // SGD: momentum buffer; Adam: exp_avg
  void* buf2;  // Adam: exp_avg_sq
  int64_t n;
  bool fresh;  // SGD: buf1 was just created, so it takes the gradient itself
};

// found_inf (GradScaler's flag on the parameters' device, or null): when it is non-zero the
// update is skipped, parameters and state untouched, without the host reading it.
struct SgdArgs {
  double momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
  const float* found_inf = nullptr;
};
struct AdamArgs {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool decoupled = false;  // AdamW
  const float* found_inf = nullptr;
};

// g = grad + wd·p; with momentum: b = g (fresh) or μ·b + (1-τ)·g, then g = g + μ·b (nesterov)
// or b; p -= lr·g. lr: an f64 scalar on the parameters' device.
using SgdStepFn = void(DType dtype, const std::vector<OptimTensor>& tensors, const double* lr, const SgdArgs& args,
                       Stream stream);
// (AdamW: p *= 1 - lr·wd | Adam: g += wd·p); m = β1·m + (1-β1)·g; v = β2·v + (1-β2)·g²;
// p -= lr/(1-β1^t) · m / (√v/√(1-β2^t) + eps), with t read from `step` *after* its increment
// (step_count_increment runs first).
using AdamStepFn = void(DType dtype, const std::vector<OptimTensor>& tensors, const double* lr, const int64_t* step,
                        const AdamArgs& args, Stream stream);
// ++*step, unless found_inf is given and non-zero.
using StepCountIncrementFn = void(int64_t* step, const float* found_inf, Stream stream);

namespace cpu {
SgdStepFn sgd_step;
AdamStepFn adam_step;
StepCountIncrementFn step_count_increment;
}  // namespace cpu

namespace cuda {
SgdStepFn sgd_step;
AdamStepFn adam_step;
StepCountIncrementFn step_count_increment;
}  // namespace cuda

extern Kernel<SgdStepFn> sgd_step;
extern Kernel<AdamStepFn> adam_step;
extern Kernel<StepCountIncrementFn> step_count_increment;

}  // namespace volt::kernels
