#include <cmath>
#include <cstdint>

#include "volt/kernels/cuda/device_types.cuh"
#include "volt/kernels/reduce.h"

namespace volt::kernels::cuda {
namespace {

// ---- sum -----------------------------------------------------------------------------------

// The loop split into kept dims (out stride != 0: one output per index) and reduced dims (out
// stride 0), each in loop order (last fastest). Passed to the kernels by value.
struct ReducePlan {
  int nkept = 0, nred = 0;
  int64_t kept_size[kMaxDims] = {}, kept_out[kMaxDims] = {}, kept_in[kMaxDims] = {};
  int64_t red_size[kMaxDims] = {}, red_in[kMaxDims] = {};
  int64_t outputs = 1, length = 1;
};

ReducePlan plan_for(const StridedLoop& loop) {
  ReducePlan p;
  for (int d = 0; d < loop.ndim; ++d) {
    if (loop.strides[0][d] != 0) {
      p.kept_size[p.nkept] = loop.sizes[d];
      p.kept_out[p.nkept] = loop.strides[0][d];
      p.kept_in[p.nkept++] = loop.strides[1][d];
      p.outputs *= loop.sizes[d];
    } else {
      p.red_size[p.nred] = loop.sizes[d];
      p.red_in[p.nred++] = loop.strides[1][d];
      p.length *= loop.sizes[d];
    }
  }
  return p;
}

// Offsets of output o in out and of its first reduced element in in.
__device__ inline void output_offsets(const ReducePlan& p, int64_t o, int64_t& out_off, int64_t& in_off) {
  out_off = 0;
  in_off = 0;
  for (int d = p.nkept - 1; d >= 0; --d) {
    const int64_t idx = o % p.kept_size[d];
    o /= p.kept_size[d];
    out_off += idx * p.kept_out[d];
    in_off += idx * p.kept_in[d];
  }
}

// Offset in `in` of reduced element j, relative to its output's first element.
__device__ inline int64_t reduced_offset(const ReducePlan& p, int64_t j) {
  int64_t off = 0;
  for (int d = p.nred - 1; d > 0; --d) {
    off += (j % p.red_size[d]) * p.red_in[d];
    j /= p.red_size[d];
  }
  return p.nred > 0 ? off + j * p.red_in[0] : 0;
}

// Float sums accumulate in double (f32 too), integers in int64 and wrap to T on the store as
// the CPU's T-typed sum does.
template <class T>
using sum_acc_t = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

// One thread per output, its elements in row-major order: for short reductions, or when the
// kept dims are the fast ones so that neighbouring threads read neighbouring elements.
template <class T>
__global__ void sum_per_thread(ReducePlan p, T* out, const T* in) {
  for (int64_t o = global_thread(); o < p.outputs; o += grid_threads()) {
    int64_t out_off, in_off;
    output_offsets(p, o, out_off, in_off);
    sum_acc_t<T> acc = 0;
    for (int64_t j = 0; j < p.length; ++j)
      acc += static_cast<sum_acc_t<T>>(in[in_off + reduced_offset(p, j)]);
    out[out_off] = static_cast<T>(static_cast<sum_acc_t<T>>(out[out_off]) + acc);
  }
}

// One block per output: thread t sums elements t, t + blockDim.x, ... then a fixed tree.
template <class T>
__global__ void sum_per_block(ReducePlan p, T* out, const T* in) {
  __shared__ sum_acc_t<T> scratch[kThreads];
  for (int64_t o = blockIdx.x; o < p.outputs; o += gridDim.x) {
    int64_t out_off, in_off;
    output_offsets(p, o, out_off, in_off);
    sum_acc_t<T> acc = 0;
    for (int64_t j = threadIdx.x; j < p.length; j += blockDim.x)
      acc += static_cast<sum_acc_t<T>>(in[in_off + reduced_offset(p, j)]);
    acc = block_reduce(acc, scratch, SumOp{});
    if (threadIdx.x == 0) out[out_off] = static_cast<T>(static_cast<sum_acc_t<T>>(out[out_off]) + acc);
  }
}

// ---- max over one dim ------------------------------------------------------------------------

// The CPU's scan order as a total preference: NaN beats any number, a larger value beats a
// smaller one, and between equals (or two NaNs) the smaller index wins, so combining partial
// results in any fixed order gives the CPU's first index of the max.
template <class A>
__device__ inline bool prefer(A v, int64_t i, A best, int64_t best_i) {
  if constexpr (std::is_floating_point_v<A>) {
    if (isnan(v) || isnan(best)) return isnan(v) && (!isnan(best) || i < best_i);
  }
  return v > best || (!(best > v) && i < best_i);
}

template <class A>
struct ArgMax {
  A v;
  int64_t i;
};

struct ArgMaxOp {
  template <class A>
  __device__ ArgMax<A> operator()(ArgMax<A> a, ArgMax<A> b) const {
    return prefer(b.v, b.i, a.v, a.i) ? b : a;
  }
};

// One thread per output (o, i) scanning j = 0..n-1 as the CPU does; neighbouring threads read
// neighbouring elements when inner > 1.
template <class T>
__global__ void max_per_thread(T* values, int64_t* indices, const T* in, int64_t outer, int64_t n, int64_t inner) {
  for (int64_t r = global_thread(); r < outer * inner; r += grid_threads()) {
    const T* row = in + (r / inner) * n * inner + r % inner;
    acc_t<T> best = to_acc(row[0]);
    int64_t arg = 0;
    for (int64_t j = 1; j < n; ++j) {
      const acc_t<T> cur = to_acc(row[j * inner]);
      if (prefer(cur, j, best, arg)) {
        best = cur;
        arg = j;
      }
    }
    if (values) values[r] = from_value<T>(best);
    indices[r] = arg;
  }
}

// One block per output for long rows with few outputs.
template <class T>
__global__ void max_per_block(T* values, int64_t* indices, const T* in, int64_t outer, int64_t n, int64_t inner) {
  __shared__ ArgMax<acc_t<T>> scratch[kThreads];
  for (int64_t r = blockIdx.x; r < outer * inner; r += gridDim.x) {
    const T* row = in + (r / inner) * n * inner + r % inner;
    ArgMax<acc_t<T>> best{to_acc(row[0]), 0};  // every thread starts from element 0, a valid candidate
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
      const acc_t<T> cur = to_acc(row[j * inner]);
      if (prefer(cur, j, best.v, best.i)) best = {cur, j};
    }
    best = block_reduce(best, scratch, ArgMaxOp{});
    if (threadIdx.x == 0) {
      if (values) values[r] = from_value<T>(best.v);
      indices[r] = best.i;
    }
  }
}

template <class T>
__global__ void max_backward(T* grad_in, const T* grad_out, const int64_t* indices, int64_t outer, int64_t n,
                             int64_t inner) {
  for (int64_t r = global_thread(); r < outer * inner; r += grid_threads()) {
    const int64_t j = indices[r];
    if (j >= 0 && j < n) grad_in[((r / inner) * n + j) * inner + r % inner] = grad_out[r];  // never out of bounds
  }
}

}  // namespace

