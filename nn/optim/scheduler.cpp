#include "volt/nn/optim/scheduler.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace volt::optim {

LRScheduler::LRScheduler(Optimizer& optimizer) : optimizer_(optimizer), base_lr_(optimizer.lr()) {}

void LRScheduler::apply() { optimizer_.set_lr(lr_at(last_epoch_)); }

void LRScheduler::step() {
  ++last_epoch_;
  apply();
}

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma)
    : LRScheduler(optimizer), step_size_(step_size), gamma_(gamma) {
  VOLT_CHECK(step_size > 0, "StepLR: step_size must be positive, got ", step_size);
  apply();
}

double StepLR::lr_at(int64_t epoch) const {
  return base_lr() * std::pow(gamma_, static_cast<double>(epoch / step_size_));
}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t t_max, double eta_min)
    : LRScheduler(optimizer), t_max_(t_max), eta_min_(eta_min) {
  VOLT_CHECK(t_max > 0, "CosineAnnealingLR: t_max must be positive, got ", t_max);
  apply();
}

double CosineAnnealingLR::lr_at(int64_t epoch) const {
  const double phase = std::numbers::pi * static_cast<double>(epoch) / static_cast<double>(t_max_);
  return eta_min_ + (base_lr() - eta_min_) * (1.0 + std::cos(phase)) / 2.0;
}

LinearWarmup::LinearWarmup(Optimizer& optimizer, int64_t total_iters, double start_factor, double end_factor)
    : LRScheduler(optimizer), total_(total_iters), start_(start_factor), end_(end_factor) {
  VOLT_CHECK(total_iters > 0, "LinearWarmup: total_iters must be positive, got ", total_iters);
  VOLT_CHECK(start_factor > 0 && start_factor <= 1 && end_factor >= 0 && end_factor <= 1,
             "LinearWarmup: factors must be in (0, 1] and [0, 1], got ", start_factor, " and ", end_factor);
  apply();
}

double LinearWarmup::lr_at(int64_t epoch) const {
  const double progress = static_cast<double>(std::min(epoch, total_)) / static_cast<double>(total_);
  return base_lr() * (start_ + (end_ - start_) * progress);
}

}  // namespace volt::optim
