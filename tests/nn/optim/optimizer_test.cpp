// Optimizers against PyTorch's update formulas, recomputed here in plain scalar arithmetic for
// a few steps; schedulers against their closed forms.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "volt/volt.h"

namespace volt::optim {
namespace {

// Loss = Σ c_i · p_i², so grad_i = 2 c_i p_i: a gradient that changes as p moves.
const std::vector<double> kCoef = {1.0, -0.5, 2.0};

void compute_grad(Tensor& p) {
  p.set_grad(Tensor());
  sum(mul(tensor(kCoef, {}, DType::f64), mul(p, p))).backward();
}

template <class Opt, class Ref>
void run_against(Opt& opt, Tensor& p, Ref&& reference, int steps) {
  std::vector<double> expected = p.to_vector<double>();
  for (int s = 0; s < steps; ++s) {
    compute_grad(p);
    opt.step();
    reference(expected, s + 1);
    const auto got = p.to_vector<double>();
    for (std::size_t i = 0; i < got.size(); ++i)
      EXPECT_NEAR(got[i], expected[i], 1e-12) << "step " << s + 1;
  }
}

TEST(SGD, PlainWithWeightDecay) {
  Tensor p = tensor({1.0, 2.0, -3.0}, DType::f64).requires_grad_(true);
  SGD opt({p}, {.lr = 0.1, .weight_decay = 0.01});
  run_against(
      opt, p,
      [](std::vector<double>& x, int) {
        for (std::size_t i = 0; i < x.size(); ++i)
          x[i] -= 0.1 * (2 * kCoef[i] * x[i] + 0.01 * x[i]);
      },
      4);
}

TEST(SGD, MomentumDampeningAndNesterov) {
  for (bool nesterov : {false, true}) {
    Tensor p = tensor({1.0, 2.0, -3.0}, DType::f64).requires_grad_(true);
    const double mu = 0.9, damp = nesterov ? 0.0 : 0.2;
    SGD opt({p}, {.lr = 0.05, .momentum = mu, .dampening = damp, .nesterov = nesterov});
    std::vector<double> buf(3);
    run_against(
        opt, p,
        [&](std::vector<double>& x, int t) {
          for (std::size_t i = 0; i < x.size(); ++i) {
            const double g = 2 * kCoef[i] * x[i];
            buf[i] = t == 1 ? g : mu * buf[i] + (1 - damp) * g;
            x[i] -= 0.05 * (nesterov ? g + mu * buf[i] : buf[i]);
          }
        },
        5);
  }
}

void adam_reference(std::vector<double>& x, int t, std::vector<double>& m, std::vector<double>& v, double lr, double wd,
                    bool decoupled) {
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  for (std::size_t i = 0; i < x.size(); ++i) {
    double g = 2 * kCoef[i] * x[i];
    if (decoupled)
      x[i] *= 1 - lr * wd;
    else
      g += wd * x[i];
    m[i] = b1 * m[i] + (1 - b1) * g;
    v[i] = b2 * v[i] + (1 - b2) * g * g;
    const double mhat = m[i] / (1 - std::pow(b1, t));
    const double denom = std::sqrt(v[i]) / std::sqrt(1 - std::pow(b2, t)) + eps;
    x[i] -= lr * mhat / denom;
  }
}

TEST(Adam, MatchesTheFormula) {
  Tensor p = tensor({1.0, 2.0, -3.0}, DType::f64).requires_grad_(true);
  Adam opt({p}, {.lr = 0.01, .weight_decay = 0.1});
  std::vector<double> m(3), v(3);
  run_against(
      opt, p, [&](std::vector<double>& x, int t) { adam_reference(x, t, m, v, 0.01, 0.1, false); }, 6);
  EXPECT_EQ(opt.step_count(), 6);
}

TEST(AdamW, DecouplesWeightDecay) {
  Tensor p = tensor({1.0, 2.0, -3.0}, DType::f64).requires_grad_(true);
  AdamW opt({p}, adamw_defaults());
  std::vector<double> m(3), v(3);
  run_against(
      opt, p, [&](std::vector<double>& x, int t) { adam_reference(x, t, m, v, 1e-3, 1e-2, true); }, 6);
}

TEST(Optimizer, SkipsParametersWithoutGradient) {
  Tensor a = tensor({1.0}).requires_grad_(true), b = tensor({1.0}).requires_grad_(true);
  SGD opt({a, b}, {.lr = 1.0});
  sum(mul(a, 3.0)).backward();
  opt.step();
  EXPECT_FLOAT_EQ(a.item<float>(), -2.0f);
  EXPECT_FLOAT_EQ(b.item<float>(), 1.0f);
  opt.zero_grad();
  EXPECT_FALSE(a.grad().defined());
}

TEST(Optimizer, RejectsBadParametersAndOptions) {
  EXPECT_THROW(SGD({}, {}), Error);
  EXPECT_THROW(SGD({tensor({1.0})}, {}), Error);  // does not require grad
  Tensor p = tensor({1.0}).requires_grad_(true);
  EXPECT_THROW(SGD({p}, {.lr = -1.0}), Error);
  EXPECT_THROW(SGD({p}, {.momentum = 0.0, .nesterov = true}), Error);
  EXPECT_THROW(Adam({p}, {.beta1 = 1.0}), Error);
}

TEST(Optimizer, StateDictResumesExactly) {
  auto make = [] { return tensor({0.5, -1.0, 2.0}, DType::f64).requires_grad_(true); };
  Tensor p = make();
  Adam opt({p}, {.lr = 0.05});
  for (int i = 0; i < 3; ++i) {
    compute_grad(p);
    opt.step();
  }
  const StateDict saved = opt.state_dict();
  EXPECT_EQ(saved.count("state.0.exp_avg"), 1u);
  EXPECT_EQ(saved.at("step").item<int64_t>(), 3);

  Tensor q = make();
  {
    NoGradGuard g;
    q.copy_(p);
  }
  Adam resumed({q}, {.lr = 0.05});
  resumed.load_state_dict(saved);
  for (int i = 0; i < 3; ++i) {
    compute_grad(p);
    opt.step();
    compute_grad(q);
    resumed.step();
  }
  EXPECT_EQ(p.to_vector<double>(), q.to_vector<double>());

  StateDict bad = saved;
  bad["state.0.exp_avg"] = zeros({2}, DType::f64);
  EXPECT_THROW(resumed.load_state_dict(bad), Error);
  bad = saved;
  bad["state.7.exp_avg"] = zeros({3}, DType::f64);
  EXPECT_THROW(resumed.load_state_dict(bad), Error);
  bad = saved;
  bad.erase("step");
  EXPECT_THROW(resumed.load_state_dict(bad), Error);
}

TEST(Schedulers, StepLR) {
  Tensor p = tensor({1.0}).requires_grad_(true);
  SGD opt({p}, {.lr = 1.0});
  StepLR sched(opt, 2, 0.5);
  std::vector<double> lrs;
  for (int e = 0; e < 6; ++e) {
    lrs.push_back(opt.lr());
    sched.step();
  }
  EXPECT_EQ(lrs, (std::vector<double>{1.0, 1.0, 0.5, 0.5, 0.25, 0.25}));
}

TEST(Schedulers, CosineAnnealing) {
  Tensor p = tensor({1.0}).requires_grad_(true);
  SGD opt({p}, {.lr = 0.1});
  CosineAnnealingLR sched(opt, 4, 0.01);
  const double expected[] = {0.1, 0.01 + 0.09 * (1 + std::cos(std::numbers::pi / 4)) / 2, 0.055,
                             0.01 + 0.09 * (1 + std::cos(3 * std::numbers::pi / 4)) / 2, 0.01};
  for (double e : expected) {
    EXPECT_NEAR(opt.lr(), e, 1e-15);
    sched.step();
  }
}

TEST(Schedulers, LinearWarmup) {
  Tensor p = tensor({1.0}).requires_grad_(true);
  SGD opt({p}, {.lr = 0.3});
  LinearWarmup sched(opt, 3, 0.25);
  const double expected[] = {0.075, 0.15, 0.225, 0.3, 0.3};
  for (double e : expected) {
    EXPECT_NEAR(opt.lr(), e, 1e-15);
    sched.step();
  }
  EXPECT_THROW(LinearWarmup(opt, 0), Error);
}

}  // namespace
}  // namespace volt::optim

