#include "volt/train/asha.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "volt/core/error.h"

namespace volt::train {

AshaScheduler::AshaScheduler(AshaOptions options) : options_(std::move(options)) {
  VOLT_CHECK(options_.grace_period >= 1, "ASHA: the grace period must be at least one epoch, got ",
             options_.grace_period);
  VOLT_CHECK(options_.reduction_factor > 1 && std::isfinite(options_.reduction_factor),
             "ASHA: the reduction factor must be above 1, got ", options_.reduction_factor);
  VOLT_CHECK(options_.mode == "max" || options_.mode == "min", "ASHA: mode must be max or min, got '", options_.mode,
             "'");
}

std::vector<int64_t> AshaScheduler::rungs(int64_t max_epoch) const {
  std::vector<int64_t> out;
  for (double r = static_cast<double>(options_.grace_period); r <= static_cast<double>(max_epoch);
       r *= options_.reduction_factor) {
    const auto rung = static_cast<int64_t>(std::llround(r));
    if (out.empty() || rung > out.back()) out.push_back(rung);
  }
  return out;
}

// The quantile of `values` at q (numpy's default, linear between order statistics).
double AshaScheduler::cutoff(const std::vector<double>& values) const {
  std::vector<double> v = values;
  std::sort(v.begin(), v.end());
  const double q = options_.mode == "max" ? 1.0 - 1.0 / options_.reduction_factor : 1.0 / options_.reduction_factor;
  const double at = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(at));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (at - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

bool AshaScheduler::on_result(int64_t trial, int64_t epoch, double value) {
  const std::vector<int64_t> reached = rungs(epoch);
  if (reached.empty()) return false;
  const int64_t rung = reached.back();
  auto [it, fresh] = passed_.try_emplace(trial, 0);
  if (!fresh && it->second >= rung) return false;  // judged at this rung already
  it->second = rung;
  if (std::isnan(value)) return true;  // a diverged trial stops and sets no bar
  std::vector<double>& at = recorded_[rung];
  bool stop = false;
  if (!at.empty()) {
    const double bar = cutoff(at);
    stop = (options_.mode == "max" ? value < bar : value > bar);
  }
  at.push_back(value);
  return stop;
}

}  // namespace volt::train
