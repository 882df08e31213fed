// The learning-rate range test (Smith, "Cyclical Learning Rates for Training Neural Networks",
// 2017), with the options, defaults and rules of Lightning's Tuner.lr_find: the learning rate
// grows from min_lr to max_lr over num_training steps (exponentially, or linearly), the loss
// after each step is smoothed (an exponential average with bias correction, beta 0.98), the
// test stops early once the smoothed loss passes early_stop_threshold × its best so far (or is
// not finite), and the suggestion is the rate where the smoothed loss falls fastest, skipping
// the first 10 points and the last.
//
// Afterwards the model's parameters and buffers, the optimizer's state and learning rates, and
// the generators passed in are as they were: a run after the finder is bitwise the run without it.
//
//   LRFinderResult r = lr_find(model, optimizer, [&](int64_t step) { return loss_of(batch(step)); });
//   if (r.suggestion) optimizer.set_lr(*r.suggestion);
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "volt/core/generator.h"
#include "volt/core/tensor.h"
#include "volt/nn/module.h"
#include "volt/nn/optim/optimizer.h"

namespace volt::train {

struct LRFinderOptions {
  double min_lr = 1e-8;
  double max_lr = 1.0;
  int64_t num_training = 100;         // steps, one learning rate each
  std::string mode = "exponential";   // or linear
  double early_stop_threshold = 4.0;  // 0 or less: never stop early (non-finite losses still stop)
  double beta = 0.98;                 // the loss's smoothing
};

struct LRFinderResult {
  std::vector<double> lrs;     // the rate of each step taken
  std::vector<double> losses;  // the smoothed loss after it
  std::optional<double> suggestion;
  bool stopped_early = false;

  // Lightning's suggestion(skip_begin, skip_end): the rate at the steepest fall of the smoothed
  // loss (central differences), over the points left after the skips; none with fewer than two.
  std::optional<double> suggest(int64_t skip_begin = 10, int64_t skip_end = 1) const;
  // lr,loss rows, with a header.
  void write_csv(const std::string& path) const;
};

// `loss_of_step(step)` runs the forward pass of one training batch and returns its scalar loss;
// the finder sets each step's learning rate, zeroes the gradients, calls backward and steps the
// optimizer.
LRFinderResult lr_find(nn::Module& model, optim::Optimizer& optimizer,
                       const std::function<Tensor(int64_t step)>& loss_of_step, LRFinderOptions options = {},
                       std::vector<Generator*> generators = {});

}  // namespace volt::train
