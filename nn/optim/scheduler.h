// Learning-rate schedulers. Each sets the optimizer's lr from the base lr it found at
// construction and its epoch counter; step() advances the counter (once per epoch, or per
// iteration for warm-up), as in PyTorch.
#pragma once

#include "volt/nn/optim/optimizer.h"

namespace volt::optim {

class LRScheduler {
 public:
  explicit LRScheduler(Optimizer& optimizer);
  virtual ~LRScheduler() = default;
  void step();
  int64_t last_epoch() const { return last_epoch_; }
  double base_lr() const { return base_lr_; }

 protected:
  void apply();  // sets the lr for last_epoch_
  virtual double lr_at(int64_t epoch) const = 0;

 private:
  Optimizer& optimizer_;
  double base_lr_;
  int64_t last_epoch_ = 0;
};

// lr = base · gamma^⌊epoch / step_size⌋
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);

 protected:
  double lr_at(int64_t epoch) const override;

 private:
  int64_t step_size_;
  double gamma_;
};

// lr = eta_min + (base - eta_min) · (1 + cos(π · epoch / t_max)) / 2
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t t_max, double eta_min = 0.0);

 protected:
  double lr_at(int64_t epoch) const override;

 private:
  int64_t t_max_;
  double eta_min_;
};

// Linear warm-up (PyTorch's LinearLR): lr = base · (start + (end - start) · min(epoch, total) / total).
class LinearWarmup : public LRScheduler {
 public:
  LinearWarmup(Optimizer& optimizer, int64_t total_iters, double start_factor = 1.0 / 3.0, double end_factor = 1.0);

 protected:
  double lr_at(int64_t epoch) const override;

 private:
  int64_t total_;
  double start_, end_;
};

}  // namespace volt::optim
