#include "volt/nn/optim/scheduler.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "volt/autograd/ops.h"

namespace volt::optim {

LRScheduler::LRScheduler(Optimizer& optimizer) : optimizer_(optimizer) {
  for (const ParamGroup& g : optimizer.param_groups())
    base_lrs_.push_back(g.lr.value());
}

void LRScheduler::apply() {
  on_epoch(last_epoch_);
  for (std::size_t g = 0; g < base_lrs_.size(); ++g)
    optimizer_.set_lr(g, lr_at(last_epoch_, base_lrs_[g]));
}

void LRScheduler::step() {
  ++last_epoch_;
  apply();
}

std::vector<double> LRScheduler::get_last_lr() const {
  std::vector<double> lrs;
  for (const ParamGroup& g : optimizer_.param_groups())
    lrs.push_back(g.lr.value());
  return lrs;
}

StateDict LRScheduler::state_dict() const {
  return {{"last_epoch", scalar_tensor(static_cast<double>(last_epoch_), DType::i64)},
          {"base_lrs", tensor(base_lrs_, {static_cast<int64_t>(base_lrs_.size())}, DType::f64)}};
}

void LRScheduler::load_state_dict(const StateDict& state) {
  const auto last = state.find("last_epoch"), base = state.find("base_lrs");
  VOLT_CHECK(last != state.end() && base != state.end(),
             "scheduler load_state_dict: expected entries 'last_epoch' and 'base_lrs'");
  VOLT_CHECK(state.size() == 2, "scheduler load_state_dict: expected only 'last_epoch' and 'base_lrs', got ",
             state.size(), " entries");
  VOLT_CHECK(last->second.numel() == 1, "scheduler load_state_dict: 'last_epoch' has shape ",
             shape_str(last->second.shape()), ", expected one value");
  VOLT_CHECK(base->second.dim() == 1 && base->second.numel() == static_cast<int64_t>(base_lrs_.size()),
             "scheduler load_state_dict: 'base_lrs' has shape ", shape_str(base->second.shape()),
             " but the optimizer has ", base_lrs_.size(), " parameter groups");
  const auto epoch = last->second.item<int64_t>();
  VOLT_CHECK(epoch >= 0, "scheduler load_state_dict: 'last_epoch' is ", epoch, ", expected 0 or more");
  last_epoch_ = epoch;
  base_lrs_ = base->second.to_vector<double>();
  apply();
}

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma)
    : LRScheduler(optimizer), step_size_(step_size), gamma_(gamma) {
  VOLT_CHECK(step_size > 0, "StepLR: step_size must be positive, got ", step_size);
  apply();
}

double StepLR::lr_at(int64_t epoch, double base) const {
  return base * std::pow(gamma_, static_cast<double>(epoch / step_size_));
}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t t_max, double eta_min)
    : LRScheduler(optimizer), t_max_(t_max), eta_min_(eta_min) {
  VOLT_CHECK(t_max > 0, "CosineAnnealingLR: t_max must be positive, got ", t_max);
  apply();
}

double CosineAnnealingLR::lr_at(int64_t epoch, double base) const {
  const double phase = std::numbers::pi * static_cast<double>(epoch) / static_cast<double>(t_max_);
  return eta_min_ + (base - eta_min_) * (1.0 + std::cos(phase)) / 2.0;
}

LinearLR::LinearLR(Optimizer& optimizer, double start_factor, double end_factor, int64_t total_iters)
    : LRScheduler(optimizer), start_(start_factor), end_(end_factor), total_(total_iters) {
  VOLT_CHECK(total_iters > 0, "LinearLR: total_iters must be positive, got ", total_iters);
  VOLT_CHECK(start_factor > 0 && start_factor <= 1 && end_factor >= 0 && end_factor <= 1,
             "LinearLR: start_factor must be in (0, 1] and end_factor in [0, 1], got ", start_factor, " and ",
             end_factor);
  apply();
}

double LinearLR::lr_at(int64_t epoch, double base) const {
  const double progress = static_cast<double>(std::min(epoch, total_)) / static_cast<double>(total_);
  return base * (start_ + (end_ - start_) * progress);
}

// --- OneCycleLR -----------------------------------------------------------------------------

OneCycleLR::OneCycleLR(Optimizer& optimizer, double max_lr, int64_t total_steps, double pct_start,
                       std::string anneal_strategy, bool cycle_momentum, double base_momentum, double max_momentum,
                       double div_factor, double final_div_factor, bool three_phase)
    : LRScheduler(optimizer), total_steps_(total_steps), cycle_momentum_(cycle_momentum) {
  VOLT_CHECK(total_steps > 0, "OneCycleLR: total_steps must be positive, got ", total_steps);
  VOLT_CHECK(pct_start >= 0 && pct_start <= 1, "OneCycleLR: pct_start must be in [0, 1], got ", pct_start);
  VOLT_CHECK(anneal_strategy == "cos" || anneal_strategy == "linear",
             "OneCycleLR: anneal_strategy must be \"cos\" or \"linear\", got \"", anneal_strategy, "\"");
  VOLT_CHECK(max_lr > 0 && div_factor > 0 && final_div_factor > 0,
             "OneCycleLR: max_lr, div_factor and final_div_factor must be positive");
  cosine_ = anneal_strategy == "cos";
  const double initial = max_lr / div_factor, minimum = initial / final_div_factor;
  const double total = static_cast<double>(total_steps), rise_end = pct_start * total - 1;
  if (three_phase) {
    phases_ = {{rise_end, initial, max_lr, max_momentum, base_momentum},
               {2 * pct_start * total - 2, max_lr, initial, base_momentum, max_momentum},
               {total - 1, initial, minimum, max_momentum, max_momentum}};
  } else {
    phases_ = {{rise_end, initial, max_lr, max_momentum, base_momentum},
               {total - 1, max_lr, minimum, base_momentum, max_momentum}};
  }
  if (cycle_momentum) {
    const bool has_momentum =
        dynamic_cast<SGD*>(&optimizer) || dynamic_cast<Adam*>(&optimizer) || dynamic_cast<RMSprop*>(&optimizer);
    VOLT_CHECK(has_momentum, "OneCycleLR: cycle_momentum needs an optimizer with momentum or beta1 (SGD, RMSprop, ",
               "Adam, AdamW); pass cycle_momentum=false");
  }
  apply();
}

