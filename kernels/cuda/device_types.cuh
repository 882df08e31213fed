// Shared by volt's .cu kernel files (private: no public header includes it). Names the device
// storage types for the dtype switch of kernels/dispatch.h, the type arithmetic happens in,
// converts exactly as the CPU kernels' static_cast chains do, and sizes launches. __half / __nv_bfloat16 have the bit
// layout of Eigen's half types, so a buffer written on either device reads the same on the other.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "volt/core/cuda/runtime.h"
#include "volt/core/dtype.h"
#include "volt/core/error.h"
#include "volt/kernels/dispatch.h"

namespace volt::kernels::cuda {

template <class T>
inline constexpr bool is_half_v = std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;

// The type arithmetic happens in: float for the half types (invariant 8), the type itself otherwise.
template <class T>
using acc_t = std::conditional_t<is_half_v<T>, float, T>;

template <class T>
__host__ __device__ inline acc_t<T> to_acc(T x) {
  if constexpr (std::is_same_v<T, __half>)
    return __half2float(x);
  else if constexpr (std::is_same_v<T, __nv_bfloat16>)
    return __bfloat162float(x);
  else
    return x;
}

// Any arithmetic value to storage type T, as the CPU's static_cast<T>(static_cast<acc_t<T>>(v)):
// Eigen converts every value to a half type through float with round-to-nearest-even, and so
// do these.
template <class T, class V>
__host__ __device__ inline T from_value(V v) {
  if constexpr (std::is_same_v<T, __half>)
    return __float2half_rn(static_cast<float>(v));
  else if constexpr (std::is_same_v<T, __nv_bfloat16>)
    return __float2bfloat16_rn(static_cast<float>(v));
  else
    return static_cast<T>(v);
}

using volt::cuda::native;  // the cudaStream_t of a Stream

struct DeviceTypes {
  using f16 = __half;
  using bf16 = __nv_bfloat16;
};

// The dtype switches with the device's storage types.
template <class F>
decltype(auto) dispatch_floating(DType t, const char* op, F&& f) {
  return kernels::dispatch_floating<DeviceTypes>(t, op, static_cast<F&&>(f));
}
template <class F>
decltype(auto) dispatch_all(DType t, const char* op, F&& f) {
  return kernels::dispatch_all<DeviceTypes>(t, op, static_cast<F&&>(f));
}

// Launch geometry. Kernels loop grid-stride, so capping the grid loses nothing for any 64-bit
// count; 65535 blocks of 256 threads is ~60 waves of resident threads on an H100.
inline constexpr int kThreads = 256;
inline constexpr int64_t kMaxBlocks = 65535;

inline unsigned grid_for(int64_t work, int64_t per_block) {
  return static_cast<unsigned>(std::clamp<int64_t>((work + per_block - 1) / per_block, 1, kMaxBlocks));
}

// Threads for a block that reduces one row of n elements: a power of two in [32, kThreads], so
// short rows do not idle 224 threads. A function of n alone, so the reduction order (and the
// result's bits) is fixed for a given shape.
inline int row_threads(int64_t n) {
  int t = 32;
  while (t < kThreads && t < n)
    t *= 2;
  return t;
}

inline __device__ int64_t global_thread() { return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; }
inline __device__ int64_t grid_threads() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

// Reduces one value per thread over the block with op by a fixed tree (blockDim.x a power of
// two, at most kThreads; `scratch` holds blockDim.x values), so the same inputs give the same
// bits every run: no atomics. Every thread returns the result. Call from all threads.
template <class T, class Op>
__device__ T block_reduce(T v, T* scratch, Op op) {
  const unsigned tid = threadIdx.x;
  scratch[tid] = v;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s /= 2) {
    if (tid < s) scratch[tid] = op(scratch[tid], scratch[tid + s]);
    __syncthreads();
  }
  const T result = scratch[0];
  __syncthreads();  // the caller may reuse scratch at once
  return result;
}

struct SumOp {
  template <class T>
  __device__ T operator()(T a, T b) const {
    return a + b;
  }
};

// std::max(a, b) as the CPU kernels use it: b only when a < b, so a NaN never becomes the max.
struct MaxOp {
  template <class T>
  __device__ T operator()(T a, T b) const {
    return a < b ? b : a;
  }
};

}  // namespace volt::kernels::cuda
