// The optimizer family on the CPU: the CUDA twins' updates (kernels/cuda/optim.cu), element by
// element in the same operations, order and precision, over each tensor in turn.
#include "volt/kernels/optim.h"

#include <cmath>

#include "volt/kernels/cpu/loops.h"

namespace volt::kernels {

Kernel<SgdStepFn> sgd_step{"sgd_step", cpu::sgd_step};
Kernel<AdamStepFn> adam_step{"adam_step", cpu::adam_step};
Kernel<StepCountIncrementFn> step_count_increment{"step_count_increment", cpu::step_count_increment};

namespace cpu {
namespace {

// Calls f.operator()<flags...>() with each runtime flag as a template argument, so the update
// loops have no branch inside and vectorise.
template <class F>
void with_flags(F&& f, bool a, bool b) {
  if (a)
    b ? f.template operator()<true, true>() : f.template operator()<true, false>();
  else
    b ? f.template operator()<false, true>() : f.template operator()<false, false>();
}

}  // namespace

void sgd_step(DType dtype, const std::vector<OptimTensor>& tensors, const double* lr, const SgdArgs& args, Stream) {
  dispatch_floating(dtype, "sgd_step", [&]<class P>() {
    using A = acc_t<P>;
    const A neg_lr = static_cast<A>(-*lr), weight_decay = static_cast<A>(args.weight_decay);
    const A momentum = static_cast<A>(args.momentum), one_minus_dampening = static_cast<A>(1.0 - args.dampening);
    for (const OptimTensor& t : tensors) {
      P* __restrict param = static_cast<P*>(t.param);
      const P* __restrict grad = static_cast<const P*>(t.grad);
      A* __restrict buffer = static_cast<A*>(t.buf1);
      const bool with_momentum = args.momentum != 0;
      with_flags(
          [&]<bool kDecay, bool kMomentum>() {
            for (int64_t j = 0; j < t.n; ++j) {
              const A p = static_cast<A>(param[j]);
              A g = static_cast<A>(grad[j]);
              if constexpr (kDecay) g = g + weight_decay * p;
              if constexpr (kMomentum) {
                const A b = t.fresh ? g : buffer[j] * momentum + one_minus_dampening * g;
                buffer[j] = b;
                g = args.nesterov ? g + momentum * b : b;
              }
              param[j] = static_cast<P>(p + neg_lr * g);
            }
          },
          args.weight_decay != 0, with_momentum);
    }
  });
}

void adam_step(DType dtype, const std::vector<OptimTensor>& tensors, const double* lr, const int64_t* step,
               const AdamArgs& args, Stream) {
  dispatch_floating(dtype, "adam_step", [&]<class P>() {
    using A = acc_t<P>;
    // Bias corrections in double from the (incremented) step count t: 1-β1^t, √(1-β2^t).
    const double lr_value = *lr, t = static_cast<double>(*step);
    const double bias1 = 1.0 - std::pow(args.beta1, t);
    const double bias2_sqrt = std::sqrt(1.0 - std::pow(args.beta2, t));
    const A decay_factor = static_cast<A>(1.0 - lr_value * args.weight_decay);
    const A weight_decay = static_cast<A>(args.weight_decay);
    const A beta1 = static_cast<A>(args.beta1), one_minus_beta1 = static_cast<A>(1.0 - args.beta1);
    const A beta2 = static_cast<A>(args.beta2), one_minus_beta2 = static_cast<A>(1.0 - args.beta2);
    const A inv_bias2_sqrt = static_cast<A>(1.0 / bias2_sqrt), eps = static_cast<A>(args.eps);
    const A neg_step_size = static_cast<A>(-(lr_value / bias1));
    for (const OptimTensor& tensor : tensors) {
      P* __restrict param = static_cast<P*>(tensor.param);
      const P* __restrict grad = static_cast<const P*>(tensor.grad);
      A* __restrict exp_avg = static_cast<A*>(tensor.buf1);
      A* __restrict exp_avg_sq = static_cast<A*>(tensor.buf2);
      const bool decay = args.weight_decay != 0;
      with_flags(
          [&]<bool kL2, bool kDecoupled>() {
            for (int64_t j = 0; j < tensor.n; ++j) {
              A p = static_cast<A>(param[j]);
              A g = static_cast<A>(grad[j]);
              if constexpr (kDecoupled) p = p * decay_factor;
              if constexpr (kL2) g = g + weight_decay * p;
              const A m = exp_avg[j] * beta1 + one_minus_beta1 * g;
              const A v = exp_avg_sq[j] * beta2 + one_minus_beta2 * g * g;
              exp_avg[j] = m;
              exp_avg_sq[j] = v;
              const A denom = std::sqrt(v) * inv_bias2_sqrt + eps;
              param[j] = static_cast<P>(p + neg_step_size * m / denom);
            }
          },
          decay && !args.decoupled, decay && args.decoupled);
    }
  });
}

void step_count_increment(int64_t* step, Stream) { ++*step; }

}  // namespace cpu
}  // namespace volt::kernels