namespace volt::optim {
namespace {

// The fused updates split all parameters' elements over the CPU threads; each element's update
// is independent, so 1, 2 and 3 threads leave the same bits. The sizes put chunk boundaries
// inside tensors and between them.
template <class MakeOptimizer>
std::vector<std::vector<float>> train_with_threads(int threads, MakeOptimizer make) {
  set_num_threads(threads);
  Generator gen(9);
  std::vector<Tensor> params;
  for (int64_t n : {5, 16383, 20000, 1, 40000})
    params.push_back(randn({n}, DType::f32, &gen).requires_grad_(true));
  auto opt = make(params);
  for (int step = 0; step < 3; ++step) {
    for (Tensor& p : params)
      p.set_grad(randn(p.shape(), DType::f32, &gen));
    opt->step();
  }
  std::vector<std::vector<float>> out;
  for (const Tensor& p : params)
    out.push_back(p.to_vector<float>());
  return out;
}

TEST(FusedStep, SameBitsOnAnyThreadCount) {
  const int saved = get_num_threads();
  const auto adam = [](const std::vector<Tensor>& p) {
    return std::make_unique<AdamW>(p, AdamOptions{.lr = 1e-2, .weight_decay = 0.1});
  };
  const auto sgd = [](const std::vector<Tensor>& p) {
    return std::make_unique<SGD>(p, SGDOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-3, .nesterov = true});
  };
  const auto adam_one = train_with_threads(1, adam), sgd_one = train_with_threads(1, sgd);
  for (int threads : {2, 3}) {
    EXPECT_EQ(train_with_threads(threads, adam), adam_one) << threads << " threads";
    EXPECT_EQ(train_with_threads(threads, sgd), sgd_one) << threads << " threads";
  }
  set_num_threads(saved);
}

}  // namespace
}  // namespace volt::optim
