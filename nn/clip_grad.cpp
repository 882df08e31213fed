#include "volt/nn/clip_grad.h"

#include <cmath>

#include "volt/autograd/grad_mode.h"
#include "volt/autograd/ops.h"

namespace volt::nn::utils {
namespace {

// The p-norm of g's elements, in f32 for half gradients (a sum of squares overflows f16).
Tensor norm_of(const Tensor& g, double p) { return norm(is_half(g.dtype()) ? g.to(DType::f32) : g, p); }

}  // namespace

Tensor clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  VOLT_CHECK(norm_type > 0 || std::isinf(norm_type), "clip_grad_norm_: norm_type must be positive, got ", norm_type);
  VOLT_CHECK(max_norm >= 0, "clip_grad_norm_: max_norm must be 0 or more, got ", max_norm);
  NoGradGuard no_grad;
  std::vector<Tensor> norms;
  for (const Tensor& p : parameters)
    if (p.grad().defined() && p.grad().numel() > 0) norms.push_back(norm_of(p.grad(), norm_type));
  if (norms.empty()) return zeros({});
  const Tensor total = norm_of(stack(norms), norm_type);
  if (error_if_nonfinite) {
    const double t = total.item<double>();
    VOLT_CHECK(std::isfinite(t), "clip_grad_norm_: the total norm of the gradients is ", t,
               "; they cannot be clipped (pass error_if_nonfinite = false to scale by it anyway)");
  }
  const Tensor scale =
      clamp_max(div(full({}, max_norm, TensorOptions(total.dtype()).device(total.device())), add(total, 1e-6)), 1.0);
  for (const Tensor& p : parameters) {
    if (!p.grad().defined()) continue;
    Tensor g = p.grad();
    g.mul_(scale.to(g.dtype()));
  }
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value) {
  VOLT_CHECK(clip_value >= 0, "clip_grad_value_: clip_value must be 0 or more, got ", clip_value);
  NoGradGuard no_grad;
  for (const Tensor& p : parameters) {
    if (!p.grad().defined()) continue;
    Tensor g = p.grad();
    g.copy_(clamp(g, -clip_value, clip_value));
  }
}

}  // namespace volt::nn::utils
