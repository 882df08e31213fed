// Optimizers with PyTorch's update formulas, defaults and parameter groups. step() runs without
// recording a graph and updates parameters in place, reading each group's learning rate and
// the step count from the parameters' device: no host→device traffic, and a step on a GPU can
// be replayed from a CUDA graph. SGD, Adam and AdamW run one fused kernel per group and dtype
// (kernels/optim.h); RMSprop, Adagrad and Adam's amsgrad run a few elementwise ops per
// parameter.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "volt/core/tensor.h"
#include "volt/nn/module.h"

namespace volt::optim {

struct FusedStep;  // optimizer.cpp: gathers the fused kernels' arguments

using nn::StateDict;

// An option with libtorch's two accessors: o.lr() reads it, o.lr(0.1) sets it and returns the
// options, so that they chain in any order: SGDOptions(0.1).nesterov(true).momentum(0.9).
#define VOLT_OPTION(T, name)                \
 public:                                    \
  auto& name(const T& value) {              \
    name##_ = value;                        \
    return *this;                           \
  }                                         \
  const T& name() const { return name##_; } \
                                            \
 private:                                   \
  T name##_

// Parameters with their own learning rate and weight decay (PyTorch's param_groups); unset,
// they take the optimizer's options. Once the optimizer holds the group both are set, and
// changing group.lr takes effect at the next step.
struct ParamGroup {
  ParamGroup(std::vector<Tensor> params, std::optional<double> lr = std::nullopt,
             std::optional<double> weight_decay = std::nullopt)
      : params(std::move(params)), lr(lr), weight_decay(weight_decay) {}
  std::vector<Tensor> params;
  std::optional<double> lr, weight_decay;
};

class Optimizer {
 public:
  Optimizer(std::vector<ParamGroup> groups, double lr, double weight_decay);
  virtual ~Optimizer() = default;

  virtual void step() = 0;
  // The step GradScaler takes: skipped where the found_inf flag (an f32 scalar on the
  // parameters' device) is non-zero. SGD, Adam and AdamW pass the flag to their kernels, so
  // the host never reads it; the others (and amsgrad) read it once.
  virtual void step_unless_found_inf(const Tensor& found_inf);
  // Drops gradients (set_to_none, the default as in PyTorch ≥ 2.0) or zeroes them.
  void zero_grad(bool set_to_none = true);
  // Whether a step (under a GradScaler too) is device work alone, reading its learning rate and
  // step count from device memory, so that a CUDA graph can replay it: SGD, Adam and AdamW
  // (without amsgrad), whose fused kernels take everything that changes by pointer.
  virtual bool capturable() const { return false; }
  // A step replayed from a CUDA graph: the graph counted it on the device; this counts it on
  // the host (step_count()).
  void count_replayed_step() { ++step_count_; }
  // Writes each group's lr to its device scalar now where it changed without set_lr (assigned
  // to param_groups()[g].lr): a replayed graph reads the scalar and runs no step() to write it.
  void sync_lr_to_device();
  // After a CUDA graph capture that failed: the steps it counted on the host never ran.
  void restore_step_count(int64_t steps) { step_count_ = steps; }

  double lr() const { return groups_[0].lr.value(); }  // the first group's
  void set_lr(double lr);                              // every group's
  // One group's, written to its device scalar now (as set_lr), so that a step replayed from a
  // CUDA graph reads it; assigning param_groups()[g].lr takes effect at the next step() call.
  void set_lr(std::size_t group, double lr);
  // Steps taken (under a GradScaler: attempted; the state dict holds the device's count of
  // those not skipped, which Adam's bias corrections use).
  int64_t step_count() const { return step_count_; }
  const std::vector<Tensor>& params() const { return params_; }  // every group's, in order
  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }

  // Per-parameter state as tensors named "state.<i>.<buffer>" (i counting parameters over all
  // groups), "step", "lr" (the first group's) and "param_groups.<g>.lr", so a checkpoint
  // (safetensors) holds everything needed to resume bit for bit. State buffers are of the
  // parameter's dtype, f32 for f16/bf16 parameters.
  StateDict state_dict() const;
  void load_state_dict(const StateDict& state);

 protected:
  friend struct FusedStep;
  // Buffer `name` of parameter i, created filled with `initial` on first use.
  Tensor& buffer(std::size_t i, const std::string& name, double initial = 0.0);
  // The parameters' device, the same for all (an error otherwise).
  Device device() const;
  const Tensor& lr_device(std::size_t group);  // f64 scalar on the parameters' device, = group lr
  const Tensor& step_device();                 // i64 scalar there, kept equal to step_count()
  // Adds one to the step count on the device (first thing in a step that reads t).
  void count_step_on_device();
  // GradScaler's flag for the step being taken (null outside step_unless_found_inf).
  const float* found_inf() const { return found_inf_.defined() ? found_inf_.data_ptr<float>() : nullptr; }
  // The fused optimizers' step_unless_found_inf: step() with the flag handed to its kernels.
  void step_with_flag(const Tensor& found_inf);
  std::size_t group_of(std::size_t i) const { return group_of_[i]; }
  double weight_decay(std::size_t group) const { return groups_[group].weight_decay.value(); }

  // For the optimizers made of tensor ops: f(i, p, g) for every parameter i with a gradient,
  // p and g in the state dtype (p a working copy written back after f where it is a half or
  // not contiguous), under no grad; then the step is counted.
  template <class F>
  void for_each_update(const F& f, bool counted_on_device);
  // Counts the step: on the host always; on the device too unless the step did (Adam, Adagrad),
  // once there is a device count (a GradScaler's step makes one, which then skips with it).
  void finish_step(bool counted_on_device = false);

  std::vector<Tensor> params_;
  int64_t step_count_ = 0;
  std::vector<std::map<std::string, Tensor>> state_;

 private:
  std::vector<ParamGroup> groups_;
  std::vector<std::size_t> group_of_;
  std::vector<Tensor> lr_device_;
  std::vector<double> lr_written_;
  Tensor step_device_;
  Tensor found_inf_;
};

class SGDOptions {
 public:
  SGDOptions(double lr = 1e-3) : lr_(lr) {}  // implicit, as libtorch's: SGD(params, 0.1)
  VOLT_OPTION(double, lr);
  VOLT_OPTION(double, momentum) = 0.0;
  VOLT_OPTION(double, dampening) = 0.0;
  VOLT_OPTION(double, weight_decay) = 0.0;
  VOLT_OPTION(bool, nesterov) = false;
};

// g = grad + wd·p; with momentum: b = g on the first step, else b = μ·b + (1-τ)·g; then
// g = g + μ·b (nesterov) or g = b; p -= lr·g.
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, SGDOptions options = {});
  SGD(std::vector<ParamGroup> groups, SGDOptions options = {});
  void step() override;
  bool capturable() const override { return true; }
  void step_unless_found_inf(const Tensor& found_inf) override { step_with_flag(found_inf); }
  SGDOptions options;
};

