#include "volt/train/lr_finder.h"

#include <cmath>
#include <fstream>
#include <iomanip>
#include <limits>
#include <utility>

#include "volt/autograd/grad_mode.h"
#include "volt/core/error.h"
#include "volt/train/checkpoint.h"

namespace volt::train {

std::optional<double> LRFinderResult::suggest(int64_t skip_begin, int64_t skip_end) const {
  VOLT_CHECK(skip_begin >= 0 && skip_end >= 0, "lr_find: the skips must not be negative");
  const auto n = static_cast<int64_t>(losses.size());
  std::vector<std::pair<double, double>> points;  // (lr, loss), finite losses only
  for (int64_t i = skip_begin; i < n - skip_end; ++i)
    if (std::isfinite(losses[static_cast<std::size_t>(i)]))
      points.emplace_back(lrs[static_cast<std::size_t>(i)], losses[static_cast<std::size_t>(i)]);
  if (points.size() < 2) return std::nullopt;
  // numpy.gradient over the index: one-sided at the ends, central inside.
  std::size_t steepest = 0;
  double fall = std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < points.size(); ++i) {
    const std::size_t lo = i == 0 ? 0 : i - 1, hi = i + 1 == points.size() ? i : i + 1;
    const double g = (points[hi].second - points[lo].second) / static_cast<double>(hi - lo);
    if (g < fall) fall = g, steepest = i;
  }
  return points[steepest].first;
}

void LRFinderResult::write_csv(const std::string& path) const {
  std::ofstream out(path);
  VOLT_CHECK(out, "lr_find: cannot write ", path);
  out << "lr,loss\n" << std::setprecision(9);
  for (std::size_t i = 0; i < lrs.size(); ++i)
    out << lrs[i] << ',' << losses[i] << '\n';
  VOLT_CHECK(out.flush(), "lr_find: cannot write ", path);
}

LRFinderResult lr_find(nn::Module& model, optim::Optimizer& optimizer,
                       const std::function<Tensor(int64_t step)>& loss_of_step, LRFinderOptions o,
                       std::vector<Generator*> generators) {
  VOLT_CHECK(o.min_lr > 0 && o.max_lr > o.min_lr && std::isfinite(o.max_lr), "lr_find: needs 0 < min_lr < max_lr, got ",
             o.min_lr, " and ", o.max_lr);
  VOLT_CHECK(o.num_training >= 2, "lr_find: num_training must be at least 2, got ", o.num_training);
  VOLT_CHECK(o.mode == "exponential" || o.mode == "linear", "lr_find: mode must be exponential or linear, got '",
             o.mode, "'");
  VOLT_CHECK(o.beta >= 0 && o.beta < 1, "lr_find: beta must be in [0, 1), got ", o.beta);

  // What the test changes, kept to put back.
  const nn::StateDict model_state = clone_state(model.state_dict());
  const nn::StateDict optimizer_state = clone_state(optimizer.state_dict());
  std::vector<std::pair<uint64_t, uint64_t>> streams;
  for (Generator* g : generators)
    streams.emplace_back(g->seed(), g->offset());
  const bool training = model.is_training();

  LRFinderResult r;
  const auto restore = [&] {
    NoGradGuard no_grad;
    model.load_state_dict(model_state);
    optimizer.load_state_dict(optimizer_state);
    optimizer.zero_grad();
    for (std::size_t i = 0; i < generators.size(); ++i) {
      generators[i]->manual_seed(streams[i].first);
      generators[i]->set_offset(streams[i].second);
    }
    model.train(training);
  };
  try {
    model.train(true);
    double average = 0, best = std::numeric_limits<double>::infinity();
    for (int64_t step = 0; step < o.num_training; ++step) {
      const double at = static_cast<double>(step) / static_cast<double>(o.num_training - 1);
      const double lr = o.mode == "exponential" ? o.min_lr * std::pow(o.max_lr / o.min_lr, at)
                                                : o.min_lr + at * (o.max_lr - o.min_lr);
      optimizer.set_lr(lr);
      optimizer.zero_grad();
      Tensor loss = loss_of_step(step);
      VOLT_CHECK(loss.defined() && loss.numel() == 1, "lr_find: the step's loss must be one number");
      loss.backward();
      optimizer.step();
      const double value = loss.item<double>();
      average = o.beta * average + (1 - o.beta) * value;
      const double smoothed = average / (1 - std::pow(o.beta, static_cast<double>(step + 1)));
      r.lrs.push_back(lr);
      r.losses.push_back(smoothed);
      if (!std::isfinite(smoothed) ||
          (o.early_stop_threshold > 0 && step > 1 && smoothed > o.early_stop_threshold * best)) {
        r.stopped_early = true;
        break;
      }
      if (smoothed < best) best = smoothed;
    }
  } catch (...) {
    restore();
    throw;
  }
  restore();
  r.suggestion = r.suggest();
  return r;
}

}  // namespace volt::train
