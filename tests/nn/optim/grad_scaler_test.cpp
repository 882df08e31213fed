// GradScaler against torch.amp.GradScaler's documented rules: a scripted run of finite and
// overflowing steps (scale after each update, skipped steps leave parameters and optimizer
// state alone), the same run without a scaler on the finite steps only, and PyTorch 2.15's
// parameters for that script; unscale_ before clipping; the refusals; state_dict round trip.
#include "volt/nn/optim/grad_scaler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "test_support.h"
#include "volt/volt.h"

namespace volt::optim {
namespace {

using volt::testing::expect_error;

const double kInf = std::numeric_limits<double>::infinity();
const std::vector<double> kScript = {1.0, 2.0, kInf, 1.0, std::nan(""), 0.5, 1.0};

Tensor loss_for(const Tensor& p, double k) {
  if (!std::isfinite(k)) return mul(sum(p), k);  // every gradient inf or NaN
  return mul(sum(mul(tensor({1.0, 0.5, -1.0}), mul(p, p))), k);
}

std::unique_ptr<Optimizer> make(const std::string& kind, const Tensor& p) {
  if (kind == "sgd") return std::make_unique<SGD>(std::vector<Tensor>{p}, SGDOptions(0.1).momentum(0.9));
  return std::make_unique<Adam>(std::vector<Tensor>{p}, AdamOptions(0.1));
}

TEST(GradScaler, FollowsTheScriptedSequence) {
  // After each update: growth after 2 clean steps, back-off after inf and after NaN.
  const std::vector<double> scales = {8, 16, 8, 8, 4, 4, 8};
  // torch.amp.GradScaler("cpu", init_scale=8, growth_interval=2) with the same script.
  const std::vector<std::vector<double>> pytorch = {
      {-0.9125999212, 0.4665599465, 17.4311981201},  // SGD(lr=0.1, momentum=0.9)
      {0.5403790474, -1.5362949371, 3.4681539536}};  // Adam(lr=0.1)
  int which = 0;
  for (const std::string kind : {"sgd", "adam"}) {
    Tensor p = tensor({1.0, -2.0, 3.0}).requires_grad_(true);
    Tensor q = tensor({1.0, -2.0, 3.0}).requires_grad_(true);  // the run without a scaler
    auto opt = make(kind, p), plain = make(kind, q);
    GradScaler scaler(8.0, 2.0, 0.5, 2);
    for (std::size_t i = 0; i < kScript.size(); ++i) {
      const std::vector<double> before = p.to_vector<double>();
      const nn::StateDict state_before = opt->state_dict();
      opt->zero_grad();
      scaler.scale(loss_for(p, kScript[i])).backward();
      scaler.step(*opt);
      scaler.update();
      EXPECT_EQ(scaler.get_scale(), scales[i]) << kind << " step " << i;
      if (!std::isfinite(kScript[i])) {
        EXPECT_EQ(p.to_vector<double>(), before) << kind << " step " << i << " was not skipped";
        for (const auto& [name, t] : opt->state_dict())
          EXPECT_TRUE(allclose(t, state_before.at(name), 0, 0)) << kind << " " << name << " changed at step " << i;
        continue;
      }
      plain->zero_grad();
      loss_for(q, kScript[i]).backward();
      plain->step();
      EXPECT_TRUE(allclose(p, q, 1e-6, 1e-7)) << kind << " step " << i;
    }
    const auto got = p.to_vector<double>();
    for (std::size_t j = 0; j < 3; ++j)
      EXPECT_NEAR(got[j], pytorch[static_cast<std::size_t>(which)][j], 1e-5) << kind;
    // Adam's device count took the five clean steps only.
    if (kind == "adam") {
      EXPECT_EQ(opt->state_dict().at("step").item<int64_t>(), 5);
    }
    ++which;
  }
}

TEST(GradScaler, UnscaleBeforeClippingAndItsOrderRules) {
  Tensor p = tensor({3.0, 4.0}).requires_grad_(true);
  SGD opt({p}, 1.0);
  GradScaler scaler(1024.0);
  scaler.scale(sum(mul(p, p))).backward();  // grad 2p = (6, 8), scaled by 1024
  EXPECT_EQ(p.grad().to_vector<float>(), (std::vector<float>{6144.0f, 8192.0f}));
  scaler.unscale_(opt);
  EXPECT_EQ(p.grad().to_vector<float>(), (std::vector<float>{6.0f, 8.0f}));
  EXPECT_FLOAT_EQ(nn::utils::clip_grad_norm_({p}, 5.0).item<float>(), 10.0f);
  expect_error([&] { scaler.unscale_(opt); }, {"unscale_: already called"});
  scaler.step(opt);  // does not unscale twice
  EXPECT_NEAR(p.to_vector<float>()[0], 3.0 - 3.0, 1e-5);
  EXPECT_NEAR(p.to_vector<float>()[1], 4.0 - 4.0, 1e-5);
  expect_error([&] { scaler.step(opt); }, {"step: already called"});
  scaler.update();
  EXPECT_EQ(scaler.get_scale(), 1024.0);

  GradScaler fresh;
  expect_error([&] { fresh.update(); }, {"nothing was scaled yet"});
  expect_error([] { GradScaler(0.0); }, {"init_scale must be positive"});
  expect_error([] { GradScaler(1.0, 0.5); }, {"growth_factor must be above 1"});
}

TEST(GradScaler, TheOtherOptimizersReadTheFlagOnce) {
  Tensor p = tensor({1.0, 2.0}).requires_grad_(true);
  RMSprop opt({p}, RMSpropOptions(0.1));
  GradScaler scaler;
  scaler.scale(loss_for(p, kInf)).backward();
  scaler.step(opt);
  scaler.update();
  EXPECT_EQ(p.to_vector<float>(), (std::vector<float>{1.0f, 2.0f}));
  EXPECT_EQ(scaler.get_scale(), 32768.0);
}

TEST(GradScaler, StateDictRoundTripAndDisabled) {
  Tensor p = tensor({1.0}).requires_grad_(true);
  SGD opt({p}, 0.1);
  GradScaler scaler(4.0, 2.0, 0.5, 3);
  scaler.scale(sum(p)).backward();
  scaler.step(opt);
  scaler.update();
  const nn::StateDict saved = scaler.state_dict();
  EXPECT_EQ(saved.at("_growth_tracker").item<int64_t>(), 1);
  GradScaler resumed;
  resumed.load_state_dict(saved);
  EXPECT_EQ(resumed.get_scale(), 4.0);
  EXPECT_EQ(resumed.get_growth_interval(), 3);
  for (int i = 0; i < 2; ++i) {  // two more clean steps reach the interval of 3
    opt.zero_grad();
    resumed.scale(sum(p)).backward();
    resumed.step(opt);
    resumed.update();
  }
  EXPECT_EQ(resumed.get_scale(), 8.0);

  GradScaler off(65536.0, 2.0, 0.5, 2000, false);
  const Tensor loss = sum(p);
  EXPECT_EQ(off.scale(loss).impl(), loss.impl());
  EXPECT_EQ(off.get_scale(), 1.0);
  EXPECT_TRUE(off.state_dict().empty());
}

}  // namespace
}  // namespace volt::optim
