// The reduction family on the CPU: each output element reduced in a fixed order, f32 sums
// accumulating in double (as the CUDA twin), so results are the same run to run.
#include "volt/kernels/reduce.h"

#include <cmath>

#include "volt/kernels/cpu/loops.h"

namespace volt::kernels {

Kernel<SumFn> sum{"sum", cpu::sum};
Kernel<MaxDimFn> max_dim{"max_dim", cpu::max_dim};
Kernel<MaxDimBackwardFn> max_dim_backward{"max_dim_backward", cpu::max_dim_backward};

namespace cpu {

void sum(DType dtype, void* out, const void* in, const StridedLoop& loop, Stream) {
  dispatch_all(dtype, "sum", [&]<class T>() {
    if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16> || std::is_same_v<T, bool>) {
      VOLT_FAIL("sum kernel: ", dtype, " is reduced through a wider type by the caller");
    } else {
      auto* o0 = static_cast<T*>(out);
      const auto* i0 = static_cast<const T*>(in);
      for_each_run<2>(loop, [&](const int64_t* off, int64_t n, const int64_t* st) {
        T* o = o0 + off[0];
        const T* a = i0 + off[1];
        if (st[0] == 0) {  // the run is reduced into one element; floats add in double there
          using S = std::conditional_t<std::is_floating_point_v<T>, double, T>;
          S acc = *o;
          for (int64_t i = 0; i < n; ++i)
            acc += a[i * st[1]];
          *o = static_cast<T>(acc);
        } else if (st[0] == 1 && st[1] == 1) {
          for (int64_t i = 0; i < n; ++i)
            o[i] += a[i];
        } else {
          for (int64_t i = 0; i < n; ++i)
            o[i * st[0]] += a[i * st[1]];
        }
      });
    }
  });
}

void max_dim(DType dtype, void* values, int64_t* indices, const void* in, int64_t outer, int64_t n, int64_t inner,
             Stream) {
  dispatch_all(dtype, "max", [&]<class T>() {
    using A = acc_t<T>;
    const auto* x = static_cast<const T*>(in);
    auto* v = static_cast<T*>(values);
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        const T* row = x + o * n * inner + i;
        A best = static_cast<A>(row[0]);
        int64_t arg = 0;
        for (int64_t j = 1; j < n; ++j) {
          const A cur = static_cast<A>(row[j * inner]);
          bool better = cur > best;
          if constexpr (std::is_floating_point_v<A>) better = better || (std::isnan(cur) && !std::isnan(best));
          if (better) {
            best = cur;
            arg = j;
          }
        }
        if (v) v[o * inner + i] = static_cast<T>(best);
        indices[o * inner + i] = arg;
      }
    }
  });
}

void max_dim_backward(DType dtype, void* grad_in, const void* grad_out, const int64_t* indices, int64_t outer,
                      int64_t n, int64_t inner, Stream) {
  dispatch_floating(dtype, "max backward", [&]<class T>() {
    auto* gi = static_cast<T*>(grad_in);
    const auto* go = static_cast<const T*>(grad_out);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i)
        gi[(o * n + indices[o * inner + i]) * inner + i] = go[o * inner + i];
  });
}

}  // namespace cpu
}  // namespace volt::kernels
