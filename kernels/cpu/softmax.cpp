// The softmax family on the CPU: one row at a time in the accumulation type, in a fixed order.
#include "volt/kernels/softmax.h"

#include <cmath>
#include <limits>

#include "volt/kernels/cpu/loops.h"

namespace volt::kernels {

Kernel<SoftmaxFn> softmax{"softmax", cpu::softmax};
Kernel<SoftmaxBackwardFn> softmax_backward{"softmax_backward", cpu::softmax_backward};
Kernel<CrossEntropyForwardFn> cross_entropy_forward{"cross_entropy_forward", cpu::cross_entropy_forward};
Kernel<CrossEntropyMeanFn> cross_entropy_mean{"cross_entropy_mean", cpu::cross_entropy_mean};
Kernel<CrossEntropyBackwardFn> cross_entropy_backward{"cross_entropy_backward", cpu::cross_entropy_backward};

namespace cpu {

void softmax(DType dtype, void* out, const void* in, int64_t outer, int64_t n, int64_t inner, bool log, Stream) {
  dispatch_floating(dtype, "softmax", [&]<class T>() {
    using A = acc_t<T>;
    const auto* x = static_cast<const T*>(in);
    auto* y = static_cast<T*>(out);
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t base = o * n * inner + i;
        A m = -std::numeric_limits<A>::infinity();
        for (int64_t j = 0; j < n; ++j)
          m = std::max(m, static_cast<A>(x[base + j * inner]));
        // A row of -inf stays NaN-free only if its max is finite; mirror PyTorch (NaN) otherwise.
        // The row sum is kept in double (in a fixed order): float would drift by ~1e-4 over 65k terms.
        double sum = 0;
        for (int64_t j = 0; j < n; ++j)
          sum += static_cast<double>(std::exp(static_cast<A>(x[base + j * inner]) - m));
        const auto s = static_cast<A>(sum);
        // Work from x - m, never from m + log(s): rounding that sum at m's magnitude (an ulp of
        // 1000 is 6e-5 in float) would put its error into every output, so softmax([1000, 1000])
        // would not be [0.5, 0.5]. PyTorch computes exp(x - m) / s and x - m - log(s) too.
        const A log_s = std::log(s);
        for (int64_t j = 0; j < n; ++j) {
          const A shifted = static_cast<A>(x[base + j * inner]) - m;
          y[base + j * inner] = static_cast<T>(log ? shifted - log_s : std::exp(shifted) / s);
        }
      }
    }
  });
}

void softmax_backward(DType dtype, void* grad_in, const void* grad_out, const void* y_, int64_t outer, int64_t n,
                      int64_t inner, bool log, Stream) {
  dispatch_floating(dtype, "softmax backward", [&]<class T>() {
    using A = acc_t<T>;
    const auto* g = static_cast<const T*>(grad_out);
    const auto* y = static_cast<const T*>(y_);
    auto* gx = static_cast<T*>(grad_in);
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t base = o * n * inner + i;
        double sum = 0;  // in double, as the forward's
        for (int64_t j = 0; j < n; ++j) {
          const int64_t k = base + j * inner;
          sum += static_cast<double>(log ? static_cast<A>(g[k]) : static_cast<A>(g[k]) * static_cast<A>(y[k]));
        }
        const auto s = static_cast<A>(sum);
        for (int64_t j = 0; j < n; ++j) {
          const int64_t k = base + j * inner;
          const A gk = static_cast<A>(g[k]), yk = static_cast<A>(y[k]);
          gx[k] = static_cast<T>(log ? gk - std::exp(yk) * s : yk * (gk - s));
        }
      }
    }
  });
}

