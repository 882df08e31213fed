// Optimizers against PyTorch's update formulas, recomputed here in plain scalar arithmetic for
// a few steps; schedulers against their closed forms.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <numbers>
#include <string>
#include <vector>

#include "test_support.h"
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
  SGD opt({p}, SGDOptions(0.1).weight_decay(0.01));
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
    SGD opt({p}, SGDOptions(0.05).momentum(mu).dampening(damp).nesterov(nesterov));
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

// PyTorch's Adam/AdamW update; with v_max, AMSGrad's (the running max of v in the denominator).
void adam_reference(std::vector<double>& x, int t, std::vector<double>& m, std::vector<double>& v, double lr, double wd,
                    bool decoupled, std::vector<double>* v_max = nullptr) {
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  for (std::size_t i = 0; i < x.size(); ++i) {
    double g = 2 * kCoef[i] * x[i];
    if (decoupled)
      x[i] *= 1 - lr * wd;
    else
      g += wd * x[i];
    m[i] = b1 * m[i] + (1 - b1) * g;
    v[i] = b2 * v[i] + (1 - b2) * g * g;
    if (v_max) (*v_max)[i] = std::max((*v_max)[i], v[i]);
    const double mhat = m[i] / (1 - std::pow(b1, t));
    const double denom = std::sqrt(v_max ? (*v_max)[i] : v[i]) / std::sqrt(1 - std::pow(b2, t)) + eps;
    x[i] -= lr * mhat / denom;
  }
}

TEST(Adam, MatchesTheFormula) {
  Tensor p = tensor({1.0, 2.0, -3.0}, DType::f64).requires_grad_(true);
  Adam opt({p}, AdamOptions(0.01).weight_decay(0.1));
  std::vector<double> m(3), v(3);
  run_against(
      opt, p, [&](std::vector<double>& x, int t) { adam_reference(x, t, m, v, 0.01, 0.1, false); }, 6);
  EXPECT_EQ(opt.step_count(), 6);
}

TEST(AdamW, DecouplesWeightDecay) {
  Tensor p = tensor({1.0, 2.0, -3.0}, DType::f64).requires_grad_(true);
  AdamW opt({p}, AdamWOptions());
  std::vector<double> m(3), v(3);
  run_against(
      opt, p, [&](std::vector<double>& x, int t) { adam_reference(x, t, m, v, 1e-3, 1e-2, true); }, 6);
}

TEST(Adam, AmsgradKeepsTheLargestSecondMoment) {
  for (bool decoupled : {false, true}) {
    Tensor p = tensor({1.0, 2.0, -3.0}, DType::f64).requires_grad_(true);
    const auto o = AdamOptions(0.2).amsgrad(true).weight_decay(0.05);
    std::unique_ptr<Optimizer> opt;
    if (decoupled)
      opt = std::make_unique<AdamW>(std::vector<Tensor>{p}, o);
    else
      opt = std::make_unique<Adam>(std::vector<Tensor>{p}, o);
    std::vector<double> m(3), v(3), v_max(3);
    // lr 0.2 overshoots, so the gradients shrink and v falls below its max: amsgrad matters.
    run_against(
        *opt, p, [&](std::vector<double>& x, int t) { adam_reference(x, t, m, v, 0.2, 0.05, decoupled, &v_max); }, 8);
    EXPECT_EQ(opt->state_dict().count("state.0.max_exp_avg_sq"), 1u);
  }
}

TEST(RMSprop, PlainAndCenteredWithMomentum) {
  for (bool centered : {false, true}) {
    Tensor p = tensor({1.0, 2.0, -3.0}, DType::f64).requires_grad_(true);
    const double lr = 0.01, alpha = 0.9, eps = 1e-8, wd = centered ? 0.1 : 0.0, mu = centered ? 0.5 : 0.0;
    RMSprop opt({p}, RMSpropOptions(lr).alpha(alpha).centered(centered).momentum(mu).weight_decay(wd));
    std::vector<double> sq(3), ga(3), buf(3);
    run_against(
        opt, p,
        [&](std::vector<double>& x, int) {
          for (std::size_t i = 0; i < x.size(); ++i) {
            const double g = 2 * kCoef[i] * x[i] + wd * x[i];
            sq[i] = alpha * sq[i] + (1 - alpha) * g * g;
            ga[i] = alpha * ga[i] + (1 - alpha) * g;
            const double avg = std::sqrt(centered ? sq[i] - ga[i] * ga[i] : sq[i]) + eps;
            if (mu > 0) {
              buf[i] = mu * buf[i] + g / avg;
              x[i] -= lr * buf[i];
            } else {
              x[i] -= lr * g / avg;
            }
          }
        },
        5);
  }
}

