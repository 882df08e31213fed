// The elementwise family on CUDA: one templated map kernel over a StridedLoop, instantiated per
// op with the functors of kernels/elementwise.h (the CPU twin runs the same functors), on the
// storage type; half types compute in float. Contiguous operands take 16-byte vector loads when
// every pointer is aligned, with a scalar tail; anything else walks the StridedLoop.
#include <cstdint>
#include <utility>

#include "volt/kernels/cuda/device_types.cuh"
#include "volt/kernels/elementwise.h"

namespace volt::kernels::cuda {
namespace {

// ---- the one map kernel ------------------------------------------------------------------

// V elements of T, aligned so that one load or store moves the whole pack (16 bytes for the
// widest operand; narrower operands of the same op move V * sizeof(T) bytes).
template <class T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

template <class Out, class... In>
constexpr int pack_width() {
  constexpr std::size_t widest = std::max({sizeof(Out), sizeof(In)...});
  return static_cast<int>(16 / widest);
}

template <int V, class F, class Out, class... In>
__device__ inline void apply_pack(const F& f, Pack<Out, V>* out, const Pack<In, V>... x) {
  Pack<Out, V> o;
#pragma unroll
  for (int k = 0; k < V; ++k)
    o.v[k] = f(x.v[k]...);
  *out = o;
}

// Unit-stride operands: packs of V while every pointer is 16-byte aligned (`aligned`), then
// the scalar tail; all scalar otherwise. Out may alias an input (in-place ops): each element
// is read and then written by one thread.
template <int V, class F, class Out, class... In>
__global__ void map_contiguous(int64_t n, bool aligned, F f, Out* out, const In*... in) {
  const int64_t first = global_thread(), step = grid_threads();
  const int64_t head = aligned ? n / V * V : 0;
  for (int64_t p = first; p < head / V; p += step)
    apply_pack<V>(f, reinterpret_cast<Pack<Out, V>*>(out) + p, reinterpret_cast<const Pack<In, V>*>(in)[p]...);
  for (int64_t i = head + first; i < n; i += step)
    out[i] = f(in[i]...);
}

template <class F, class Out, class... In, std::size_t... I>
__device__ inline void apply_at(const F& f, const int64_t* off, std::index_sequence<I...>, Out* out, const In*... in) {
  out[off[0]] = f(in[off[I + 1]]...);
}

// Any geometry: element i's offsets from its row-major index in the loop (passed by value).
template <class F, class Out, class... In>
__global__ void map_strided(StridedLoop loop, int64_t n, F f, Out* out, const In*... in) {
  constexpr int N = 1 + sizeof...(In);
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    int64_t off[N] = {};
    int64_t rest = i;
    for (int d = loop.ndim - 1; d >= 0; --d) {
      const int64_t idx = rest % loop.sizes[d];
      rest /= loop.sizes[d];
      for (int k = 0; k < N; ++k)
        off[k] += idx * loop.strides[k][d];
    }
    apply_at(f, off, std::index_sequence_for<In...>{}, out, in...);
  }
}

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

// out[i] = f(in[i]...) over the loop, on `stream`. Operand 0 of the loop is out.
template <class F, class Out, class... In>
void launch_map(const StridedLoop& loop, cudaStream_t stream, F f, Out* out, const In*... in) {
  const int64_t n = loop.numel();
  if (n == 0) return;
  bool unit = loop.ndim <= 1;
  for (int k = 0; unit && loop.ndim == 1 && k < loop.nops; ++k)
    unit = loop.strides[k][0] == 1;
  if (unit) {
    constexpr int V = pack_width<Out, In...>();
    const bool aligned = aligned16(out) && (aligned16(in) && ...);
    map_contiguous<V>
        <<<grid_for(aligned ? (n + V - 1) / V : n, kThreads), kThreads, 0, stream>>>(n, aligned, f, out, in...);
  } else {
    map_strided<<<grid_for(n, kThreads), kThreads, 0, stream>>>(loop, n, f, out, in...);
  }
  VOLT_CUDA_CHECK_LAUNCH();
}

// ---- functors: storage values in, storage value out; the op computes in acc_t -------------

// The op of kernels/elementwise.h, applied in the accumulation type A with its scalar.
template <class Out, class A, class Op>
struct Arith {
  Op op;
  A scalar;
  template <class... In>
  __device__ Out operator()(In... x) const {
    return from_value<Out>(op(static_cast<A>(to_acc(x))..., scalar));
  }
};

// A unary op of kernels/elementwise.h with its two scalars.
template <class Out, class A, class Op>
struct UnaryArith {
  Op op;
  A scalar, scalar2;
  template <class In>
  __device__ Out operator()(In x) const {
    return from_value<Out>(op(static_cast<A>(to_acc(x)), scalar, scalar2));
  }
};

// A comparison of two values in their accumulation type.
struct Compare {
  CompareOp op;
  template <class In>
  __device__ bool operator()(In x, In y) const {
    return op(to_acc(x), to_acc(y));
  }
};

template <class O>
struct CastOp {
  template <class I>
  __device__ O operator()(I x) const {
    if constexpr (std::is_integral_v<O>)
      return convert_to<O>(to_acc(x));
    else
      return from_value<O>(to_acc(x));
  }
};

template <class T>
struct FillOp {
  T v;
  __device__ T operator()() const { return v; }
};

}  // namespace

