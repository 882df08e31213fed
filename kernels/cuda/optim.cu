// Multi-tensor optimizer updates: one launch updates up to kMaxTensors tensors. Their
// descriptors travel by value in the kernel's parameter (a __grid_constant__ struct, read in
// place, not copied per thread), so a step needs no host→device copy of them and a captured
// CUDA graph replays them as they were. Each block updates one kChunk-element chunk of one
// tensor; blocks find their tensor by binary search over the tensors' first blocks.
//
// The formulas are the CPU optimizers' (nn/optim/optimizer.cpp, PyTorch's), operation for
// operation in the same order and precision (float for f32/f16/bf16 parameters, double for
// f64), so the two agree to rounding. The learning rate and the step count are read from device
// memory. f16/bf16 parameters (and their gradients) keep f32 state buffers.
#include <climits>

#include "volt/core/cuda/runtime.h"
#include "volt/kernels/cuda/device_types.cuh"
#include "volt/kernels/optim.h"

namespace volt::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kChunk = 16 * kThreads;  // elements per block
// Tensors per launch: the parameter struct stays under the 4 KiB that every CUDA version and
// architecture accepts for kernel parameters.
constexpr int kMaxTensors = 48;

struct TensorBatch {
  OptimTensor tensors[kMaxTensors];
  int64_t first_block[kMaxTensors + 1];  // tensor i owns blocks [first_block[i], first_block[i + 1])
  int count;
};
static_assert(sizeof(TensorBatch) + 512 <= 4096, "the kernel parameters must fit in 4 KiB");

__device__ __forceinline__ float square_root(float x) { return sqrtf(x); }
__device__ __forceinline__ double square_root(double x) { return sqrt(x); }

template <class P, class Update>
__global__ void __launch_bounds__(kThreads)
    multi_tensor_kernel(const __grid_constant__ TensorBatch batch, const Update update) {
  if (update.args.found_inf && *update.args.found_inf != 0.0f) return;  // GradScaler found an overflow
  const int64_t block = blockIdx.x;
  int lo = 0, hi = batch.count - 1;  // the last tensor whose first block is <= this block
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (batch.first_block[mid] <= block)
      lo = mid;
    else
      hi = mid - 1;
  }
  const OptimTensor& t = batch.tensors[lo];
  const int64_t begin = (block - batch.first_block[lo]) * kChunk;
  const int64_t end = begin + kChunk < t.n ? begin + kChunk : t.n;
  const auto scalars = update.scalars();
  for (int64_t j = begin + threadIdx.x; j < end; j += kThreads)
    update(scalars, t, j);
}

// p, g and the state in the parameter's compute type A.
template <class P>
struct SgdUpdate {
  using A = acc_t<P>;
  SgdArgs args;
  const double* lr;

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

// Launches the update make.operator()<P>() returns over the tensors, kMaxTensors (or 2^31 - 1
// blocks) at a time.
template <class Make>
void launch(const char* op, DType dtype, const std::vector<OptimTensor>& tensors, const Make& make,
            cudaStream_t stream) {
  dispatch_floating(dtype, op, [&]<class P>() {
    const auto update = make.template operator()<P>();
    using Update = std::remove_const_t<decltype(update)>;
    TensorBatch batch{};
    int64_t blocks = 0;
    auto flush = [&] {
      if (batch.count == 0) return;
      batch.first_block[batch.count] = blocks;
      multi_tensor_kernel<P, Update><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(batch, update);
      VOLT_CUDA_CHECK_LAUNCH();
      batch.count = 0;
      blocks = 0;
    };
    for (const OptimTensor& t : tensors) {
      if (t.n == 0) continue;
      const int64_t need = (t.n + kChunk - 1) / kChunk;
      if (batch.count == kMaxTensors || blocks + need > INT_MAX) flush();
      batch.tensors[batch.count] = t;
      batch.first_block[batch.count] = blocks;
      ++batch.count;
      blocks += need;
    }
    flush();
  });
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