TEST(Adagrad, DecaysItsRateAndStartsFromTheAccumulator) {
  Tensor p = tensor({1.0, 2.0, -3.0}, DType::f64).requires_grad_(true);
  const double lr = 0.1, decay = 0.5, wd = 0.01, init = 0.2, eps = 1e-10;
  Adagrad opt({p}, AdagradOptions(lr).lr_decay(decay).weight_decay(wd).initial_accumulator_value(init));
  std::vector<double> acc(3, init);
  run_against(
      opt, p,
      [&](std::vector<double>& x, int t) {
        const double clr = lr / (1 + (t - 1) * decay);
        for (std::size_t i = 0; i < x.size(); ++i) {
          const double g = 2 * kCoef[i] * x[i] + wd * x[i];
          acc[i] += g * g;
          x[i] -= clr * g / (std::sqrt(acc[i]) + eps);
        }
      },
      5);
}

TEST(Optimizer, HalfParametersKeepF32StateInTheTensorOpOptimizers) {
  Tensor p = tensor({1.0, 2.0, -3.0}, DType::bf16).requires_grad_(true);
  RMSprop opt({p}, RMSpropOptions(0.01));
  sum(mul(p, p)).backward();
  opt.step();
  EXPECT_EQ(opt.state_dict().at("state.0.square_avg").dtype(), DType::f32);
  EXPECT_EQ(p.dtype(), DType::bf16);
  // One step of RMSprop moves each element by about lr·sign(g)/√(1-α) = 0.1.
  const auto got = p.to_vector<double>();
  EXPECT_NEAR(got[0], 0.9, 1e-2);
  EXPECT_NEAR(got[2], -2.9, 2e-2);
}

TEST(ParamGroups, EachGroupHasItsOwnLrAndWeightDecay) {
  Tensor a = tensor({1.0, 2.0, -3.0}, DType::f64).requires_grad_(true);
  Tensor b = tensor({0.5, -1.0, 2.0}, DType::f64).requires_grad_(true);
  SGD opt(std::vector<ParamGroup>{ParamGroup({a}), ParamGroup({b}, 0.5, 0.1)}, SGDOptions(0.1).weight_decay(0.01));
  ASSERT_EQ(opt.param_groups().size(), 2u);
  EXPECT_EQ(*opt.param_groups()[0].lr, 0.1);  // the options fill what a group leaves unset
  EXPECT_EQ(*opt.param_groups()[0].weight_decay, 0.01);
  EXPECT_EQ(opt.params().size(), 2u);
  auto expect_step = [&](double lr_b) {
    std::vector<double> xa = a.to_vector<double>(), xb = b.to_vector<double>();
    a.set_grad(Tensor());
    b.set_grad(Tensor());
    sum(add(mul(tensor(kCoef, {}, DType::f64), mul(a, a)), mul(tensor(kCoef, {}, DType::f64), mul(b, b)))).backward();
    opt.step();
    for (std::size_t i = 0; i < 3; ++i) {
      EXPECT_NEAR(a.to_vector<double>()[i], xa[i] - 0.1 * (2 * kCoef[i] * xa[i] + 0.01 * xa[i]), 1e-15);
      EXPECT_NEAR(b.to_vector<double>()[i], xb[i] - lr_b * (2 * kCoef[i] * xb[i] + 0.1 * xb[i]), 1e-15);
    }
  };
  expect_step(0.5);
  opt.param_groups()[1].lr = 0.25;  // as Python's param_groups[1]["lr"] = 0.25
  expect_step(0.25);
  opt.set_lr(1, 0.125);
  expect_step(0.125);

  const StateDict saved = opt.state_dict();
  EXPECT_EQ(saved.at("param_groups.1.lr").item<double>(), 0.125);
  SGD other(std::vector<ParamGroup>{ParamGroup({a}), ParamGroup({b})}, SGDOptions(0.1));
  other.load_state_dict(saved);
  EXPECT_EQ(*other.param_groups()[1].lr, 0.125);
  EXPECT_EQ(*other.param_groups()[0].lr, 0.1);
}

TEST(ParamGroups, RefuseEmptyGroupsAndSharedParameters) {
  Tensor a = tensor({1.0}).requires_grad_(true);
  EXPECT_NE(std::string(testing::error_of([&] {
              SGD(std::vector<ParamGroup>{ParamGroup({a}), ParamGroup({a})});
            })).find("a parameter appears twice"),
            std::string::npos);
  EXPECT_NE(std::string(testing::error_of([&] {
              SGD(std::vector<ParamGroup>{ParamGroup({a}), ParamGroup({})});
            })).find("parameter group 1 is empty"),
            std::string::npos);
  EXPECT_THROW(SGD(std::vector<ParamGroup>{ParamGroup({a}, -1.0)}), Error);
}

