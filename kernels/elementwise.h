// The elementwise kernel family: what each op computes, written once as a functor both devices
// run, and the entry points that map it over a StridedLoop (kernels/cpu/elementwise.cpp, and
// kernels/cuda/elementwise.cu in the volt_cuda library).
//
// Functors compute in the accumulation type A (float for f16/bf16 storage, invariant 8; the
// type itself otherwise); the loops load the storage type, convert, apply, convert back.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "volt/core/dtype.h"
#include "volt/core/stream.h"
#include "volt/kernels/dispatch.h"
#include "volt/kernels/strided_loop.h"

namespace volt::kernels {

enum class Unary {
  neg,
  exp,
  log,
  sqrt,
  tanh,
  sigmoid,
  relu,
  abs,
  pow,
  scale,
  add_scalar,
  log1p,
  expm1,
  softplus,   // s: beta, s2: threshold
  gelu,       // exact (erf)
  gelu_tanh,  // the tanh approximation
  silu,
  leaky_relu,  // s: negative slope
  clamp,       // s: min, s2: max (±inf for none)
  sin,
  cos,
};
// add/sub: a ± alpha·b. Comparisons write bool. relu/tanh/sigmoid_backward(grad, y) use the op's
// output y; gelu/gelu_tanh/silu/leaky_relu_backward(grad, x) its input x (alpha: the slope).
enum class Binary {
  add,
  sub,
  mul,
  div,
  eq,
  ne,
  lt,
  le,
  gt,
  ge,
  relu_backward,
  tanh_backward,
  sigmoid_backward,
  gelu_backward,
  gelu_tanh_backward,
  silu_backward,
  leaky_relu_backward,
};
// addcmul: a + value·b·c, addcdiv: a + value·b/c; where: b where a is non-zero, else c (a
// selection, so an inf or NaN in the branch not taken never reaches the result).
enum class Ternary { addcmul, addcdiv, where };

inline bool is_comparison(Binary op) { return op >= Binary::eq && op <= Binary::ge; }

// A value converted to type O for cast and fill. C++ leaves a float outside an integer type's
// range undefined; here NaN becomes 0 and a value beyond the range its nearest end, otherwise it
// truncates toward zero, as a GPU's cvt.rzi does, so both devices agree on every value.
template <class O, class A>
VOLT_HOST_DEVICE O convert_to(A x) {
  if constexpr (std::is_integral_v<O> && !std::is_same_v<O, bool> && std::is_floating_point_v<A>) {
    constexpr O kMax = std::is_signed_v<O> ? O((uint64_t{1} << (8 * sizeof(O) - 1)) - 1) : O(~O(0));
    constexpr O kMin = std::is_signed_v<O> ? O(-kMax - 1) : O(0);
    if (!(x == x)) return O(0);
    if (x <= static_cast<A>(kMin)) return kMin;
    if (x >= static_cast<A>(kMax)) return kMax;  // kMax as A may round up (2^63 for i64): still right
    return static_cast<O>(x);
  } else {
    return static_cast<O>(x);
  }
}

// √(2/π) and the cubic coefficient of GELU's tanh approximation (Hendrycks & Gimpel 2016).
inline constexpr double kGeluTanhBeta = 0.7978845608028654;
inline constexpr double kGeluTanhKappa = 0.044715;

// y = op(x) with s and s2 the op's scalars (pow's exponent, scale's factor, add_scalar's addend,
// softplus's beta and threshold, leaky_relu's slope, clamp's bounds).
template <Unary K>
struct UnaryOp {
  template <class A>
  VOLT_HOST_DEVICE A operator()(A x, A s, A s2) const {
    if constexpr (K == Unary::neg) return -x;
    if constexpr (K == Unary::exp) return std::exp(x);
    if constexpr (K == Unary::log) return std::log(x);
    if constexpr (K == Unary::sqrt) return std::sqrt(x);
    if constexpr (K == Unary::tanh) return std::tanh(x);
    if constexpr (K == Unary::sigmoid) return A(1) / (A(1) + std::exp(-x));
    // relu(NaN) stays NaN, as in PyTorch: the comparison is false for NaN.
    if constexpr (K == Unary::relu) return x < A(0) ? A(0) : x;
    if constexpr (K == Unary::abs) return std::abs(x);
    if constexpr (K == Unary::pow) return std::pow(x, s);
    if constexpr (K == Unary::scale) return x * s;
    if constexpr (K == Unary::add_scalar) return x + s;
    if constexpr (K == Unary::log1p) return std::log1p(x);
    if constexpr (K == Unary::expm1) return std::expm1(x);
    if constexpr (K == Unary::sin) return std::sin(x);
    if constexpr (K == Unary::cos) return std::cos(x);
    // PyTorch's: x where beta·x exceeds the threshold, log1p(exp(beta·x)) / beta below.
    if constexpr (K == Unary::softplus) return x * s > s2 ? x : std::log1p(std::exp(x * s)) / s;
    if constexpr (K == Unary::gelu) return x * A(0.5) * (A(1) + std::erf(x * A(0.7071067811865476)));
    if constexpr (K == Unary::gelu_tanh)
      return A(0.5) * x * (A(1) + std::tanh(A(kGeluTanhBeta) * (x + A(kGeluTanhKappa) * x * x * x)));
    if constexpr (K == Unary::silu) return x / (A(1) + std::exp(-x));
    if constexpr (K == Unary::leaky_relu) return x > A(0) ? x : x * s;
    // max then min, so a min above the max gives the max everywhere (PyTorch's rule); NaN stays.
    if constexpr (K == Unary::clamp) {
      const A low = x < s ? s : x;
      return low > s2 ? s2 : low;
    }
  }
};

// Floating binary ops (comparisons excluded); k is alpha for add and sub.
template <Binary K>
struct BinaryOp {
  template <class A>
  VOLT_HOST_DEVICE A operator()(A x, A y, A k) const {
    if constexpr (K == Binary::add) return x + k * y;
    if constexpr (K == Binary::sub) return x - k * y;
    if constexpr (K == Binary::mul) return x * y;
    if constexpr (K == Binary::div) return x / y;
    // Gradient 0 at y == 0, as PyTorch: relu's subgradient there is taken as 0.
    if constexpr (K == Binary::relu_backward) return y > A(0) ? x : A(0);
    if constexpr (K == Binary::tanh_backward) return x * (A(1) - y * y);
    if constexpr (K == Binary::sigmoid_backward) return x * y * (A(1) - y);
    // The derivatives below take the forward's input y and the incoming gradient x.
    if constexpr (K == Binary::gelu_backward) {
      const A cdf = A(0.5) * (A(1) + std::erf(y * A(0.7071067811865476)));
      const A pdf = std::exp(A(-0.5) * y * y) * A(0.3989422804014327);  // 1/√(2π)
      return x * (cdf + y * pdf);
    }
    if constexpr (K == Binary::gelu_tanh_backward) {
      const A inner = A(kGeluTanhBeta) * (y + A(kGeluTanhKappa) * y * y * y);
      const A t = std::tanh(inner);
      const A d_inner = A(kGeluTanhBeta) * (A(1) + A(3 * kGeluTanhKappa) * y * y);
      return x * (A(0.5) * (A(1) + t) + A(0.5) * y * (A(1) - t * t) * d_inner);
    }
    if constexpr (K == Binary::silu_backward) {
      const A sig = A(1) / (A(1) + std::exp(-y));
      return x * sig * (A(1) + y * (A(1) - sig));
    }
    if constexpr (K == Binary::leaky_relu_backward) return y > A(0) ? x : x * k;
  }
};

// Comparisons and integer arithmetic are one instruction each, so a runtime switch inside the
// loop costs nothing there. Integers compute a ± k·b and a·b in int64 and truncate to T.
struct CompareOp {
  Binary kind;
  template <class A>
  VOLT_HOST_DEVICE bool operator()(A x, A y) const {
    switch (kind) {
      case Binary::eq:
        return x == y;
      case Binary::ne:
        return x != y;
      case Binary::lt:
        return x < y;
      case Binary::le:
        return x <= y;
      case Binary::gt:
        return x > y;
      default:
        return x >= y;
    }
  }
};

template <class T>
struct IntegerOp {
  Binary kind;
  int64_t k;
  VOLT_HOST_DEVICE T operator()(T x, T y) const {
    switch (kind) {
      case Binary::add:
        return static_cast<T>(x + k * y);
      case Binary::sub:
        return static_cast<T>(x - k * y);
      default:
        return static_cast<T>(x * y);
    }
  }
};
inline bool is_integer_op(Binary op) { return op == Binary::add || op == Binary::sub || op == Binary::mul; }

template <Ternary K>
struct TernaryOp {
  template <class A>
  VOLT_HOST_DEVICE A operator()(A x, A y, A z, A v) const {
    if constexpr (K == Ternary::addcmul) return x + v * y * z;
    if constexpr (K == Ternary::addcdiv) return x + v * y / z;
    if constexpr (K == Ternary::where) return x != A(0) ? y : z;
  }
};

// The kernels. out may alias an input exactly (in-place ops): each element is read, then written.
using UnaryFn = void(Unary op, DType dtype, void* out, const void* in, const StridedLoop& loop, double scalar,
                     double scalar2, Stream stream);
using BinaryFn = void(Binary op, DType dtype, void* out, const void* a, const void* b, const StridedLoop& loop,
                      double alpha, Stream stream);
using TernaryFn = void(Ternary op, DType dtype, void* out, const void* a, const void* b, const void* c,
                       const StridedLoop& loop, double value, Stream stream);
// out = in converted to out_dtype (through float for the half types, by convert_to for integer
// outputs); a same-dtype cast copies.
using CastFn = void(DType out_dtype, void* out, DType in_dtype, const void* in, const StridedLoop& loop, Stream stream);
using FillFn = void(DType dtype, void* out, const StridedLoop& loop, double value, Stream stream);

namespace cpu {
UnaryFn unary;
BinaryFn binary;
TernaryFn ternary;
CastFn cast;
FillFn fill;
}  // namespace cpu

namespace cuda {
UnaryFn unary;
BinaryFn binary;
TernaryFn ternary;
CastFn cast;
FillFn fill;
}  // namespace cuda

extern Kernel<UnaryFn> unary;
extern Kernel<BinaryFn> binary;
extern Kernel<TernaryFn> ternary;
extern Kernel<CastFn> cast;
extern Kernel<FillFn> fill;

}  // namespace volt::kernels
