// The optimizer updates, each over many tensors in one multi-tensor launch
// (kernels/cuda/multi_tensor.cuh).
//
// The formulas are the CPU optimizers' (nn/optim/optimizer.cpp, PyTorch's), operation for
// operation in the same order and precision (float for f32/f16/bf16 parameters, double for
// f64), so the two agree to rounding. The learning rate and the step count are read from device
// memory. f16/bf16 parameters (and their gradients) keep f32 state buffers.
#include "volt/core/cuda/runtime.h"
#include "volt/kernels/cuda/device_types.cuh"
#include "volt/kernels/cuda/multi_tensor.cuh"
#include "volt/kernels/optim.h"

namespace volt::kernels::cuda {
namespace {

__device__ __forceinline__ float square_root(float x) { return sqrtf(x); }
__device__ __forceinline__ double square_root(double x) { return sqrt(x); }

// p, g and the state in the parameter's compute type A.
template <class P>
struct SgdUpdate {
  using A = acc_t<P>;
  SgdArgs args;
  const double* lr;

  __device__ bool skipped() const { return args.found_inf && *args.found_inf != 0.0f; }

  struct Scalars {
    A neg_lr, weight_decay, momentum, one_minus_dampening;
  };
  __device__ Scalars scalars() const {
    return {static_cast<A>(-*lr), static_cast<A>(args.weight_decay), static_cast<A>(args.momentum),
            static_cast<A>(1.0 - args.dampening)};
  }
  // g = grad + wd·p; b = g (fresh buffer) or μ·b + (1-τ)·g; g = g + μ·b (nesterov) or b; p -= lr·g.
  __device__ void operator()(const Scalars& s, const OptimTensor& t, int64_t j) const {
    P* param = static_cast<P*>(t.param);
    const A p = to_acc(param[j]);
    A g = to_acc(static_cast<const P*>(t.grad)[j]);
    if (args.weight_decay != 0) g = g + s.weight_decay * p;
    if (args.momentum != 0) {
      A* buffer = static_cast<A*>(t.buf1);
      const A b = t.fresh ? g : buffer[j] * s.momentum + s.one_minus_dampening * g;
      buffer[j] = b;
      g = args.nesterov ? g + s.momentum * b : b;
    }
    param[j] = from_value<P>(p + s.neg_lr * g);
  }
};

template <class P>
struct AdamUpdate {
  using A = acc_t<P>;
  AdamArgs args;
  const double* lr;
  const int64_t* step;

  __device__ bool skipped() const { return args.found_inf && *args.found_inf != 0.0f; }

  struct Scalars {
    A decay, weight_decay, beta1, one_minus_beta1, beta2, one_minus_beta2, inv_bias2_sqrt, eps, neg_step_size;
  };
  // Bias corrections in double from the step count t (already incremented): 1-β1^t, √(1-β2^t).
  __device__ Scalars scalars() const {
    const double lr_value = *lr, t = static_cast<double>(*step);
    const double bias1 = 1.0 - pow(args.beta1, t);
    const double bias2_sqrt = sqrt(1.0 - pow(args.beta2, t));
    return {static_cast<A>(1.0 - lr_value * args.weight_decay),
            static_cast<A>(args.weight_decay),
            static_cast<A>(args.beta1),
            static_cast<A>(1.0 - args.beta1),
            static_cast<A>(args.beta2),
            static_cast<A>(1.0 - args.beta2),
            static_cast<A>(1.0 / bias2_sqrt),
            static_cast<A>(args.eps),
            static_cast<A>(-(lr_value / bias1))};
  }
  // (AdamW: p *= 1 - lr·wd | Adam: g += wd·p); m = β1·m + (1-β1)·g; v = β2·v + (1-β2)·g²;
  // p -= lr/(1-β1^t) · m / (√v/√(1-β2^t) + eps).
  __device__ void operator()(const Scalars& s, const OptimTensor& t, int64_t j) const {
    P* param = static_cast<P*>(t.param);
    A* exp_avg = static_cast<A*>(t.buf1);
    A* exp_avg_sq = static_cast<A*>(t.buf2);
    A p = to_acc(param[j]);
    A g = to_acc(static_cast<const P*>(t.grad)[j]);
    if (args.weight_decay != 0) {
      if (args.decoupled)
        p = p * s.decay;
      else
        g = g + s.weight_decay * p;
    }
    const A m = exp_avg[j] * s.beta1 + s.one_minus_beta1 * g;
    const A v = exp_avg_sq[j] * s.beta2 + s.one_minus_beta2 * g * g;
    exp_avg[j] = m;
    exp_avg_sq[j] = v;
    const A denom = square_root(v) * s.inv_bias2_sqrt + s.eps;
    param[j] = from_value<P>(p + s.neg_step_size * m / denom);
  }
};

// Launches the update make.operator()<P>() returns over the tensors.
template <class Make>
void launch(const char* op, DType dtype, const std::vector<OptimTensor>& tensors, const Make& make,
            cudaStream_t stream) {
  dispatch_floating(dtype, op,
                    [&]<class P>() { multi_tensor::launch(tensors, make.template operator()<P>(), stream); });
}

__global__ void increment_kernel(int64_t* step, const float* found_inf) {
  if (!(found_inf && *found_inf != 0.0f)) ++*step;
}

}  // namespace

void sgd_step(DType dtype, const std::vector<OptimTensor>& tensors, const double* lr, const SgdArgs& args, Stream on) {
  const cudaStream_t stream = native(on);
  launch(
      "cuda sgd_step", dtype, tensors,
      [&]<class P>() {
        return SgdUpdate<P>{args, lr};
      },
      stream);
}

void adam_step(DType dtype, const std::vector<OptimTensor>& tensors, const double* lr, const int64_t* step,
               const AdamArgs& args, Stream on) {
  const cudaStream_t stream = native(on);
  launch(
      "cuda adam_step", dtype, tensors,
      [&]<class P>() {
        return AdamUpdate<P>{args, lr, step};
      },
      stream);
}

void step_count_increment(int64_t* step, const float* found_inf, Stream on) {
  const cudaStream_t stream = native(on);
  increment_kernel<<<1, 1, 0, stream>>>(step, found_inf);
  VOLT_CUDA_CHECK_LAUNCH();
}

namespace {
// Plugs these kernels into the dispatch tables when volt_cuda is linked into a program.
[[maybe_unused]] const bool registered = (kernels::sgd_step.cuda = sgd_step, kernels::adam_step.cuda = adam_step,
                                          kernels::step_count_increment.cuda = step_count_increment, true);
}  // namespace

}  // namespace volt::kernels::cuda
