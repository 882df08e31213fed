// Asynchronous successive halving (ASHA; Li et al., "A System for Massively Parallel
// Hyperparameter Tuning", 2020), the early stopping of poor trials in a sweep, with the rule of
// Ray Tune's AsyncHyperBandScheduler:
//
// Rungs stand at grace_period × reduction_factor^k epochs (1, 3, 9, 27, ... by default). When a
// trial first reports a result at or past a rung, its value there is compared with the values
// the trials that passed that rung before it had there: if it is worse than their
// (1 − 1/reduction_factor) quantile (mode max; the 1/reduction_factor quantile in mode min,
// linear interpolation between order statistics), the trial stops. A trial alone at a rung
// goes on. Where one result passes several rungs at once, the highest decides. Every value is
// recorded at its rung, stopped trials' too, so the bar at a rung rises as better trials arrive,
// whatever order they come in.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace volt::train {

struct AshaOptions {
  int64_t grace_period = 1;       // the first rung, in epochs
  double reduction_factor = 3.0;  // rung spacing, and 1/reduction_factor of the trials go on at each
  std::string mode = "max";       // max: larger is better (accuracy); min: smaller (loss)
};

class AshaScheduler {
 public:
  explicit AshaScheduler(AshaOptions options = {});

  // A trial's result after `epoch` epochs: true when it should stop now.
  bool on_result(int64_t trial, int64_t epoch, double value);
  // The rungs up to `max_epoch`.
  std::vector<int64_t> rungs(int64_t max_epoch) const;

 private:
  double cutoff(const std::vector<double>& values) const;
  AshaOptions options_;
  std::map<int64_t, std::vector<double>> recorded_;  // rung → values at it
  std::map<int64_t, int64_t> passed_;                // trial → the highest rung it has been judged at
};

}  // namespace volt::train