TEST(Options, ChainInAnyOrderAndReadBack) {
  const auto o = SGDOptions(0.1).nesterov(true).momentum(0.9).weight_decay(1e-4);
  EXPECT_EQ(o.lr(), 0.1);
  EXPECT_EQ(o.momentum(), 0.9);
  EXPECT_TRUE(o.nesterov());
  EXPECT_EQ(std::get<0>(AdamOptions().betas({0.8, 0.99}).betas()), 0.8);
  EXPECT_EQ(AdamWOptions(3e-4).weight_decay(), 1e-2);
  Tensor p = tensor({1.0}).requires_grad_(true);
  EXPECT_EQ(SGD({p}, 0.5).lr(), 0.5);  // libtorch's SGD(params, /*lr=*/0.5)
  EXPECT_EQ(AdamW({p}, 3e-4).options.weight_decay(), 1e-2);
}

TEST(Optimizer, SkipsParametersWithoutGradient) {
  Tensor a = tensor({1.0}).requires_grad_(true), b = tensor({1.0}).requires_grad_(true);
  SGD opt({a, b}, SGDOptions(1.0));
  sum(mul(a, 3.0)).backward();
  opt.step();
  EXPECT_FLOAT_EQ(a.item<float>(), -2.0f);
  EXPECT_FLOAT_EQ(b.item<float>(), 1.0f);
  opt.zero_grad();
  EXPECT_FALSE(a.grad().defined());
}

TEST(Optimizer, RejectsBadParametersAndOptions) {
  EXPECT_THROW(SGD(std::vector<Tensor>{}), Error);
  EXPECT_THROW(SGD({tensor({1.0})}, {}), Error);  // does not require grad
  Tensor p = tensor({1.0}).requires_grad_(true);
  EXPECT_THROW(SGD({p}, SGDOptions(-1.0)), Error);
  EXPECT_THROW(SGD({p}, SGDOptions().momentum(0.0).nesterov(true)), Error);
  EXPECT_THROW(Adam({p}, AdamOptions().betas({1.0, 0.999})), Error);
}

TEST(Optimizer, StateDictResumesExactly) {
  auto make = [] { return tensor({0.5, -1.0, 2.0}, DType::f64).requires_grad_(true); };
  Tensor p = make();
  Adam opt({p}, AdamOptions(0.05));
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
  Adam resumed({q}, AdamOptions(0.05));
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
  SGD opt({p}, SGDOptions(1.0));
  StepLR sched(opt, 2, 0.5);
  std::vector<double> lrs;
  for (int e = 0; e < 6; ++e) {
    lrs.push_back(opt.lr());
    sched.step();
  }
  EXPECT_EQ(lrs, (std::vector<double>{1.0, 1.0, 0.5, 0.5, 0.25, 0.25}));
}

// A scheduler made afresh and given another's state_dict continues its schedule: the lrs it
// sets next are those the first would set (StepLR(2, 0.5) from lr 1: 1, 1, 0.5, 0.5, 0.25, ...).
TEST(Schedulers, StateDictResumesTheSchedule) {
  Tensor p = tensor({1.0}).requires_grad_(true);
  SGD opt({p}, SGDOptions(1.0));
  StepLR sched(opt, 2, 0.5);
  for (int e = 0; e < 3; ++e)
    sched.step();
  const StateDict saved = sched.state_dict();
  EXPECT_EQ(saved.at("last_epoch").item<int64_t>(), 3);

  Tensor q = tensor({1.0}).requires_grad_(true);
  SGD opt2({q}, SGDOptions(1.0));
  StepLR resumed(opt2, 2, 0.5);
  resumed.load_state_dict(saved);
  EXPECT_EQ(opt2.lr(), 0.5);
  resumed.step();
  EXPECT_EQ(opt2.lr(), 0.25);

  StateDict bad = saved;
  bad["base_lrs"] = tensor({1.0, 1.0}, DType::f64);
  EXPECT_THROW(resumed.load_state_dict(bad), Error);
  bad = saved;
  bad.erase("last_epoch");
  EXPECT_THROW(resumed.load_state_dict(bad), Error);
  EXPECT_EQ(resumed.last_epoch(), 4);  // the refusals changed nothing
  EXPECT_EQ(opt2.lr(), 0.25);
}

TEST(Schedulers, CosineAnnealing) {
  Tensor p = tensor({1.0}).requires_grad_(true);
  SGD opt({p}, SGDOptions(0.1));
  CosineAnnealingLR sched(opt, 4, 0.01);
  const double expected[] = {0.1, 0.01 + 0.09 * (1 + std::cos(std::numbers::pi / 4)) / 2, 0.055,
                             0.01 + 0.09 * (1 + std::cos(3 * std::numbers::pi / 4)) / 2, 0.01};
  for (double e : expected) {
    EXPECT_NEAR(opt.lr(), e, 1e-15);
    sched.step();
  }
}

