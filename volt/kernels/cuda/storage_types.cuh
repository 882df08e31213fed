// Device-side storage types of volt's floating dtypes and the type each computes in (DESIGN.md
// invariant 8: f16/bf16 are loaded, computed in float, stored back). Private to the .cu files.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "volt/core/dtype.h"
#include "volt/core/error.h"

namespace volt::kernels::cuda {

template <class T>
struct Scalar {
  using Acc = T;
  static __device__ __forceinline__ Acc load(T x) { return x; }
  static __device__ __forceinline__ T store(Acc x) { return x; }
};
template <>
struct Scalar<__half> {
  using Acc = float;
  static __device__ __forceinline__ float load(__half x) { return __half2float(x); }
  static __device__ __forceinline__ __half store(float x) { return __float2half_rn(x); }
};
template <>
struct Scalar<__nv_bfloat16> {
  using Acc = float;
  static __device__ __forceinline__ float load(__nv_bfloat16 x) { return __bfloat162float(x); }
  static __device__ __forceinline__ __nv_bfloat16 store(float x) { return __float2bfloat16_rn(x); }
};

// Calls f.template operator()<T>() with T the device type of a floating dtype.
template <class F>
void dispatch_floating_device(DType dtype, const char* op, F&& f) {
  switch (dtype) {
    case DType::f32:
      return f.template operator()<float>();
    case DType::f64:
      return f.template operator()<double>();
    case DType::f16:
      return f.template operator()<__half>();
    case DType::bf16:
      return f.template operator()<__nv_bfloat16>();
    default:
      VOLT_FAIL(op, ": expected a floating dtype (f32, f64, f16, bf16), got ", dtype);
  }
}

}  // namespace volt::kernels::cuda