void sum(DType dtype, void* out, const void* in, const StridedLoop& loop, Stream on) {
  const cudaStream_t stream = native(on);
  dispatch_all(dtype, "sum", [&]<class T>() {
    if constexpr (is_half_v<T> || std::is_same_v<T, bool>) {
      VOLT_FAIL("sum kernel: ", dtype, " is reduced through a wider type by the caller");
    } else {
      if (loop.numel() == 0) return;
      const ReducePlan p = plan_for(loop);
      // A block per output when the reduction is long and either runs along the loop's last
      // (fastest) dim, so a warp reads consecutive elements, or there are too few outputs to
      // fill the GPU with a thread each. Either choice is a fixed order: deterministic.
      const bool last_reduced = loop.ndim > 0 && loop.strides[0][loop.ndim - 1] == 0;
      const bool per_block = p.length >= 64 && (last_reduced || p.outputs < 4096);
      auto* o = static_cast<T*>(out);
      const auto* x = static_cast<const T*>(in);
      if (per_block)
        sum_per_block<<<grid_for(p.outputs, 1), kThreads, 0, stream>>>(p, o, x);
      else
        sum_per_thread<<<grid_for(p.outputs, kThreads), kThreads, 0, stream>>>(p, o, x);
      VOLT_CUDA_CHECK_LAUNCH();
    }
  });
}

void max_dim(DType dtype, void* values, int64_t* indices, const void* in, int64_t outer, int64_t n, int64_t inner,
             Stream on) {
  const cudaStream_t stream = native(on);
  dispatch_all(dtype, "max", [&]<class T>() {
    const int64_t outputs = outer * inner;
    if (outputs == 0 || n == 0) return;
    auto* v = static_cast<T*>(values);
    const auto* x = static_cast<const T*>(in);
    if (n >= 256 && (inner == 1 || outputs < 4096))
      max_per_block<<<grid_for(outputs, 1), kThreads, 0, stream>>>(v, indices, x, outer, n, inner);
    else
      max_per_thread<<<grid_for(outputs, kThreads), kThreads, 0, stream>>>(v, indices, x, outer, n, inner);
    VOLT_CUDA_CHECK_LAUNCH();
  });
}

void max_dim_backward(DType dtype, void* grad_in, const void* grad_out, const int64_t* indices, int64_t outer,
                      int64_t n, int64_t inner, Stream on) {
  const cudaStream_t stream = native(on);
  dispatch_floating(dtype, "max backward", [&]<class T>() {
    const int64_t outputs = outer * inner;
    if (outputs == 0 || n == 0) return;
    max_backward<<<grid_for(outputs, kThreads), kThreads, 0, stream>>>(
        static_cast<T*>(grad_in), static_cast<const T*>(grad_out), indices, outer, n, inner);
    VOLT_CUDA_CHECK_LAUNCH();
  });
}

namespace {
// Plugs these kernels into the dispatch tables when volt_cuda is linked into a program.
[[maybe_unused]] const bool registered =
    (kernels::sum.cuda = sum, kernels::max_dim.cuda = max_dim, kernels::max_dim_backward.cuda = max_dim_backward, true);
}  // namespace

}  // namespace volt::kernels::cuda