double OneCycleLR::anneal(double start, double end, double pct) const {
  if (cosine_) return end + (start - end) / 2.0 * (std::cos(std::numbers::pi * pct) + 1.0);
  return (end - start) * pct + start;
}

std::pair<const OneCycleLR::Phase*, double> OneCycleLR::locate(int64_t step) const {
  VOLT_CHECK(step <= total_steps_, "OneCycleLR: stepped ", step, " times, but total_steps is ", total_steps_);
  const auto at = static_cast<double>(step);
  double start = 0;
  for (std::size_t i = 0; i < phases_.size(); ++i) {
    const Phase& p = phases_[i];
    if (at <= p.end_step || i + 1 == phases_.size()) {
      const double span = p.end_step - start;
      return {&p, span > 0 ? (at - start) / span : 1.0};
    }
    start = p.end_step;
  }
  return {&phases_.back(), 1.0};
}

double OneCycleLR::lr_at(int64_t epoch, double /*base*/) const {
  const auto [phase, pct] = locate(epoch);
  return anneal(phase->start_lr, phase->end_lr, pct);
}

void OneCycleLR::on_epoch(int64_t epoch) {
  const auto [phase, pct] = locate(epoch);
  if (cycle_momentum_) set_momentum(anneal(phase->start_momentum, phase->end_momentum, pct));
}

void OneCycleLR::set_momentum(double momentum) {
  if (auto* sgd = dynamic_cast<SGD*>(&optimizer_)) {
    sgd->options.momentum(momentum);
  } else if (auto* adam = dynamic_cast<Adam*>(&optimizer_)) {
    adam->options.betas({momentum, std::get<1>(adam->options.betas())});
  } else if (auto* rms = dynamic_cast<RMSprop*>(&optimizer_)) {
    rms->options.momentum(momentum);
  }
}

// --- ReduceLROnPlateau ----------------------------------------------------------------------

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, std::string mode, double factor, int64_t patience,
                                     double threshold, std::string threshold_mode, int64_t cooldown, double min_lr,
                                     double eps)
    : optimizer_(optimizer),
      minimise_(mode == "min"),
      relative_(threshold_mode == "rel"),
      factor_(factor),
      threshold_(threshold),
      min_lr_(min_lr),
      eps_(eps),
      patience_(patience),
      cooldown_(cooldown) {
  VOLT_CHECK(mode == "min" || mode == "max", "ReduceLROnPlateau: mode must be \"min\" or \"max\", got \"", mode, "\"");
  VOLT_CHECK(threshold_mode == "rel" || threshold_mode == "abs",
             "ReduceLROnPlateau: threshold_mode must be \"rel\" or \"abs\", got \"", threshold_mode, "\"");
  VOLT_CHECK(factor >= 0 && factor < 1, "ReduceLROnPlateau: factor must be in [0, 1), got ", factor);
  VOLT_CHECK(patience >= 0 && cooldown >= 0 && min_lr >= 0 && threshold >= 0 && eps >= 0,
             "ReduceLROnPlateau: patience, cooldown, min_lr, threshold and eps must be non-negative");
  best_ = minimise_ ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
}

bool ReduceLROnPlateau::improves(double metric) const {
  if (minimise_) return relative_ ? metric < best_ * (1.0 - threshold_) : metric < best_ - threshold_;
  return relative_ ? metric > best_ * (1.0 + threshold_) : metric > best_ + threshold_;
}

void ReduceLROnPlateau::step(double metric) {
  VOLT_CHECK(!std::isnan(metric), "ReduceLROnPlateau: the metric is NaN");
  if (improves(metric)) {
    best_ = metric;
    num_bad_ = 0;
  } else {
    ++num_bad_;
  }
  if (cooldown_left_ > 0) {
    --cooldown_left_;
    num_bad_ = 0;
  }
  if (num_bad_ <= patience_) return;
  for (std::size_t g = 0; g < optimizer_.param_groups().size(); ++g) {
    const double old_lr = optimizer_.param_groups()[g].lr.value(), new_lr = std::max(old_lr * factor_, min_lr_);
    if (old_lr - new_lr > eps_) optimizer_.set_lr(g, new_lr);
  }
  cooldown_left_ = cooldown_;
  num_bad_ = 0;
}

}  // namespace volt::optim
