// Optimizers over one group of parameters, with PyTorch's update formulas and defaults.
// step() runs without recording a graph and updates parameters in place, on every device
// through one fused kernel per parameter dtype (kernels/optim.h) that reads the learning rate
// and the step count from the parameters' device: no host→device traffic, and a step on a GPU
// can be replayed from a CUDA graph.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "volt/core/tensor.h"
#include "volt/nn/module.h"

namespace volt::optim {

struct FusedStep;  // optimizer.cpp: gathers the fused kernels' arguments

using nn::StateDict;

class Optimizer {
 public:
  Optimizer(std::vector<Tensor> params, double lr);
  virtual ~Optimizer() = default;

  virtual void step() = 0;
  // Drops gradients (set_to_none, the default as in PyTorch ≥ 2.0) or zeroes them.
  void zero_grad(bool set_to_none = true);

  double lr() const { return lr_; }
  void set_lr(double lr);
  int64_t step_count() const { return step_count_; }
  const std::vector<Tensor>& params() const { return params_; }

  // Per-parameter state as tensors named "state.<i>.<buffer>", plus "step" and "lr", so a
  // checkpoint (safetensors) holds everything needed to resume bit for bit. State buffers are
  // of the parameter's dtype, f32 for f16/bf16 parameters.
  StateDict state_dict() const;
  void load_state_dict(const StateDict& state);

 protected:
  friend struct FusedStep;
  // Buffer `name` of parameter i, created as zeros on first use.
  Tensor& buffer(std::size_t i, const std::string& name);
  // The parameters' device, the same for all (an error otherwise).
  Device device() const;
  const Tensor& lr_device();    // f64 scalar on the parameters' device, kept equal to lr()
  const Tensor& step_device();  // i64 scalar there; Adam keeps it equal to step_count()

  std::vector<Tensor> params_;
  double lr_;
  int64_t step_count_ = 0;
  std::vector<std::map<std::string, Tensor>> state_;

 private:
  Tensor lr_device_, step_device_;
};

struct SGDOptions {
  double lr = 1e-3;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

// g = grad + wd·p; with momentum: b = g on the first step, else b = μ·b + (1-τ)·g; then
// g = g + μ·b (nesterov) or g = b; p -= lr·g.
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, SGDOptions options);
  SGD(std::vector<Tensor> params, double lr);  // libtorch's SGD(params, /*lr=*/0.1)
  void step() override;
  SGDOptions options;
};

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  // Adam: L2 added to the gradient; AdamW: decoupled (default 1e-2)
};

// m = β1·m + (1-β1)·g, v = β2·v + (1-β2)·g², p -= lr/(1-β1^t) · m / (√v/√(1-β2^t) + eps).
class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, AdamOptions options);
  Adam(std::vector<Tensor> params, double lr);
  void step() override;
  AdamOptions options;

 protected:
  void adam_step(bool decoupled_weight_decay);
};

// Adam with decoupled weight decay: p *= 1 - lr·wd before the Adam update.
class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, AdamOptions options);
  AdamW(std::vector<Tensor> params, double lr);  // with AdamW's default weight_decay, 1e-2
  void step() override { adam_step(true); }
};

inline AdamOptions adamw_defaults() {
  AdamOptions o;
  o.weight_decay = 1e-2;
  return o;
}

}  // namespace volt::optim
