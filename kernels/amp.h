// The mixed-precision family: GradScaler's unscale-and-check over many gradients and its scale
// update, both on the parameters' device, so that a scaled step never waits on the host (the
// optimizer kernels read the found-inf flag themselves: kernels/optim.h).
#pragma once

#include <cstdint>
#include <vector>

#include "volt/core/dtype.h"
#include "volt/core/stream.h"
#include "volt/kernels/dispatch.h"

namespace volt::kernels {

struct AmpTensor {
  void* data;  // contiguous, updated in place
  int64_t n;
};

// g = g·(*inv_scale) for every element of every tensor (all of `dtype`, computed in float for
// half ones); *found_inf becomes 1 when any element was not finite (it is only ever set here:
// the caller zeroes it).
using UnscaleFn = void(DType dtype, const std::vector<AmpTensor>& grads, const float* inv_scale, float* found_inf,
                       Stream stream);
// torch.amp.GradScaler's update: after an overflow (*found_inf != 0) scale *= backoff and the
// tracker restarts; otherwise the tracker counts the step, and after growth_interval clean steps
// in a row scale *= growth (if that stays finite) and the tracker restarts.
using UpdateScaleFn = void(float* scale, int32_t* growth_tracker, const float* found_inf, double growth_factor,
                           double backoff_factor, int64_t growth_interval, Stream stream);

namespace cpu {
UnscaleFn unscale;
UpdateScaleFn update_scale;
}  // namespace cpu

namespace cuda {
UnscaleFn unscale;
UpdateScaleFn update_scale;
}  // namespace cuda

extern Kernel<UnscaleFn> unscale;
extern Kernel<UpdateScaleFn> update_scale;

}  // namespace volt::kernels