TEST(Schedulers, ScaleEachGroupFromItsOwnBase) {
  Tensor a = tensor({1.0}).requires_grad_(true), b = tensor({1.0}).requires_grad_(true);
  SGD opt(std::vector<ParamGroup>{ParamGroup({a}), ParamGroup({b}, 0.01)}, SGDOptions(1.0));
  StepLR sched(opt, 1, 0.5);
  sched.step();
  sched.step();
  EXPECT_EQ(sched.get_last_lr(), (std::vector<double>{0.25, 0.0025}));
}

// PyTorch's OneCycleLR, recomputed: two phases, cosine annealing, momentum against the lr.
TEST(Schedulers, OneCycleLR) {
  Tensor p = tensor({1.0}).requires_grad_(true);
  SGD opt({p}, SGDOptions(123.0).momentum(0.9));
  const int64_t total = 10;
  OneCycleLR sched(opt, 1.0, total, 0.3);
  const double initial = 1.0 / 25, minimum = initial / 1e4;
  auto cos_anneal = [](double start, double end, double pct) {
    return end + (start - end) / 2 * (std::cos(std::numbers::pi * pct) + 1);
  };
  for (int64_t step = 0; step < total; ++step) {
    double lr, momentum;
    if (step <= 2) {  // the first phase ends at 0.3·10 - 1 = 2
      lr = cos_anneal(initial, 1.0, step / 2.0);
      momentum = cos_anneal(0.95, 0.85, step / 2.0);
    } else {
      lr = cos_anneal(1.0, minimum, (step - 2) / 7.0);
      momentum = cos_anneal(0.85, 0.95, (step - 2) / 7.0);
    }
    EXPECT_NEAR(opt.lr(), lr, 1e-15) << "step " << step;
    EXPECT_NEAR(opt.options.momentum(), momentum, 1e-15) << "step " << step;
    sched.step();
  }
  EXPECT_NEAR(opt.lr(), cos_anneal(1.0, minimum, 8.0 / 7.0), 1e-15);  // step 10 = total_steps still allowed
  EXPECT_NE(std::string(testing::error_of([&] { sched.step(); })).find("stepped 11 times, but total_steps is 10"),
            std::string::npos);
  Adagrad ada({p});
  EXPECT_THROW(OneCycleLR(ada, 0.1, 10), Error);  // no momentum to cycle
  OneCycleLR linear(ada, 0.1, 10, 0.5, "linear", false);
  EXPECT_NEAR(ada.lr(), 0.1 / 25, 1e-15);
  linear.step();
  EXPECT_NEAR(ada.lr(), 0.1 / 25 + (0.1 - 0.1 / 25) / 4, 1e-15);  // phase 1 ends at step 4
}

TEST(Schedulers, ReduceLROnPlateau) {
  Tensor p = tensor({1.0}).requires_grad_(true);
  SGD opt({p}, SGDOptions(1.0));
  ReduceLROnPlateau sched(opt, "min", 0.5, /*patience=*/2, 1e-4, "rel", /*cooldown=*/1, /*min_lr=*/0.2);
  const double metrics[] = {5.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0};
  std::vector<double> lrs;
  for (double m : metrics) {
    sched.step(m);
    lrs.push_back(opt.lr());
  }
  // Bad epochs after 4.0: three (more than patience 2) halve the lr, one of cooldown follows,
  // then three more after 3.0 halve it again; the third cut stops at min_lr.
  EXPECT_EQ(lrs, (std::vector<double>{1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.2}));
  EXPECT_EQ(sched.best(), 3.0);
  EXPECT_THROW(ReduceLROnPlateau(opt, "lowest"), Error);
  EXPECT_THROW(sched.step(std::nan("")), Error);
}

TEST(Schedulers, LinearLR) {
  Tensor p = tensor({1.0}).requires_grad_(true);
  SGD opt({p}, SGDOptions(0.3));
  LinearLR sched(opt, 0.25, 1.0, 3);
  const double expected[] = {0.075, 0.15, 0.225, 0.3, 0.3};
  for (double e : expected) {
    EXPECT_NEAR(opt.lr(), e, 1e-15);
    sched.step();
  }
  EXPECT_THROW(LinearLR(opt, 0.25, 1.0, 0), Error);
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
    return std::make_unique<AdamW>(p, AdamOptions(1e-2).weight_decay(0.1));
  };
  const auto sgd = [](const std::vector<Tensor>& p) {
    return std::make_unique<SGD>(p, SGDOptions(0.1).momentum(0.9).weight_decay(1e-3).nesterov(true));
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