class AdamOptions {
 public:
  using Betas = std::tuple<double, double>;
  AdamOptions(double lr = 1e-3) : lr_(lr) {}
  VOLT_OPTION(double, lr);
  VOLT_OPTION(Betas, betas) = {0.9, 0.999};
  VOLT_OPTION(double, eps) = 1e-8;
  VOLT_OPTION(double, weight_decay) = 0.0;  // Adam: L2 added to the gradient; AdamW: decoupled
  VOLT_OPTION(bool, amsgrad) = false;
};

// AdamW's defaults: Adam's with weight_decay 1e-2.
class AdamWOptions : public AdamOptions {
 public:
  AdamWOptions(double lr = 1e-3) : AdamOptions(lr) { weight_decay(1e-2); }
};

// m = β1·m + (1-β1)·g, v = β2·v + (1-β2)·g², p -= lr/(1-β1^t) · m / (√v/√(1-β2^t) + eps); with
// amsgrad the running max of v takes v's place in the denominator.
class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, AdamOptions options = {});
  Adam(std::vector<ParamGroup> groups, AdamOptions options = {});
  void step() override;
  bool capturable() const override { return !options.amsgrad(); }
  void step_unless_found_inf(const Tensor& found_inf) override;
  AdamOptions options;

 protected:
  void adam_step(bool decoupled_weight_decay);

 private:
  void amsgrad_step(bool decoupled_weight_decay);
};

// Adam with decoupled weight decay: p *= 1 - lr·wd before the Adam update.
class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, AdamOptions options = AdamWOptions());
  AdamW(std::vector<ParamGroup> groups, AdamOptions options = AdamWOptions());
  AdamW(std::vector<Tensor> params, double lr);  // with AdamW's weight_decay, 1e-2
  void step() override { adam_step(true); }
};

class RMSpropOptions {
 public:
  RMSpropOptions(double lr = 1e-2) : lr_(lr) {}
  VOLT_OPTION(double, lr);
  VOLT_OPTION(double, alpha) = 0.99;
  VOLT_OPTION(double, eps) = 1e-8;
  VOLT_OPTION(double, weight_decay) = 0.0;
  VOLT_OPTION(double, momentum) = 0.0;
  VOLT_OPTION(bool, centered) = false;
};

// g += wd·p; s = α·s + (1-α)·g²; d = √s + eps, or √(s - ḡ²) + eps when centered (ḡ the running
// mean of g, kept the same way); p -= lr·g/d, or with momentum b = μ·b + g/d, p -= lr·b.
class RMSprop : public Optimizer {
 public:
  RMSprop(std::vector<Tensor> params, RMSpropOptions options = {});
  RMSprop(std::vector<ParamGroup> groups, RMSpropOptions options = {});
  void step() override;
  RMSpropOptions options;
};

class AdagradOptions {
 public:
  AdagradOptions(double lr = 1e-2) : lr_(lr) {}
  VOLT_OPTION(double, lr);
  VOLT_OPTION(double, lr_decay) = 0.0;
  VOLT_OPTION(double, weight_decay) = 0.0;
  VOLT_OPTION(double, initial_accumulator_value) = 0.0;
  VOLT_OPTION(double, eps) = 1e-10;
};

// g += wd·p; s += g²; p -= lr/(1 + (t-1)·lr_decay) · g/(√s + eps).
class Adagrad : public Optimizer {
 public:
  Adagrad(std::vector<Tensor> params, AdagradOptions options = {});
  Adagrad(std::vector<ParamGroup> groups, AdagradOptions options = {});
  void step() override;
  AdagradOptions options;
};

#undef VOLT_OPTION

}  // namespace volt::optim
