// Gradient clipping over a model's parameters, as torch.nn.utils.clip_grad_norm_ and
// clip_grad_value_: in place on each parameter's .grad(), parameters without one skipped, and
// no host read unless asked to check for a non-finite norm.
#pragma once

#include <vector>

#include "volt/core/tensor.h"

namespace volt::nn::utils {

// Scales every gradient by min(1, max_norm / (total + 1e-6)), where total is the norm_type-norm
// of all the gradients taken as one vector (norm_type may be infinity). Returns total, a 0-d
// tensor on the gradients' device (f32 for half gradients). error_if_nonfinite: a NaN or
// infinite total is an error (one host read) instead of scaling by NaN.
Tensor clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);
// Clamps every gradient element into [-clip_value, clip_value].
void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value);

}  // namespace volt::nn::utils
