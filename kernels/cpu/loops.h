// What the CPU kernels share: their storage types, and the drivers for StridedLoop. The
// innermost dim is handed to a callback as one run so the loop body is a plain counted loop the
// compiler can vectorise; unit-stride runs get a separate branch for exactly that reason.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <tuple>
#include <utility>

#include "volt/kernels/dispatch.h"
#include "volt/kernels/strided_loop.h"

namespace volt::kernels::cpu {

// f16/bf16 are Eigen's half types on the CPU (the bit layouts of IEEE binary16 and bfloat16).
using Half = Eigen::half;
using BFloat16 = Eigen::bfloat16;
struct HostTypes {
  using f16 = Half;
  using bf16 = BFloat16;
};

// The type arithmetic happens in: float for the half types (invariant 8), the type itself otherwise.
template <class T>
using acc_t = std::conditional_t<std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>, float, T>;

// The dtype switches with the CPU's storage types.
template <class F>
decltype(auto) dispatch_floating(DType t, const char* op, F&& f) {
  return kernels::dispatch_floating<HostTypes>(t, op, std::forward<F>(f));
}
template <class F>
decltype(auto) dispatch_all(DType t, const char* op, F&& f) {
  return kernels::dispatch_all<HostTypes>(t, op, std::forward<F>(f));
}

// f(offsets[N], n, inner_strides[N]) for every innermost run, in row-major order.
template <int N, class F>
void for_each_run(const StridedLoop& loop, F&& f) {
  int64_t off[N] = {};
  int64_t inner[N] = {};
  if (loop.ndim == 0) {
    f(off, int64_t{1}, inner);
    return;
  }
  const int last = loop.ndim - 1;
  const int64_t n = loop.sizes[last];
  const int64_t total = loop.numel();
  if (total == 0) return;
  for (int k = 0; k < N; ++k)
    inner[k] = loop.strides[k][last];
  int64_t idx[kMaxDims] = {};
  for (int64_t run = 0, runs = total / n; run < runs; ++run) {
    f(off, n, inner);
    for (int d = last - 1; d >= 0; --d) {
      for (int k = 0; k < N; ++k)
        off[k] += loop.strides[k][d];
      if (++idx[d] < loop.sizes[d]) break;
      for (int k = 0; k < N; ++k)
        off[k] -= loop.strides[k][d] * loop.sizes[d];
      idx[d] = 0;
    }
  }
}

namespace detail {
template <class Out, class F, class... In, std::size_t... I>
void map_impl(const StridedLoop& loop, F& f, Out* out, std::index_sequence<I...>, const In*... in) {
  constexpr int N = 1 + sizeof...(In);
  for_each_run<N>(loop, [&](const int64_t* off, int64_t n, const int64_t* st) {
    Out* o = out + off[0];
    bool unit = st[0] == 1;
    ((unit = unit && st[I + 1] == 1), ...);
    if (unit) {
      const std::tuple<const In*...> p{(in + off[I + 1])...};
      for (int64_t i = 0; i < n; ++i)
        o[i] = f(std::get<I>(p)[i]...);
    } else {
      for (int64_t i = 0; i < n; ++i)
        o[i * st[0]] = f(in[off[I + 1] + i * st[I + 1]]...);
    }
  });
}
}  // namespace detail

// out[i] = f(in[i]...) over the loop; operand 0 is `out`, the inputs follow in order.
template <class Out, class F, class... In>
void map(const StridedLoop& loop, F f, Out* out, const In*... in) {
  detail::map_impl(loop, f, out, std::index_sequence_for<In...>{}, in...);
}

}  // namespace volt::kernels::cpu
