#include <cmath>
#include <cstdint>

#include "volt/kernels/cuda/device_types.cuh"
#include "volt/kernels/softmax.h"

namespace volt::kernels::cuda {
namespace {

// From <cmath>'s macros: std::numeric_limits is host-only without --expt-relaxed-constexpr.
template <class A>
__device__ inline A neg_inf() {
  return static_cast<A>(-INFINITY);
}
template <class A>
__device__ inline A quiet_nan() {
  return static_cast<A>(NAN);
}

// ---- softmax over n of [outer, n, inner] -----------------------------------------------------
// Both layouts compute what the CPU computes: m = max (a NaN never becomes it), s = Σ exp(x - m)
// summed in double and rounded to A, then exp(x - m) / s or (x - m) - log(s). Only the order of
// the double sum differs (a fixed tree instead of a scan).

template <class T>
__device__ inline void softmax_store(T* y, int64_t k, acc_t<T> x, acc_t<T> m, acc_t<T> s, acc_t<T> log_s, bool log) {
  const acc_t<T> shifted = x - m;
  y[k] = from_value<T>(log ? shifted - log_s : std::exp(shifted) / s);
}

// A block per row (o, i), its n elements at stride `inner`: for inner == 1, or few rows.
template <class T>
__global__ void softmax_rows(T* y, const T* x, int64_t outer, int64_t n, int64_t inner, bool log) {
  using A = acc_t<T>;
  __shared__ A max_scratch[kThreads];
  __shared__ double sum_scratch[kThreads];
  for (int64_t r = blockIdx.x; r < outer * inner; r += gridDim.x) {
    const int64_t base = (r / inner) * n * inner + r % inner;
    A m = neg_inf<A>();
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
      m = MaxOp{}(m, to_acc(x[base + j * inner]));
    m = block_reduce(m, max_scratch, MaxOp{});
    double sum = 0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
      sum += static_cast<double>(std::exp(to_acc(x[base + j * inner]) - m));
    const auto s = static_cast<A>(block_reduce(sum, sum_scratch, SumOp{}));
    const A log_s = std::log(s);
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
      softmax_store(y, base + j * inner, to_acc(x[base + j * inner]), m, s, log_s, log);
  }
}

// A thread per row (o, i), scanning j as the CPU does: for inner > 1 with many rows, where
// neighbouring threads then read neighbouring elements.
template <class T>
__global__ void softmax_columns(T* y, const T* x, int64_t outer, int64_t n, int64_t inner, bool log) {
  using A = acc_t<T>;
  for (int64_t r = global_thread(); r < outer * inner; r += grid_threads()) {
    const int64_t base = (r / inner) * n * inner + r % inner;
    A m = neg_inf<A>();
    for (int64_t j = 0; j < n; ++j)
      m = MaxOp{}(m, to_acc(x[base + j * inner]));
    double sum = 0;
    for (int64_t j = 0; j < n; ++j)
      sum += static_cast<double>(std::exp(to_acc(x[base + j * inner]) - m));
    const auto s = static_cast<A>(sum);
    const A log_s = std::log(s);
    for (int64_t j = 0; j < n; ++j)
      softmax_store(y, base + j * inner, to_acc(x[base + j * inner]), m, s, log_s, log);
  }
}

// softmax: gx = y * (g - Σ g·y); log_softmax: gx = g - exp(y) * Σ g. The sum in double.
template <class T>
__device__ inline double backward_term(const T* g, const T* y, int64_t k, bool log) {
  return static_cast<double>(log ? to_acc(g[k]) : to_acc(g[k]) * to_acc(y[k]));
}
template <class T>
__device__ inline void backward_store(T* gx, const T* g, const T* y, int64_t k, acc_t<T> s, bool log) {
  const acc_t<T> gk = to_acc(g[k]), yk = to_acc(y[k]);
  gx[k] = from_value<T>(log ? gk - std::exp(yk) * s : yk * (gk - s));
}

template <class T>
__global__ void softmax_backward_rows(T* gx, const T* g, const T* y, int64_t outer, int64_t n, int64_t inner,
                                      bool log) {
  __shared__ double scratch[kThreads];
  for (int64_t r = blockIdx.x; r < outer * inner; r += gridDim.x) {
    const int64_t base = (r / inner) * n * inner + r % inner;
    double sum = 0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
      sum += backward_term(g, y, base + j * inner, log);
    const auto s = static_cast<acc_t<T>>(block_reduce(sum, scratch, SumOp{}));
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
      backward_store(gx, g, y, base + j * inner, s, log);
  }
}

template <class T>
__global__ void softmax_backward_columns(T* gx, const T* g, const T* y, int64_t outer, int64_t n, int64_t inner,
                                         bool log) {
  for (int64_t r = global_thread(); r < outer * inner; r += grid_threads()) {
    const int64_t base = (r / inner) * n * inner + r % inner;
    double sum = 0;
    for (int64_t j = 0; j < n; ++j)
      sum += backward_term(g, y, base + j * inner, log);
    const auto s = static_cast<acc_t<T>>(sum);
    for (int64_t j = 0; j < n; ++j)
      backward_store(gx, g, y, base + j * inner, s, log);
  }
}

// Rows (o, i) go to a block each when inner == 1 (the row is contiguous) or when there are too
// few of them to give every thread of the GPU one.
bool by_rows(int64_t outer, int64_t inner) { return inner == 1 || outer * inner < 4096; }

// ---- cross-entropy ------------------------------------------------------------------------------

// A running max m with s = Σ exp(x - m) (double) and the plain Σ x (double), so the forward
// reads each logit once. On a new max the old sum is rescaled by exp(m_old - m_new).
template <class A>
struct Online {
  A m;
  double s, sx;
};

// A -inf logit adds exp(-inf - m) = 0 for any finite row max and is skipped: computing it
// against a thread's own max, still -inf, would give NaN. A row whose max is -inf is NaN, as the
// CPU's exp(-inf - -inf), after the reduction.
template <class A>
__device__ inline void online_add(Online<A>& st, A v) {
  st.sx += static_cast<double>(v);
  if (v == neg_inf<A>()) return;
  if (st.m < v) {
    st.s *= exp(static_cast<double>(st.m) - static_cast<double>(v));
    st.m = v;
  }
  st.s += static_cast<double>(std::exp(v - st.m));
}

struct OnlineOp {
  template <class A>
  __device__ Online<A> operator()(Online<A> a, Online<A> b) const {
    const A m = MaxOp{}(a.m, b.m);
    // A part whose max is -inf holds 0 (or NaN from a NaN logit) and needs no rescaling.
    auto rescaled = [m](const Online<A>& p) {
      return p.m == neg_inf<A>() ? p.s : p.s * exp(static_cast<double>(p.m) - static_cast<double>(m));
    };
    return {m, rescaled(a) + rescaled(b), a.sx + b.sx};
  }
};

// loss[r] = log_sum - (1-ε)(x[t] - m) - ε/C Σ(x - m), log_sum = log Σ exp(x - m), as the CPU.
template <class T>
__global__ void cross_entropy_forward_kernel(acc_t<T>* loss, acc_t<T>* log_sum, const T* logits, const int64_t* target,
                                             CrossEntropyArgs args) {
  using A = acc_t<T>;
  __shared__ Online<A> scratch[kThreads];
  const A eps = static_cast<A>(args.label_smoothing);
  const A C = static_cast<A>(args.classes);
  for (int64_t r = blockIdx.x; r < args.rows; r += gridDim.x) {
    const T* row = logits + r * args.classes;
    Online<A> st{neg_inf<A>(), 0.0, 0.0};
    for (int64_t c = threadIdx.x; c < args.classes; c += blockDim.x)
      online_add(st, to_acc(row[c]));
    st = block_reduce(st, scratch, OnlineOp{});
    if (threadIdx.x == 0) {
      const A m = st.m;
      const double s = m == neg_inf<A>() ? quiet_nan<double>() : st.s;
      const auto total = static_cast<A>(st.sx - static_cast<double>(args.classes) * static_cast<double>(m));
      const auto ls = static_cast<A>(log(s));
      log_sum[r] = ls;
      const int64_t t = target[r];
      A l;
      if (t == args.ignore_index)
        l = A(0);
      else if (t < 0 || t >= args.classes)
        l = quiet_nan<A>();  // no host check (it would synchronise): NaN marks the row
      else
        // As the CPU: the smoothing term only when smoothing (0 · -inf is NaN).
        l = ls - (A(1) - eps) * (to_acc(row[t]) - m) - (eps == A(0) ? A(0) : eps / C * total);
      loss[r] = l;
    }
  }
}

// One block: each thread sums rows tid, tid + blockDim, ... in double, then a fixed tree.
template <class A>
__global__ void cross_entropy_mean_kernel(A* mean, A* count, const A* loss, const int64_t* target,
                                          CrossEntropyArgs args) {
  __shared__ double sums[kThreads];
  __shared__ double counts[kThreads];
  double s = 0, c = 0;
  for (int64_t r = threadIdx.x; r < args.rows; r += blockDim.x) {
    s += static_cast<double>(loss[r]);
    c += target[r] != args.ignore_index ? 1.0 : 0.0;
  }
  s = block_reduce(s, sums, SumOp{});
  c = block_reduce(c, counts, SumOp{});
  if (threadIdx.x == 0) {
    *count = static_cast<A>(c);
    *mean = static_cast<A>(s / c);
  }
}

// grad[r, c] = g[r] (softmax[c] - (1-ε)[c = t] - ε/C); finds the row max again, as the CPU.
template <class T>
__global__ void cross_entropy_backward_kernel(T* grad, const acc_t<T>* grad_loss, const acc_t<T>* count,
                                              const T* logits, const acc_t<T>* log_sum, const int64_t* target,
                                              CrossEntropyArgs args) {
  using A = acc_t<T>;
  __shared__ A scratch[kThreads];
  const A eps = static_cast<A>(args.label_smoothing);
  const A smooth = eps / static_cast<A>(args.classes);
  for (int64_t r = blockIdx.x; r < args.rows; r += gridDim.x) {
    const T* row = logits + r * args.classes;
    T* out = grad + r * args.classes;
    const int64_t t = target[r];  // block-uniform, so every thread takes the same branch
    if (t == args.ignore_index || t < 0 || t >= args.classes) {
      const A fill = t == args.ignore_index ? A(0) : quiet_nan<A>();
      for (int64_t c = threadIdx.x; c < args.classes; c += blockDim.x)
        out[c] = from_value<T>(fill);
      continue;
    }
    A m = neg_inf<A>();
    for (int64_t c = threadIdx.x; c < args.classes; c += blockDim.x)
      m = MaxOp{}(m, to_acc(row[c]));
    m = block_reduce(m, scratch, MaxOp{});
    const A g = count ? grad_loss[0] / count[0] : grad_loss[r];
    const A ls = log_sum[r];
    for (int64_t c = threadIdx.x; c < args.classes; c += blockDim.x) {
      const A p = std::exp(to_acc(row[c]) - m - ls);
      const A hit = c == t ? A(1) - eps : A(0);
      out[c] = from_value<T>(g * (p - hit - smooth));
    }
  }
}

}  // namespace

void softmax(DType dtype, void* out, const void* in, int64_t outer, int64_t n, int64_t inner, bool log, Stream on) {
  const cudaStream_t stream = native(on);
  dispatch_floating(dtype, "softmax", [&]<class T>() {
    const int64_t rows = outer * inner;
    if (rows == 0 || n == 0) return;
    auto* y = static_cast<T*>(out);
    const auto* x = static_cast<const T*>(in);
    if (by_rows(outer, inner))
      softmax_rows<<<grid_for(rows, 1), row_threads(n), 0, stream>>>(y, x, outer, n, inner, log);
    else
      softmax_columns<<<grid_for(rows, kThreads), kThreads, 0, stream>>>(y, x, outer, n, inner, log);
    VOLT_CUDA_CHECK_LAUNCH();
  });
}

void softmax_backward(DType dtype, void* grad_in, const void* grad_out, const void* y, int64_t outer, int64_t n,
                      int64_t inner, bool log, Stream on) {
  const cudaStream_t stream = native(on);
  dispatch_floating(dtype, "softmax backward", [&]<class T>() {
    const int64_t rows = outer * inner;
    if (rows == 0 || n == 0) return;
    auto* gx = static_cast<T*>(grad_in);
    const auto* g = static_cast<const T*>(grad_out);
    const auto* py = static_cast<const T*>(y);
    if (by_rows(outer, inner))
      softmax_backward_rows<<<grid_for(rows, 1), row_threads(n), 0, stream>>>(gx, g, py, outer, n, inner, log);
    else
      softmax_backward_columns<<<grid_for(rows, kThreads), kThreads, 0, stream>>>(gx, g, py, outer, n, inner, log);
    VOLT_CUDA_CHECK_LAUNCH();
  });
}

void cross_entropy_forward(DType dtype, void* loss, void* log_sum, const void* logits, const int64_t* target,
                           const CrossEntropyArgs& args, Stream on) {
  const cudaStream_t stream = native(on);
  dispatch_floating(dtype, "cross_entropy", [&]<class T>() {
    if (args.rows == 0) return;
    cross_entropy_forward_kernel<<<grid_for(args.rows, 1), row_threads(args.classes), 0, stream>>>(
        static_cast<acc_t<T>*>(loss), static_cast<acc_t<T>*>(log_sum), static_cast<const T*>(logits), target, args);
    VOLT_CUDA_CHECK_LAUNCH();
  });
}

void cross_entropy_mean(DType dtype, void* mean, void* count, const void* loss, const int64_t* target,
                        const CrossEntropyArgs& args, Stream on) {
  const cudaStream_t stream = native(on);
  dispatch_floating(dtype, "cross_entropy mean", [&]<class T>() {
    using A = acc_t<T>;
    cross_entropy_mean_kernel<<<1, kThreads, 0, stream>>>(static_cast<A*>(mean), static_cast<A*>(count),
                                                          static_cast<const A*>(loss), target, args);
    VOLT_CUDA_CHECK_LAUNCH();
  });
}

void cross_entropy_backward(DType dtype, void* grad_logits, const void* grad_loss, const void* count,
                            const void* logits, const void* log_sum, const int64_t* target,
                            const CrossEntropyArgs& args, Stream on) {
  const cudaStream_t stream = native(on);
  dispatch_floating(dtype, "cross_entropy backward", [&]<class T>() {
    if (args.rows == 0 || args.classes == 0) return;
    cross_entropy_backward_kernel<<<grid_for(args.rows, 1), row_threads(args.classes), 0, stream>>>(
        static_cast<T*>(grad_logits), static_cast<const acc_t<T>*>(grad_loss), static_cast<const acc_t<T>*>(count),
        static_cast<const T*>(logits), static_cast<const acc_t<T>*>(log_sum), target, args);
    VOLT_CUDA_CHECK_LAUNCH();
  });
}

namespace {
// Plugs these kernels into the dispatch tables when volt_cuda is linked into a program.
[[maybe_unused]] const bool registered =
    (kernels::softmax.cuda = softmax, kernels::softmax_backward.cuda = softmax_backward,
     kernels::cross_entropy_forward.cuda = cross_entropy_forward, kernels::cross_entropy_mean.cuda = cross_entropy_mean,
     kernels::cross_entropy_backward.cuda = cross_entropy_backward, true);
}  // namespace

}  // namespace volt::kernels::cuda
