// The optimizer family on the CPU: the CUDA twins' updates (kernels/cuda/optim.cu), element by
// element in the same operations, order and precision, over each tensor in turn.
#include "volt/kernels/optim.h"

#include <algorithm>
#include <cmath>

#include "volt/core/thread_pool.h"
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

// f(tensor, begin, end) over the elements of every tensor, the list's elements taken as one
// range and split over the threads (each element's update is independent of the split).
constexpr int64_t kGrain = 16384;
template <class F>
void for_each_range(const std::vector<OptimTensor>& tensors, const F& f) {
  int64_t total = 0;
  for (const OptimTensor& t : tensors)
    total += t.n;
  parallel_for(0, total, kGrain, [&](int64_t begin, int64_t end) {
    int64_t base = 0;
    for (const OptimTensor& t : tensors) {
      const int64_t lo = std::max(begin, base), hi = std::min(end, base + t.n);
      if (lo < hi) f(t, lo - base, hi - base);
      base += t.n;
    }
  });
}

}  // namespace

namespace {

// The update loops are plain functions over one range with their constants as by-value
// arguments: captured by reference, the constants would be reloaded after every store and the
// loops would not vectorise.
template <bool kDecay, bool kMomentum, class P, class A>
void sgd_range(P* __restrict param, const P* __restrict grad, A* __restrict buffer, int64_t begin, int64_t end,
               bool fresh, bool nesterov, A neg_lr, A weight_decay, A momentum, A one_minus_dampening) {
  for (int64_t j = begin; j < end; ++j) {
    const A p = static_cast<A>(param[j]);
    A g = static_cast<A>(grad[j]);
    if constexpr (kDecay) g = g + weight_decay * p;
    if constexpr (kMomentum) {
      const A b = fresh ? g : buffer[j] * momentum + one_minus_dampening * g;
      buffer[j] = b;
      g = nesterov ? g + momentum * b : b;
    }
    param[j] = static_cast<P>(p + neg_lr * g);
  }
}

template <class A>
struct AdamConstants {
  A decay_factor, weight_decay, beta1, one_minus_beta1, beta2, one_minus_beta2, inv_bias2_sqrt, eps, neg_step_size;
};

template <bool kL2, bool kDecoupled, class P, class A>
void adam_range(P* __restrict param, const P* __restrict grad, A* __restrict exp_avg, A* __restrict exp_avg_sq,
                int64_t begin, int64_t end, const AdamConstants<A> c) {
  for (int64_t j = begin; j < end; ++j) {
    A p = static_cast<A>(param[j]);
    A g = static_cast<A>(grad[j]);
    if constexpr (kDecoupled) p = p * c.decay_factor;
    if constexpr (kL2) g = g + c.weight_decay * p;
    const A m = exp_avg[j] * c.beta1 + c.one_minus_beta1 * g;
    const A v = exp_avg_sq[j] * c.beta2 + c.one_minus_beta2 * g * g;
    exp_avg[j] = m;
    exp_avg_sq[j] = v;
    const A denom = std::sqrt(v) * c.inv_bias2_sqrt + c.eps;
    param[j] = static_cast<P>(p + c.neg_step_size * m / denom);
  }
}

}  // namespace

void sgd_step(DType dtype, const std::vector<OptimTensor>& tensors, const double* lr, const SgdArgs& args, Stream) {
  if (args.found_inf && *args.found_inf != 0.0f) return;
  dispatch_floating(dtype, "sgd_step", [&]<class P>() {
    using A = acc_t<P>;
    const A neg_lr = static_cast<A>(-*lr), weight_decay = static_cast<A>(args.weight_decay);
    const A momentum = static_cast<A>(args.momentum), one_minus_dampening = static_cast<A>(1.0 - args.dampening);
    for_each_range(tensors, [&](const OptimTensor& t, int64_t begin, int64_t end) {
      with_flags(
          [&]<bool kDecay, bool kMomentum>() {
            sgd_range<kDecay, kMomentum>(static_cast<P*>(t.param), static_cast<const P*>(t.grad),
                                         static_cast<A*>(t.buf1), begin, end, t.fresh, args.nesterov, neg_lr,
                                         weight_decay, momentum, one_minus_dampening);
          },
          args.weight_decay != 0, args.momentum != 0);
    });
  });
}

void adam_step(DType dtype, const std::vector<OptimTensor>& tensors, const double* lr, const int64_t* step,
               const AdamArgs& args, Stream) {
  if (args.found_inf && *args.found_inf != 0.0f) return;
  dispatch_floating(dtype, "adam_step", [&]<class P>() {
    using A = acc_t<P>;
    // Bias corrections in double from the (incremented) step count t: 1-β1^t, √(1-β2^t).
    const double lr_value = *lr, t = static_cast<double>(*step);
    const double bias1 = 1.0 - std::pow(args.beta1, t);
    const double bias2_sqrt = std::sqrt(1.0 - std::pow(args.beta2, t));
    const AdamConstants<A> c{.decay_factor = static_cast<A>(1.0 - lr_value * args.weight_decay),
                             .weight_decay = static_cast<A>(args.weight_decay),
                             .beta1 = static_cast<A>(args.beta1),
                             .one_minus_beta1 = static_cast<A>(1.0 - args.beta1),
                             .beta2 = static_cast<A>(args.beta2),
                             .one_minus_beta2 = static_cast<A>(1.0 - args.beta2),
                             .inv_bias2_sqrt = static_cast<A>(1.0 / bias2_sqrt),
                             .eps = static_cast<A>(args.eps),
                             .neg_step_size = static_cast<A>(-(lr_value / bias1))};
    const bool decay = args.weight_decay != 0;
    for_each_range(tensors, [&](const OptimTensor& tensor, int64_t begin, int64_t end) {
      with_flags(
          [&]<bool kL2, bool kDecoupled>() {
            adam_range<kL2, kDecoupled>(static_cast<P*>(tensor.param), static_cast<const P*>(tensor.grad),
                                        static_cast<A*>(tensor.buf1), static_cast<A*>(tensor.buf2), begin, end, c);
          },
          decay && !args.decoupled, decay && args.decoupled);
    });
  });
}

void step_count_increment(int64_t* step, const float* found_inf, Stream) {
  if (!(found_inf && *found_inf != 0.0f)) ++*step;
}

}  // namespace cpu
}  // namespace volt::kernels
