#include "volt/train/lr_finder.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tiny_net.h"
#include "volt/autograd/ops.h"
#include "volt/core/error.h"
#include "volt/nn/functional.h"
#include "volt/nn/modules.h"

using namespace volt;
using namespace volt::train;

namespace {

// A module with one weight, whose "loss" the test scripts: loss = 0 · w + script[step].
struct Scripted : nn::Module {
  Scripted() : w(register_parameter("w", zeros({1}))) {}
  Tensor forward(const Tensor& x) override { return x; }
  Tensor w;
};

LRFinderResult run_script(const std::vector<double>& script, LRFinderOptions o) {
  Scripted m;
  optim::SGD sgd({m.w}, optim::SGDOptions(0.1));
  return lr_find(
      m, sgd, [&](int64_t step) { return (m.w * 0.0).sum() + script[static_cast<std::size_t>(step)]; }, o);
}

}  // namespace

TEST(LrFinder, SweepsTheRateAndSmoothsTheLoss) {
  std::vector<double> script(100, 2.0);
  for (std::size_t i = 0; i < script.size(); ++i)
    script[i] = 3.0 - 0.01 * static_cast<double>(i);
  const LRFinderResult r = run_script(script, {});
  ASSERT_EQ(r.lrs.size(), 100u);
  EXPECT_FALSE(r.stopped_early);
  EXPECT_DOUBLE_EQ(r.lrs[0], 1e-8);
  EXPECT_NEAR(r.lrs[99], 1.0, 1e-12);
  EXPECT_NEAR(std::log10(r.lrs[33]), -8 + 8 * 33.0 / 99, 1e-12);  // evenly spaced in log
  // Bias-corrected exponential average, beta 0.98: the first value is the loss itself, the
  // second (0.98·0.02·3 + 0.02·2.99) / (1 − 0.98²).
  EXPECT_NEAR(r.losses[0], 3.0, 1e-6);  // the losses are f32
  EXPECT_NEAR(r.losses[1], (0.98 * 0.02 * 3.0 + 0.02 * 2.99) / (1 - 0.98 * 0.98), 1e-6);

  LRFinderOptions linear;
  linear.mode = "linear";
  linear.min_lr = 0.001;
  linear.max_lr = 0.1;
  linear.num_training = 11;
  const LRFinderResult l = run_script(script, linear);
  ASSERT_EQ(l.lrs.size(), 11u);
  EXPECT_NEAR(l.lrs[5], 0.001 + 0.5 * 0.099, 1e-15);
}

TEST(LrFinder, StopsWhenTheLossPassesFourTimesItsBest) {
  std::vector<double> script = {1, 1, 1, 1, 400, 1, 1, 1, 1, 1};
  LRFinderOptions o;
  o.num_training = 10;
  const LRFinderResult r = run_script(script, o);
  // After four ones the average is 1; a 400 lifts the smoothed loss to ~84 > 4 × 1.
  EXPECT_TRUE(r.stopped_early);
  EXPECT_EQ(r.lrs.size(), 5u);
  o.early_stop_threshold = 0;  // off
  EXPECT_EQ(run_script(script, o).lrs.size(), 10u);
  script[2] = std::nan("");
  EXPECT_EQ(run_script(script, o).lrs.size(), 3u);  // a NaN always stops
}

TEST(LrFinder, SuggestsTheSteepestFallAfterTheSkips) {
  LRFinderResult r;
  for (int i = 0; i < 30; ++i)
    r.lrs.push_back(std::pow(10.0, -6 + 0.2 * i));
  r.losses.assign(30, 2.0);
  r.losses[3] = 0.5;  // a steep drop among the first ten: skipped
  for (int i = 10; i < 30; ++i)
    r.losses[i] = 2.0 - 0.01 * (i - 10);
  r.losses[20] = 1.0;  // the steepest fall after the skips: the central difference peaks at 19 and 20
  r.losses[21] = 0.9;
  // Central differences: at 19, (1.0 − 1.92)/2 = −0.46; at 20, (0.9 − 1.91)/2 = −0.505; at 21,
  // (1.79 − 1.0)/2 > 0. The steepest is at 20.
  ASSERT_TRUE(r.suggest().has_value());
  EXPECT_DOUBLE_EQ(*r.suggest(), r.lrs[20]);
  LRFinderResult few;
  few.lrs = {1e-3, 1e-2};
  few.losses = {1, 0.5};
  EXPECT_FALSE(few.suggest().has_value());  // nothing left after skipping 10
  EXPECT_TRUE(few.suggest(0, 0).has_value());
}

TEST(LrFinder, PutsTheModelOptimizerAndGeneratorsBack) {
  // The same 20 Adam steps on the same batches, once straight and once after a finder: bitwise equal.
  const auto train = [](bool find_first) {
    Generator gen(7);
    nn::Sequential net({std::make_shared<nn::Linear>(8, 16, true, &gen), std::make_shared<nn::ReLU>(),
                        std::make_shared<nn::Dropout>(0.3, &gen), std::make_shared<nn::Linear>(16, 3, true, &gen)});
    optim::Adam adam(net.parameters(), optim::AdamOptions(1e-2));
    Generator data(11);
    const Tensor x = randn({32, 8}, {}, &data);
    const Tensor y = randint(0, 3, {32}, DType::i64, &data);
    const auto loss = [&](int64_t) { return nn::functional::cross_entropy(net.forward(x), y); };
    if (find_first) {
      net.eval();
      LRFinderOptions o;
      o.num_training = 30;
      const LRFinderResult r = lr_find(net, adam, loss, o, {&gen});
      EXPECT_EQ(r.lrs.size(), r.losses.size());
      EXPECT_FALSE(net.is_training());  // its mode is back too
      net.train();
    }
    for (int step = 0; step < 20; ++step) {
      adam.zero_grad();
      loss(step).backward();
      adam.step();
    }
    return volt::testing::weight_bytes(net);
  };
  EXPECT_EQ(train(false), train(true));
}

TEST(LrFinder, RefusesBadOptions) {
  std::vector<double> script(10, 1.0);
  LRFinderOptions o;
  o.min_lr = 0;
  EXPECT_THROW(run_script(script, o), Error);
  o = {};
  o.num_training = 1;
  EXPECT_THROW(run_script(script, o), Error);
  o = {};
  o.mode = "cosine";
  EXPECT_THROW(run_script(script, o), Error);
}