void cross_entropy_forward(DType dtype, void* loss, void* log_sum_out, const void* logits, const int64_t* target,
                           const CrossEntropyArgs& a, Stream) {
  dispatch_floating(dtype, "cross_entropy", [&]<class T>() {
    using A = acc_t<T>;
    const auto* x = static_cast<const T*>(logits);
    auto* l = static_cast<A*>(loss);
    auto* log_sum = static_cast<A*>(log_sum_out);
    const A eps = static_cast<A>(a.label_smoothing);
    const A C = static_cast<A>(a.classes);
    for (int64_t r = 0; r < a.rows; ++r) {
      const T* row = x + r * a.classes;
      A m = -std::numeric_limits<A>::infinity();
      for (int64_t c = 0; c < a.classes; ++c)
        m = std::max(m, static_cast<A>(row[c]));
      // Everything relative to the row max: m + log(s) rounded at m's magnitude would swamp a
      // small loss (logits [5000, 4990] would give 0 instead of 4.5e-5).
      double s = 0, sum_shifted = 0;  // in double, as softmax's
      for (int64_t c = 0; c < a.classes; ++c) {
        const A shifted = static_cast<A>(row[c]) - m;
        s += static_cast<double>(std::exp(shifted));
        sum_shifted += static_cast<double>(shifted);
      }
      const auto total = static_cast<A>(sum_shifted);
      log_sum[r] = static_cast<A>(std::log(s));
      const int64_t t = target[r];
      if (t == a.ignore_index) {
        l[r] = A(0);
        continue;
      }
      // The smoothing term only when smoothing: 0 · Σ(x - m) is NaN once a logit is -inf.
      const A smoothing = eps == A(0) ? A(0) : eps / C * total;
      l[r] = log_sum[r] - (A(1) - eps) * (static_cast<A>(row[t]) - m) - smoothing;
    }
  });
}

void cross_entropy_mean(DType dtype, void* mean, void* count, const void* loss, const int64_t* target,
                        const CrossEntropyArgs& a, Stream) {
  dispatch_floating(dtype, "cross_entropy mean", [&]<class T>() {
    using A = acc_t<T>;
    const auto* l = static_cast<const A*>(loss);
    double total = 0;  // in row order, in double: what the CUDA twin's fixed tree rounds to within 1 ulp of A
    int64_t counted = 0;
    for (int64_t r = 0; r < a.rows; ++r) {
      total += static_cast<double>(l[r]);
      counted += target[r] != a.ignore_index ? 1 : 0;
    }
    *static_cast<A*>(count) = static_cast<A>(counted);
    *static_cast<A*>(mean) = static_cast<A>(total / static_cast<double>(counted));
  });
}

void cross_entropy_backward(DType dtype, void* grad_logits, const void* grad_loss, const void* count,
                            const void* logits, const void* log_sum_in, const int64_t* target,
                            const CrossEntropyArgs& a, Stream) {
  dispatch_floating(dtype, "cross_entropy backward", [&]<class T>() {
    using A = acc_t<T>;
    const auto* x = static_cast<const T*>(logits);
    const auto* gl = static_cast<const A*>(grad_loss);
    const A* per_count = static_cast<const A*>(count);
    const auto* log_sum = static_cast<const A*>(log_sum_in);
    auto* gx = static_cast<T*>(grad_logits);
    const A eps = static_cast<A>(a.label_smoothing);
    const A smooth = eps / static_cast<A>(a.classes);
    for (int64_t r = 0; r < a.rows; ++r) {
      const int64_t t = target[r];
      T* out = gx + r * a.classes;
      const T* row = x + r * a.classes;
      if (t == a.ignore_index) {
        for (int64_t c = 0; c < a.classes; ++c)
          out[c] = T(0);
        continue;
      }
      A m = -std::numeric_limits<A>::infinity();  // the forward's row max, found again
      for (int64_t c = 0; c < a.classes; ++c)
        m = std::max(m, static_cast<A>(row[c]));
      const A g = per_count ? gl[0] / per_count[0] : gl[r];
      for (int64_t c = 0; c < a.classes; ++c) {
        const A p = std::exp(static_cast<A>(row[c]) - m - log_sum[r]);
        const A hit = c == t ? A(1) - eps : A(0);
        out[c] = static_cast<T>(g * (p - hit - smooth));
      }
    }
  });
}

}  // namespace cpu
}  // namespace volt::kernels
