// Autocast (PyTorch's torch.autocast), thread-local like grad mode. Inside an AutocastGuard for
// a device type, ops on tensors of that device run in the precision their kind wants:
//   in the autocast dtype (f16 or bf16): linear, matmul, mm, bmm. f32 inputs are cast; a leaf
//     that requires grad (a parameter) is cast once per outermost guard (the cast cache), and
//     its gradient flows back to it in f32;
//   in f32: softmax, log_softmax, cross_entropy, nll_loss, the regression and KL losses,
//     binary_cross_entropy_with_logits, layer_norm, norm, logsumexp, sum, exp, expm1, log,
//     log1p, pow, softplus: half inputs are cast up and the result is f32;
//   anything else (relu, dropout, the elementwise arithmetic) runs in the dtype it is given,
//     mixing dtypes by type promotion.
// binary_cross_entropy refuses to run under autocast, as PyTorch's does (its log clamps are
// not safe in half): use binary_cross_entropy_with_logits. A backward runs without autocast, in
// the dtypes the forward chose.
#pragma once

#include <optional>

#include "volt/core/device.h"
#include "volt/core/dtype.h"
#include "volt/core/tensor.h"

namespace volt {

bool is_autocast_enabled(DeviceType device_type);
// The dtype autocast casts to on that device type: by default bf16 on the CPU, f16 on CUDA.
DType get_autocast_dtype(DeviceType device_type);

class AutocastGuard {
 public:
  // dtype: f16 or bf16 (anything else is an error); CUDA needs a usable GPU and volt::cuda.
  explicit AutocastGuard(DeviceType device_type, std::optional<DType> dtype = std::nullopt, bool enabled = true);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  DeviceType type_;
  bool was_enabled_;
  DType was_dtype_;
};

namespace autocast {

// For the ops that run in the autocast dtype: t cast to it when autocast is on for t's device
// and t is f32 (f64 and half tensors, and integers, pass as they are).
Tensor to_lower(const Tensor& t);
// For the ops that run in f32: a half t cast to f32 when autocast is on for t's device.
Tensor to_f32(const Tensor& t);
// Whether autocast is on for t's device (an undefined t: no).
bool active_for(const Tensor& t);

// Turns autocast off for every device type for a scope: the backward runs under one.
class Suspend {
 public:
  Suspend();
  ~Suspend();
  Suspend(const Suspend&) = delete;
  Suspend& operator=(const Suspend&) = delete;

 private:
  bool was_[2];
};

}  // namespace autocast
}  // namespace volt
