#include "volt/kernels/cpu/elementwise.h"

#include <cmath>

#include "volt/core/dispatch.h"
#include "volt/kernels/cpu/loops.h"

namespace volt::kernels::cpu {

void unary(Unary op, DType dtype, void* out, const void* in, const StridedLoop& loop, double s) {
  dispatch_floating(dtype, "unary", [&]<class T>() {
    using A = acc_t<T>;
    const A sa = static_cast<A>(s);
    auto run = [&](auto f) {
      map(
          loop, [f](T x) { return static_cast<T>(f(static_cast<A>(x))); }, static_cast<T*>(out),
          static_cast<const T*>(in));
    };
    switch (op) {
      case Unary::neg:
        return run([](A x) { return -x; });
      case Unary::exp:
        return run([](A x) { return std::exp(x); });
      case Unary::log:
        return run([](A x) { return std::log(x); });
      case Unary::sqrt:
        return run([](A x) { return std::sqrt(x); });
      case Unary::tanh:
        return run([](A x) { return std::tanh(x); });
      case Unary::sigmoid:
        return run([](A x) { return A(1) / (A(1) + std::exp(-x)); });
      // relu(NaN) stays NaN, as in PyTorch: the comparison is false for NaN.
      case Unary::relu:
        return run([](A x) { return x < A(0) ? A(0) : x; });
      case Unary::abs:
        return run([](A x) { return std::abs(x); });
      case Unary::pow:
        return run([sa](A x) { return std::pow(x, sa); });
      case Unary::scale:
        return run([sa](A x) { return x * sa; });
      case Unary::add_scalar:
        return run([sa](A x) { return x + sa; });
    }
  });
}

namespace {

template <class T>
void integer_binary(Binary op, void* out, const void* a, const void* b, const StridedLoop& loop, double alpha) {
  const auto* pa = static_cast<const T*>(a);
  const auto* pb = static_cast<const T*>(b);
  auto cmp = [&](auto f) { map(loop, f, static_cast<bool*>(out), pa, pb); };
  auto arith = [&](auto f) { map(loop, f, static_cast<T*>(out), pa, pb); };
  const auto k = static_cast<int64_t>(alpha);
  switch (op) {
    case Binary::add:
      return arith([k](T x, T y) { return static_cast<T>(x + k * y); });
    case Binary::sub:
      return arith([k](T x, T y) { return static_cast<T>(x - k * y); });
    case Binary::mul:
      return arith([](T x, T y) { return static_cast<T>(x * y); });
    case Binary::eq:
      return cmp([](T x, T y) { return x == y; });
    case Binary::ne:
      return cmp([](T x, T y) { return x != y; });
    case Binary::lt:
      return cmp([](T x, T y) { return x < y; });
    case Binary::le:
      return cmp([](T x, T y) { return x <= y; });
    case Binary::gt:
      return cmp([](T x, T y) { return x > y; });
    case Binary::ge:
      return cmp([](T x, T y) { return x >= y; });
    default:
      VOLT_FAIL("binary op ", static_cast<int>(op), " is not defined for integer tensors");
  }
}

}  // namespace

void binary(Binary op, DType dtype, void* out, const void* a, const void* b, const StridedLoop& loop, double alpha) {
  switch (dtype) {
    case DType::i32:
      return integer_binary<int32_t>(op, out, a, b, loop, alpha);
    case DType::i64:
      return integer_binary<int64_t>(op, out, a, b, loop, alpha);
    case DType::u8:
      return integer_binary<uint8_t>(op, out, a, b, loop, alpha);
    case DType::boolean:
      VOLT_CHECK(is_comparison(op), "binary: only comparisons are defined for bool tensors");
      return integer_binary<uint8_t>(op, out, a, b, loop, alpha);
    default:
      break;
  }
  dispatch_floating(dtype, "binary", [&]<class T>() {
    using A = acc_t<T>;
    const auto* pa = static_cast<const T*>(a);
    const auto* pb = static_cast<const T*>(b);
    const A k = static_cast<A>(alpha);
    auto arith = [&](auto f) {
      map(
          loop, [f](T x, T y) { return static_cast<T>(f(static_cast<A>(x), static_cast<A>(y))); }, static_cast<T*>(out),
          pa, pb);
    };
    auto cmp = [&](auto f) {
      map(
          loop, [f](T x, T y) { return f(static_cast<A>(x), static_cast<A>(y)); }, static_cast<bool*>(out), pa, pb);
    };
    switch (op) {
      case Binary::add:
        return arith([k](A x, A y) { return x + k * y; });
      case Binary::sub:
        return arith([k](A x, A y) { return x - k * y; });
      case Binary::mul:
        return arith([](A x, A y) { return x * y; });
      case Binary::div:
        return arith([](A x, A y) { return x / y; });
      case Binary::eq:
        return cmp([](A x, A y) { return x == y; });
      case Binary::ne:
        return cmp([](A x, A y) { return x != y; });
      case Binary::lt:
        return cmp([](A x, A y) { return x < y; });
      case Binary::le:
        return cmp([](A x, A y) { return x <= y; });
      case Binary::gt:
        return cmp([](A x, A y) { return x > y; });
      case Binary::ge:
        return cmp([](A x, A y) { return x >= y; });
      // Gradient 0 at y == 0, as PyTorch: relu's subgradient there is taken as 0.
      case Binary::relu_backward:
        return arith([](A g, A y) { return y > A(0) ? g : A(0); });
      case Binary::tanh_backward:
        return arith([](A g, A y) { return g * (A(1) - y * y); });
      case Binary::sigmoid_backward:
        return arith([](A g, A y) { return g * y * (A(1) - y); });
    }
  });
}

void ternary(Ternary op, DType dtype, void* out, const void* a, const void* b, const void* c, const StridedLoop& loop,
             double value) {
  dispatch_floating(dtype, "ternary", [&]<class T>() {
    using A = acc_t<T>;
    const A v = static_cast<A>(value);
    auto run = [&](auto f) {
      map(
          loop,
          [f](T x, T y, T z) { return static_cast<T>(f(static_cast<A>(x), static_cast<A>(y), static_cast<A>(z))); },
          static_cast<T*>(out), static_cast<const T*>(a), static_cast<const T*>(b), static_cast<const T*>(c));
    };
    switch (op) {
      case Ternary::addcmul:
        return run([v](A x, A y, A z) { return x + v * y * z; });
      case Ternary::addcdiv:
        return run([v](A x, A y, A z) { return x + v * y / z; });
    }
  });
}

void cast(DType out_dtype, void* out, DType in_dtype, const void* in, const StridedLoop& loop) {
  dispatch_all(out_dtype, "cast", [&]<class O>() {
    dispatch_all(in_dtype, "cast", [&]<class I>() {
      // Through float for the half types, whose conversions to integers go via float anyway.
      map(
          loop, [](I x) { return static_cast<O>(static_cast<acc_t<I>>(x)); }, static_cast<O*>(out),
          static_cast<const I*>(in));
    });
  });
}

void fill(DType dtype, void* out, const StridedLoop& loop, double value) {
  dispatch_all(dtype, "fill", [&]<class T>() {
    const T v = static_cast<T>(static_cast<acc_t<T>>(value));
    map(
        loop, [v]() { return v; }, static_cast<T*>(out));
  });
}

}  // namespace volt::kernels::cpu
