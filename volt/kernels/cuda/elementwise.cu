#include <cstdint>
#include <utility>

#include "volt/kernels/cuda/device_types.cuh"
#include "volt/kernels/cuda/elementwise.h"

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

// ---- functors: storage values in, storage value out; Op computes in acc_t ------------------

template <class Out, class Op>
struct Arith {
  Op op;
  template <class... In>
  __device__ Out operator()(In... x) const {
    return from_value<Out>(op(to_acc(x)...));
  }
};
template <class Out, class Op>
Arith<Out, Op> arith(Op op) {
  return {op};
}

// Calls f(std::integral_constant<E, K>{}) for the K among Ks equal to k. Each op gets its own
// kernel so that it compiles to its own math only: one switching functor would give relu the
// register count of pow.
template <class E, E... Ks, class F>
void with_kind(E k, F&& f) {
  const bool found = ((k == Ks && (f(std::integral_constant<E, Ks>{}), true)) || ...);
  VOLT_CHECK(found, "elementwise kernel: op ", static_cast<int>(k), " is not handled");
}

template <Unary K, class A>
struct UnaryFn {
  A s;
  __device__ A operator()(A x) const {
    if constexpr (K == Unary::neg)
      return -x;
    else if constexpr (K == Unary::exp)
      return math_exp(x);
    else if constexpr (K == Unary::log)
      return math_log(x);
    else if constexpr (K == Unary::sqrt)
      return math_sqrt(x);
    else if constexpr (K == Unary::tanh)
      return math_tanh(x);
    else if constexpr (K == Unary::sigmoid)
      return A(1) / (A(1) + math_exp(-x));
    else if constexpr (K == Unary::relu)
      return x < A(0) ? A(0) : x;  // relu(NaN) stays NaN, as the CPU's: the comparison is false
    else if constexpr (K == Unary::abs)
      return math_abs(x);
    else if constexpr (K == Unary::pow)
      return math_pow(x, s);
    else if constexpr (K == Unary::scale)
      return x * s;
    else {
      static_assert(K == Unary::add_scalar);
      return x + s;
    }
  }
};

// Floating arithmetic; k is alpha for add/sub. *_backward(g, y) use the op's output y.
template <Binary K, class A>
struct BinaryFn {
  A k;
  __device__ A operator()(A x, A y) const {
    if constexpr (K == Binary::add)
      return x + k * y;
    else if constexpr (K == Binary::sub)
      return x - k * y;
    else if constexpr (K == Binary::mul)
      return x * y;
    else if constexpr (K == Binary::div)
      return x / y;
    else if constexpr (K == Binary::relu_backward)
      return y > A(0) ? x : A(0);  // gradient 0 at y == 0, as the CPU's
    else if constexpr (K == Binary::tanh_backward)
      return x * (A(1) - y * y);
    else {
      static_assert(K == Binary::sigmoid_backward);
      return x * y * (A(1) - y);
    }
  }
};