void unary(Unary op, DType dtype, void* out, const void* in, const StridedLoop& loop, double scalar, double scalar2,
           Stream stream) {
  dispatch_floating(dtype, "unary", [&]<class T>() {
    using A = acc_t<T>;
    with_kind<Unary, Unary::neg, Unary::exp, Unary::log, Unary::sqrt, Unary::tanh, Unary::sigmoid, Unary::relu,
              Unary::abs, Unary::pow, Unary::scale, Unary::add_scalar, Unary::log1p, Unary::expm1, Unary::softplus,
              Unary::gelu, Unary::gelu_tanh, Unary::silu, Unary::leaky_relu, Unary::clamp, Unary::sin, Unary::cos>(
        op, [&](auto kind) {
          using Op = UnaryOp<decltype(kind)::value>;
          launch_map(loop, native(stream), UnaryArith<T, A, Op>{Op{}, static_cast<A>(scalar), static_cast<A>(scalar2)},
                     static_cast<T*>(out), static_cast<const T*>(in));
        });
  });
}

void binary(Binary op, DType dtype, void* out, const void* a, const void* b, const StridedLoop& loop, double alpha,
            Stream stream) {
  const cudaStream_t s = native(stream);
  if (is_integral(dtype)) {
    VOLT_CHECK(is_comparison(op) || (is_integer_op(op) && dtype != DType::boolean), "binary op ", static_cast<int>(op),
               " is not defined for ", dtype, " tensors");
    // bool compares as u8 (one byte, 0 or 1).
    dispatch_all(dtype == DType::boolean ? DType::u8 : dtype, "binary", [&]<class T>() {
      if constexpr (std::is_integral_v<T>) {  // the floating instantiations are never reached here
        const auto* pa = static_cast<const T*>(a);
        const auto* pb = static_cast<const T*>(b);
        if (is_comparison(op))
          launch_map(loop, s, Compare{CompareOp{op}}, static_cast<bool*>(out), pa, pb);
        else
          launch_map(loop, s, IntegerOp<T>{op, static_cast<int64_t>(alpha)}, static_cast<T*>(out), pa, pb);
      }
    });
    return;
  }
  dispatch_floating(dtype, "binary", [&]<class T>() {
    using A = acc_t<T>;
    const auto* pa = static_cast<const T*>(a);
    const auto* pb = static_cast<const T*>(b);
    if (is_comparison(op)) return launch_map(loop, s, Compare{CompareOp{op}}, static_cast<bool*>(out), pa, pb);
    with_kind<Binary, Binary::add, Binary::sub, Binary::mul, Binary::div, Binary::relu_backward, Binary::tanh_backward,
              Binary::sigmoid_backward, Binary::gelu_backward, Binary::gelu_tanh_backward, Binary::silu_backward,
              Binary::leaky_relu_backward>(op, [&](auto kind) {
      using Op = BinaryOp<decltype(kind)::value>;
      launch_map(loop, s, Arith<T, A, Op>{Op{}, static_cast<A>(alpha)}, static_cast<T*>(out), pa, pb);
    });
  });
}

void ternary(Ternary op, DType dtype, void* out, const void* a, const void* b, const void* c, const StridedLoop& loop,
             double value, Stream stream) {
  dispatch_floating(dtype, "ternary", [&]<class T>() {
    using A = acc_t<T>;
    with_kind<Ternary, Ternary::addcmul, Ternary::addcdiv, Ternary::where>(op, [&](auto kind) {
      using Op = TernaryOp<decltype(kind)::value>;
      launch_map(loop, native(stream), Arith<T, A, Op>{Op{}, static_cast<A>(value)}, static_cast<T*>(out),
                 static_cast<const T*>(a), static_cast<const T*>(b), static_cast<const T*>(c));
    });
  });
}

void cast(DType out_dtype, void* out, DType in_dtype, const void* in, const StridedLoop& loop, Stream stream) {
  dispatch_all(out_dtype, "cast", [&]<class O>() {
    dispatch_all(in_dtype, "cast", [&]<class I>() {
      launch_map(loop, native(stream), CastOp<O>{}, static_cast<O*>(out), static_cast<const I*>(in));
    });
  });
}

void fill(DType dtype, void* out, const StridedLoop& loop, double value, Stream stream) {
  dispatch_all(dtype, "fill", [&]<class T>() {
    T v;
    if constexpr (std::is_integral_v<T>)
      v = convert_to<T>(value);
    else
      v = from_value<T>(static_cast<acc_t<T>>(value));
    launch_map(loop, native(stream), FillOp<T>{v}, static_cast<T*>(out));
  });
}

namespace {
// Plugs these kernels into the dispatch tables when volt_cuda is linked into a program.
[[maybe_unused]] const bool registered =
    (kernels::unary.cuda = unary, kernels::binary.cuda = binary, kernels::ternary.cuda = ternary,
     kernels::cast.cuda = cast, kernels::fill.cuda = fill, true);
}  // namespace

}  // namespace volt::kernels::cuda
