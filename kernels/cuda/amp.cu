// The mixed-precision family on CUDA: unscale-and-check over all the gradients of a dtype in
// one multi-tensor launch (kernels/cuda/multi_tensor.cuh), and the scale update in one thread.
#include <cmath>

#include "volt/kernels/amp.h"
#include "volt/kernels/cuda/device_types.cuh"
#include "volt/kernels/cuda/multi_tensor.cuh"

namespace volt::kernels::cuda {
namespace {

// g = g·inv_scale; a non-finite g sets the flag (every such thread stores the same 1, so the
// flag does not depend on the order).
template <class T>
struct UnscaleUpdate {
  const float* inv_scale;
  float* found_inf;

  __device__ bool skipped() const { return false; }
  __device__ acc_t<T> scalars() const { return static_cast<acc_t<T>>(*inv_scale); }
  __device__ void operator()(acc_t<T> inv, const AmpTensor& t, int64_t j) const {
    T* g = static_cast<T*>(t.data);
    const acc_t<T> v = to_acc(g[j]);
    if (!isfinite(v)) *found_inf = 1.0f;
    g[j] = from_value<T>(v * inv);
  }
};

__global__ void update_scale_kernel(float* scale, int32_t* growth_tracker, const float* found_inf, double growth_factor,
                                    double backoff_factor, int64_t growth_interval) {
  if (*found_inf != 0.0f) {
    *scale = static_cast<float>(*scale * backoff_factor);
    *growth_tracker = 0;
    return;
  }
  const int32_t successful = *growth_tracker + 1;
  if (successful == growth_interval) {
    const float grown = static_cast<float>(*scale * growth_factor);
    if (isfinite(grown)) *scale = grown;
    *growth_tracker = 0;
  } else {
    *growth_tracker = successful;
  }
}

}  // namespace

void unscale(DType dtype, const std::vector<AmpTensor>& grads, const float* inv_scale, float* found_inf, Stream on) {
  const cudaStream_t stream = native(on);
  dispatch_floating(dtype, "cuda unscale", [&]<class T>() {
    multi_tensor::launch(grads, UnscaleUpdate<T>{inv_scale, found_inf}, stream);
  });
}

void update_scale(float* scale, int32_t* growth_tracker, const float* found_inf, double growth_factor,
                  double backoff_factor, int64_t growth_interval, Stream on) {
  update_scale_kernel<<<1, 1, 0, native(on)>>>(scale, growth_tracker, found_inf, growth_factor, backoff_factor,
                                               growth_interval);
  VOLT_CUDA_CHECK_LAUNCH();
}

namespace {
// Plugs these kernels into the dispatch tables when volt_cuda is linked into a program.
[[maybe_unused]] const bool registered =
    (kernels::unscale.cuda = unscale, kernels::update_scale.cuda = update_scale, true);
}  // namespace

}  // namespace volt::kernels::cuda