// Comparisons and integer arithmetic are one instruction each: a kernel-uniform switch costs
// nothing there, and saves 6 ops x 7 dtypes of kernels.
struct CompareOp {
  Binary kind;
  template <class A>
  __device__ bool operator()(A x, A y) const {
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

// Integers: a ± k*b and a*b computed in int64 and truncated to T, as the CPU's.
template <class T>
struct IntBinaryOp {
  Binary kind;
  int64_t k;
  __device__ T operator()(T x, T y) const {
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

template <Ternary K, class A>
struct TernaryFn {
  A v;
  __device__ A operator()(A x, A y, A z) const {
    if constexpr (K == Ternary::addcmul)
      return x + v * y * z;
    else
      return x + v * y / z;
  }
};

template <class O>
struct CastOp {
  template <class I>
  __device__ O operator()(I x) const {
    return from_value<O>(to_acc(x));
  }
};

template <class T>
struct FillOp {
  T v;
  __device__ T operator()() const { return v; }
};

template <class T>
void integer_binary(Binary op, void* out, const void* a, const void* b, const StridedLoop& loop, double alpha,
                    cudaStream_t stream) {
  const auto* pa = static_cast<const T*>(a);
  const auto* pb = static_cast<const T*>(b);
  if (is_comparison(op)) return launch_map(loop, stream, CompareOp{op}, static_cast<bool*>(out), pa, pb);
  VOLT_CHECK(op == Binary::add || op == Binary::sub || op == Binary::mul, "binary op ", static_cast<int>(op),
             " is not defined for integer tensors");
  launch_map(loop, stream, IntBinaryOp<T>{op, static_cast<int64_t>(alpha)}, static_cast<T*>(out), pa, pb);
}

}  // namespace

void unary(Unary op, DType dtype, void* out, const void* in, const StridedLoop& loop, double scalar,
           cudaStream_t stream) {
  with_floating_type(dtype, "unary", [&]<class T>() {
    using A = acc_t<T>;
    with_kind<Unary, Unary::neg, Unary::exp, Unary::log, Unary::sqrt, Unary::tanh, Unary::sigmoid, Unary::relu,
              Unary::abs, Unary::pow, Unary::scale, Unary::add_scalar>(op, [&](auto kind) {
      launch_map(loop, stream, arith<T>(UnaryFn<decltype(kind)::value, A>{static_cast<A>(scalar)}),
                 static_cast<T*>(out), static_cast<const T*>(in));
    });
  });
}

void binary(Binary op, DType dtype, void* out, const void* a, const void* b, const StridedLoop& loop, double alpha,
            cudaStream_t stream) {
  switch (dtype) {
    case DType::i32:
      return integer_binary<int32_t>(op, out, a, b, loop, alpha, stream);
    case DType::i64:
      return integer_binary<int64_t>(op, out, a, b, loop, alpha, stream);
    case DType::u8:
      return integer_binary<uint8_t>(op, out, a, b, loop, alpha, stream);
    case DType::boolean:
      VOLT_CHECK(is_comparison(op), "binary: only comparisons are defined for bool tensors");
      return integer_binary<uint8_t>(op, out, a, b, loop, alpha, stream);
    default:
      break;
  }
  with_floating_type(dtype, "binary", [&]<class T>() {
    using A = acc_t<T>;
    const auto* pa = static_cast<const T*>(a);
    const auto* pb = static_cast<const T*>(b);
    if (is_comparison(op)) return launch_map(loop, stream, arith<bool>(CompareOp{op}), static_cast<bool*>(out), pa, pb);
    with_kind<Binary, Binary::add, Binary::sub, Binary::mul, Binary::div, Binary::relu_backward, Binary::tanh_backward,
              Binary::sigmoid_backward>(op, [&](auto kind) {
      launch_map(loop, stream, arith<T>(BinaryFn<decltype(kind)::value, A>{static_cast<A>(alpha)}),
                 static_cast<T*>(out), pa, pb);
    });
  });
}

void ternary(Ternary op, DType dtype, void* out, const void* a, const void* b, const void* c, const StridedLoop& loop,
             double value, cudaStream_t stream) {
  with_floating_type(dtype, "ternary", [&]<class T>() {
    using A = acc_t<T>;
    with_kind<Ternary, Ternary::addcmul, Ternary::addcdiv>(op, [&](auto kind) {
      launch_map(loop, stream, arith<T>(TernaryFn<decltype(kind)::value, A>{static_cast<A>(value)}),
                 static_cast<T*>(out), static_cast<const T*>(a), static_cast<const T*>(b), static_cast<const T*>(c));
    });
  });
}

void cast(DType out_dtype, void* out, DType in_dtype, const void* in, const StridedLoop& loop, cudaStream_t stream) {
  with_any_type(out_dtype, "cast", [&]<class O>() {
    with_any_type(in_dtype, "cast", [&]<class I>() {
      launch_map(loop, stream, CastOp<O>{}, static_cast<O*>(out), static_cast<const I*>(in));
    });
  });
}

void fill(DType dtype, void* out, const StridedLoop& loop, double value, cudaStream_t stream) {
  with_any_type(dtype, "fill", [&]<class T>() {
    launch_map(loop, stream, FillOp<T>{from_value<T>(static_cast<acc_t<T>>(value))}, static_cast<T*>(out));
  });
}

}  // namespace volt::kernels::cuda
