// Learning-rate schedulers, as PyTorch's. The epoch-based ones set every parameter group's lr
// from the base lr the group had at construction and the scheduler's counter; step() advances
// the counter (once per epoch, or per iteration for warm-up and OneCycleLR). ReduceLROnPlateau
// instead lowers the lr when a metric given to step(metric) stops improving.
#pragma once

#include <limits>
#include <string>
#include <vector>

#include "volt/nn/optim/optimizer.h"

namespace volt::optim {

class LRScheduler {
 public:
  explicit LRScheduler(Optimizer& optimizer);
  virtual ~LRScheduler() = default;
  void step();
  int64_t last_epoch() const { return last_epoch_; }
  double base_lr() const { return base_lrs_[0]; }  // the first group's
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  std::vector<double> get_last_lr() const;  // every group's lr, as last set
  // Whether the schedule moves nothing but the lrs, which live on the device where a replayed
  // CUDA graph reads them (OneCycleLR's cycle_momentum moves momentum too: a kernel argument).
  virtual bool moves_only_lr() const { return true; }
  // "last_epoch" (i64 scalar) and "base_lrs" (f64, one a group): with the optimizer's state,
  // what a resume needs. load_state_dict checks both before it changes anything, then sets
  // the lrs (and whatever else the schedule moves) for the loaded counter.
  StateDict state_dict() const;
  void load_state_dict(const StateDict& state);

 protected:
  void apply();  // sets the lrs for last_epoch_
  virtual double lr_at(int64_t epoch, double base) const = 0;
  virtual void on_epoch(int64_t /*epoch*/) {}  // before the lrs are set: what else the schedule moves
  Optimizer& optimizer_;

 private:
  std::vector<double> base_lrs_;
  int64_t last_epoch_ = 0;
};

// lr = base · gamma^⌊epoch / step_size⌋
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);

 protected:
  double lr_at(int64_t epoch, double base) const override;

 private:
  int64_t step_size_;
  double gamma_;
};

// lr = eta_min + (base - eta_min) · (1 + cos(π · epoch / t_max)) / 2
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t t_max, double eta_min = 0.0);

 protected:
  double lr_at(int64_t epoch, double base) const override;

 private:
  int64_t t_max_;
  double eta_min_;
};

// Linear warm-up (or decay): lr = base · (start + (end - start) · min(epoch, total_iters) / total_iters).
class LinearLR : public LRScheduler {
 public:
  explicit LinearLR(Optimizer& optimizer, double start_factor = 1.0 / 3.0, double end_factor = 1.0,
                    int64_t total_iters = 5);

 protected:
  double lr_at(int64_t epoch, double base) const override;

 private:
  double start_, end_;
  int64_t total_;
};

// The 1cycle policy (Smith & Topin), stepped once per batch for total_steps: the lr rises from
// max_lr/div_factor to max_lr over the first pct_start of the steps and falls to
// max_lr/(div_factor·final_div_factor) over the rest ("cos" or "linear" annealing); three_phase
// falls back to the start before the final fall. With cycle_momentum the momentum (SGD,
// RMSprop) or β1 (Adam, AdamW) moves the other way, between max_momentum and base_momentum.
// The optimizer's own lr is replaced. A step past total_steps is an error.
class OneCycleLR : public LRScheduler {
 public:
  OneCycleLR(Optimizer& optimizer, double max_lr, int64_t total_steps, double pct_start = 0.3,
             std::string anneal_strategy = "cos", bool cycle_momentum = true, double base_momentum = 0.85,
             double max_momentum = 0.95, double div_factor = 25.0, double final_div_factor = 1e4,
             bool three_phase = false);
  bool moves_only_lr() const override { return !cycle_momentum_; }

 protected:
  double lr_at(int64_t epoch, double base) const override;
  void on_epoch(int64_t epoch) override;

 private:
  struct Phase {
    double end_step, start_lr, end_lr, start_momentum, end_momentum;
  };
  double anneal(double start, double end, double pct) const;
  // The phase `step` falls in, and how far into it.
  std::pair<const Phase*, double> locate(int64_t step) const;
  void set_momentum(double momentum);

  int64_t total_steps_;
  bool cosine_, cycle_momentum_;
  std::vector<Phase> phases_;
};

// Lowers every group's lr by `factor` (not below min_lr) once the metric has not improved for
// more than `patience` steps, then waits `cooldown` steps before counting again. mode "min"
// (lower is better) or "max"; improving means beating the best by threshold, relatively
// (threshold_mode "rel") or absolutely ("abs"). A change smaller than eps is not made.
class ReduceLROnPlateau {
 public:
  explicit ReduceLROnPlateau(Optimizer& optimizer, std::string mode = "min", double factor = 0.1, int64_t patience = 10,
                             double threshold = 1e-4, std::string threshold_mode = "rel", int64_t cooldown = 0,
                             double min_lr = 0.0, double eps = 1e-8);
  void step(double metric);
  double best() const { return best_; }
  int64_t num_bad_epochs() const { return num_bad_; }

 private:
  bool improves(double metric) const;

  Optimizer& optimizer_;
  bool minimise_, relative_;
  double factor_, threshold_, min_lr_, eps_;
  int64_t patience_, cooldown_;
  double best_;
  int64_t num_bad_ = 0, cooldown_left_ = 0;
};

}  // namespace volt::optim
