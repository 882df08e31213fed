#include "volt/train/logged_metrics.h"

#include <limits>
#include <string_view>

#include "volt/autograd/grad_mode.h"
#include "volt/autograd/ops.h"
#include "volt/core/device_graph.h"

namespace volt::train {

namespace {

const char* reduce_name(Reduce r) {
  switch (r) {
    case Reduce::mean:
      return "mean";
    case Reduce::sum:
      return "sum";
    case Reduce::max:
      return "max";
    case Reduce::min:
      return "min";
  }
  return "?";
}

// The reduction of `t` over the group's ranks, on t's device (ProcessGroup::all_reduce wants a
// tensor on the group's device; `t` itself is left as it was).
Tensor all_reduced(const Tensor& t, parallel::ProcessGroup& group, parallel::ReduceOp op) {
  Tensor on_group = t.to(group.device()).clone();
  group.all_reduce(on_group, op)->wait();
  return on_group.to(t.device());
}

}  // namespace

void LoggedMetrics::log(const std::string& name, const Tensor& value, const LogOptions& options, int64_t batch_size) {
  VOLT_CHECK(value.defined() && value.numel() == 1, "log('", name, "'): expected a one-element tensor, got ",
             value.defined() ? shape_str(value.shape()) : std::string("an undefined tensor"));
  VOLT_CHECK(options.on_step.has_value() && options.on_epoch.has_value(), "log('", name,
             "'): on_step and on_epoch must be resolved");
  VOLT_CHECK(batch_size > 0, "log('", name, "'): batch_size must be positive, got ", batch_size);
  NoGradGuard no_grad;
  const Tensor v = value.detach().reshape({}).to(DType::f32);
  auto [it, added] = entries_.try_emplace(name);
  Entry& e = it->second;
  if (!added)
    VOLT_CHECK(e.options.reduce == options.reduce, "log('", name, "'): logged with reduce ",
               reduce_name(e.options.reduce), " before and ", reduce_name(options.reduce), " now");
  e.options = options;
  e.in_graph = e.in_graph || capturing_;
  e.last_value = v;
  e.last_batch_size = batch_size;
  // In place once it exists, as the sums: a step replayed from a CUDA graph writes the tensors
  // it was captured with, and an eager batch in between must not take the name from them.
  if (*options.on_step) {
    if (e.step_value.defined() && e.step_value.device() == v.device())
      e.step_value.copy_(v);
    else
      e.step_value = v.clone();
  }
  if (!*options.on_epoch) return;
  const auto weight = static_cast<double>(batch_size);
  if (!e.accumulator.defined()) {
    VOLT_CHECK(!is_capturing(v.device()), "log('", name,
               "'): first logged inside a CUDA graph capture, where every replay would start its sum again; log it "
               "in the warm-up step too");
    e.accumulator = options.reduce == Reduce::mean ? v * weight : v.clone();
    e.weight = full({}, weight, TensorOptions(DType::f32).device(v.device()));
    return;
  }
  switch (options.reduce) {
    case Reduce::mean:
      e.accumulator.add_(v, weight);
      e.weight.add_(weight);
      break;
    case Reduce::sum:
      e.accumulator.add_(v);
      break;
    case Reduce::max:  // in place, as the sums: a replayed graph writes where it was captured
      e.accumulator.copy_(where(v > e.accumulator, v, e.accumulator));
      break;
    case Reduce::min:
      e.accumulator.copy_(where(v < e.accumulator, v, e.accumulator));
      break;
  }
}

void LoggedMetrics::restart_epoch() {
  NoGradGuard no_grad;
  std::erase_if(entries_, [](const auto& item) { return !item.second.in_graph; });
  for (auto& [name, e] : entries_) {
    if (!e.accumulator.defined()) continue;
    switch (e.options.reduce) {
      case Reduce::mean:
        e.accumulator.zero_();
        e.weight.zero_();
        break;
      case Reduce::sum:
        e.accumulator.zero_();
        break;
      case Reduce::max:
        e.accumulator.fill_(-std::numeric_limits<double>::infinity());
        break;
      case Reduce::min:
        e.accumulator.fill_(std::numeric_limits<double>::infinity());
        break;
    }
  }
}

void LoggedMetrics::log_replicas(const std::vector<LoggedMetrics>& parts, Device device) {
  NoGradGuard no_grad;
  std::map<std::string, std::vector<const Entry*>> by_name;
  for (const LoggedMetrics& part : parts)
    for (const auto& [name, e] : part.entries_)
      by_name[name].push_back(&e);
  for (const auto& [name, entries] : by_name) {
    const LogOptions& options = entries.front()->options;
    Tensor value;
    int64_t batch_size = 0;
    for (const Entry* e : entries) {
      VOLT_CHECK(e->options.reduce == options.reduce, "log('", name, "'): the replicas logged it with reduce ",
                 reduce_name(options.reduce), " and ", reduce_name(e->options.reduce));
      Tensor v = e->last_value.to(device);
      if (options.reduce == Reduce::mean) v = v * static_cast<double>(e->last_batch_size);
      batch_size += e->last_batch_size;
      if (!value.defined())
        value = v;
      else if (options.reduce == Reduce::mean || options.reduce == Reduce::sum)
        value = value + v;
      else
        value = options.reduce == Reduce::max ? where(v > value, v, value) : where(v < value, v, value);
    }
    if (options.reduce == Reduce::mean) value = value / static_cast<double>(batch_size);
    log(name, value, options, batch_size);
  }
}

Metrics LoggedMetrics::step_metrics() const {
  Metrics out;
  for (const auto& [name, e] : entries_)
    if (e.step_value.defined()) out[*e.options.on_epoch ? name + "_step" : name] = e.step_value;
  return out;
}

Metrics LoggedMetrics::epoch_metrics(parallel::ProcessGroup* group) const {
  NoGradGuard no_grad;
  Metrics out;
  for (const auto& [name, e] : entries_) {
    if (!e.accumulator.defined()) continue;
    Tensor accumulator = e.accumulator, weight = e.weight;
    if (group != nullptr && group->size() > 1 && e.options.sync_dist) {
      using parallel::ReduceOp;
      switch (e.options.reduce) {
        case Reduce::mean:
          weight = all_reduced(weight, *group, ReduceOp::sum);
          accumulator = all_reduced(accumulator, *group, ReduceOp::sum);
          break;
        case Reduce::sum:
          accumulator = all_reduced(accumulator, *group, ReduceOp::sum);
          break;
        case Reduce::max:
          accumulator = all_reduced(accumulator, *group, ReduceOp::max);
          break;
        case Reduce::min:  // min(x) = -max(-x): the process group has no min
          accumulator = -all_reduced(-accumulator, *group, ReduceOp::max);
          break;
      }
    }
    out[*e.options.on_step ? name + "_epoch" : name] =
        e.options.reduce == Reduce::mean ? accumulator / weight : accumulator;
  }
  return out;
}

const LogOptions* LoggedMetrics::options_of(const std::string& metric_name) const {
  if (auto it = entries_.find(metric_name); it != entries_.end()) return &it->second.options;
  for (const char* suffix : {"_step", "_epoch"}) {
    const std::string_view s(suffix);
    if (metric_name.size() > s.size() && metric_name.ends_with(s))
      if (auto it = entries_.find(metric_name.substr(0, metric_name.size() - s.size())); it != entries_.end())
        return &it->second.options;
  }
  return nullptr;
}

}  // namespace volt::train
