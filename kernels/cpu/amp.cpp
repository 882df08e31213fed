// The mixed-precision family on the CPU.
#include "volt/kernels/amp.h"

#include <atomic>
#include <cmath>

#include "volt/core/thread_pool.h"
#include "volt/kernels/cpu/loops.h"

namespace volt::kernels {

Kernel<UnscaleFn> unscale{"unscale", cpu::unscale};
Kernel<UpdateScaleFn> update_scale{"update_scale", cpu::update_scale};

namespace cpu {

void unscale(DType dtype, const std::vector<AmpTensor>& grads, const float* inv_scale, float* found_inf, Stream) {
  dispatch_floating(dtype, "unscale", [&]<class T>() {
    using A = acc_t<T>;
    const A inv = static_cast<A>(*inv_scale);
    std::atomic<bool> found{false};
    for (const AmpTensor& t : grads) {
      T* g = static_cast<T*>(t.data);
      parallel_for(0, t.n, 1 << 16, [&](int64_t begin, int64_t end) {
        bool bad = false;
        for (int64_t i = begin; i < end; ++i) {
          const A v = static_cast<A>(g[i]);
          bad |= !std::isfinite(v);
          g[i] = static_cast<T>(v * inv);
        }
        if (bad) found.store(true, std::memory_order_relaxed);
      });
    }
    if (found.load()) *found_inf = 1.0f;
  });
}

void update_scale(float* scale, int32_t* growth_tracker, const float* found_inf, double growth_factor,
                  double backoff_factor, int64_t growth_interval, Stream) {
  if (*found_inf != 0.0f) {
    *scale = static_cast<float>(*scale * backoff_factor);
    *growth_tracker = 0;
    return;
  }
  const int32_t successful = *growth_tracker + 1;
  if (successful == growth_interval) {
    const float grown = static_cast<float>(*scale * growth_factor);
    if (std::isfinite(grown)) *scale = grown;
    *growth_tracker = 0;
  } else {
    *growth_tracker = successful;
  }
}

}  // namespace cpu
}  // namespace volt::kernels
