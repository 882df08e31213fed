// The elementwise family on the CPU: one templated map over a StridedLoop (cpu/loops.h) per op,
// computing with the functors of kernels/elementwise.h in acc_t.
#include "volt/kernels/elementwise.h"

#include <immintrin.h>

#include "volt/core/thread_pool.h"
#include "volt/kernels/cpu/loops.h"

namespace volt::kernels {

Kernel<UnaryFn> unary{"unary", cpu::unary};
Kernel<BinaryFn> binary{"binary", cpu::binary};
Kernel<TernaryFn> ternary{"ternary", cpu::ternary};
Kernel<CastFn> cast{"cast", cpu::cast};
Kernel<FillFn> fill{"fill", cpu::fill};

namespace cpu {

void unary(Unary op, DType dtype, void* out, const void* in, const StridedLoop& loop, double scalar, double scalar2,
           Stream) {
  dispatch_floating(dtype, "unary", [&]<class T>() {
    using A = acc_t<T>;
    const A s = static_cast<A>(scalar), s2 = static_cast<A>(scalar2);
    with_kind<Unary, Unary::neg, Unary::exp, Unary::log, Unary::sqrt, Unary::tanh, Unary::sigmoid, Unary::relu,
              Unary::abs, Unary::pow, Unary::scale, Unary::add_scalar, Unary::log1p, Unary::expm1, Unary::softplus,
              Unary::gelu, Unary::gelu_tanh, Unary::silu, Unary::leaky_relu, Unary::clamp, Unary::sin, Unary::cos>(
        op, [&](auto kind) {
          const UnaryOp<decltype(kind)::value> f;
          map(
              loop, [f, s, s2](T x) { return static_cast<T>(f(static_cast<A>(x), s, s2)); }, static_cast<T*>(out),
              static_cast<const T*>(in));
        });
  });
}

void binary(Binary op, DType dtype, void* out, const void* a, const void* b, const StridedLoop& loop, double alpha,
            Stream) {
  if (is_integral(dtype)) {
    VOLT_CHECK(is_comparison(op) || (is_integer_op(op) && dtype != DType::boolean), "binary op ", static_cast<int>(op),
               " is not defined for ", dtype, " tensors");
    // bool compares as u8 (one byte, 0 or 1).
    const DType as = dtype == DType::boolean ? DType::u8 : dtype;
    dispatch_all(as, "binary", [&]<class T>() {
      if constexpr (std::is_integral_v<T>) {  // the floating instantiations are never reached here
        const auto* pa = static_cast<const T*>(a);
        const auto* pb = static_cast<const T*>(b);
        if (is_comparison(op))
          map(loop, CompareOp{op}, static_cast<bool*>(out), pa, pb);
        else
          map(loop, IntegerOp<T>{op, static_cast<int64_t>(alpha)}, static_cast<T*>(out), pa, pb);
      }
    });
    return;
  }
  dispatch_floating(dtype, "binary", [&]<class T>() {
    using A = acc_t<T>;
    const auto* pa = static_cast<const T*>(a);
    const auto* pb = static_cast<const T*>(b);
    if (is_comparison(op)) {
      const CompareOp f{op};
      map(
          loop, [f](T x, T y) { return f(static_cast<A>(x), static_cast<A>(y)); }, static_cast<bool*>(out), pa, pb);
      return;
    }
    const A k = static_cast<A>(alpha);
    with_kind<Binary, Binary::add, Binary::sub, Binary::mul, Binary::div, Binary::relu_backward, Binary::tanh_backward,
              Binary::sigmoid_backward, Binary::gelu_backward, Binary::gelu_tanh_backward, Binary::silu_backward,
              Binary::leaky_relu_backward>(op, [&](auto kind) {
      const BinaryOp<decltype(kind)::value> f;
      map(
          loop, [f, k](T x, T y) { return static_cast<T>(f(static_cast<A>(x), static_cast<A>(y), k)); },
          static_cast<T*>(out), pa, pb);
    });
  });
}

void ternary(Ternary op, DType dtype, void* out, const void* a, const void* b, const void* c, const StridedLoop& loop,
             double value, Stream) {
  dispatch_floating(dtype, "ternary", [&]<class T>() {
    using A = acc_t<T>;
    const A v = static_cast<A>(value);
    with_kind<Ternary, Ternary::addcmul, Ternary::addcdiv, Ternary::where>(op, [&](auto kind) {
      const TernaryOp<decltype(kind)::value> f;
      map(
          loop,
          [f, v](T x, T y, T z) {
            return static_cast<T>(f(static_cast<A>(x), static_cast<A>(y), static_cast<A>(z), v));
          },
          static_cast<T*>(out), static_cast<const T*>(a), static_cast<const T*>(b), static_cast<const T*>(c));
    });
  });
}

namespace {

// f32 ↔ f16 over one contiguous run with the F16C instructions (8 at a time, round to nearest
// even, as the scalar conversion), split over the threads: autocast's casts of activations and
// weights. False when the loop is not one contiguous run of those two dtypes.
bool cast_f16_run(DType out_dtype, void* out, DType in_dtype, const void* in, const StridedLoop& loop) {
#if defined(__F16C__)
  const bool to_half = out_dtype == DType::f16 && in_dtype == DType::f32;
  const bool from_half = out_dtype == DType::f32 && in_dtype == DType::f16;
  if (!(to_half || from_half) || loop.ndim != 1 || loop.strides[0][0] != 1 || loop.strides[1][0] != 1) return false;
  const int64_t n = loop.sizes[0];
  parallel_for(0, n, 1 << 15, [&](int64_t begin, int64_t end) {
    int64_t i = begin;
    if (to_half) {
      const float* src = static_cast<const float*>(in);
      auto* dst = static_cast<uint16_t*>(out);
      for (; i + 8 <= end; i += 8)
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
      for (; i < end; ++i)
        dst[i] = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT);
    } else {
      const auto* src = static_cast<const uint16_t*>(in);
      float* dst = static_cast<float*>(out);
      for (; i + 8 <= end; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
      for (; i < end; ++i)
        dst[i] = _cvtsh_ss(src[i]);
    }
  });
  return true;
#else
  (void)out_dtype, (void)out, (void)in_dtype, (void)in, (void)loop;
  return false;
#endif
}

}  // namespace

void cast(DType out_dtype, void* out, DType in_dtype, const void* in, const StridedLoop& loop, Stream) {
  if (cast_f16_run(out_dtype, out, in_dtype, in, loop)) return;
  dispatch_all(out_dtype, "cast", [&]<class O>() {
    dispatch_all(in_dtype, "cast", [&]<class I>() {
      // Through float for the half types, whose conversions to integers go via float anyway.
      map(
          loop, [](I x) { return convert_to<O>(static_cast<acc_t<I>>(x)); }, static_cast<O*>(out),
          static_cast<const I*>(in));
    });
  });
}

void fill(DType dtype, void* out, const StridedLoop& loop, double value, Stream) {
  dispatch_all(dtype, "fill", [&]<class T>() {
    const T v = std::is_integral_v<T> ? convert_to<T>(value) : static_cast<T>(static_cast<acc_t<T>>(value));
    map(
        loop, [v]() { return v; }, static_cast<T*>(out));
  });
}

}  // namespace cpu
}  // namespace volt::kernels
