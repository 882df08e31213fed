// layer_norm: composed of reductions and elementwise ops, so its gradients (of any order) and
// every device come from theirs. Half inputs normalise in f32 (DESIGN.md §8).
#include <string>

#include "volt/autograd/autocast.h"
#include "volt/autograd/ops.h"
#include "volt/autograd/ops/op_checks.h"

namespace volt {

Tensor layer_norm(const Tensor& x_in, const Shape& normalized_shape, const Tensor& weight_in, const Tensor& bias_in,
                  double eps) {
  const Tensor x = autocast::to_f32(x_in);
  const Tensor weight = autocast::to_f32(weight_in);
  const Tensor bias = autocast::to_f32(bias_in);
  const char* op = "layer_norm";
  ops::check_floating(op, x);
  const auto k = static_cast<int64_t>(normalized_shape.size());
  VOLT_CHECK(k >= 1, op, ": normalized_shape is empty");
  bool trailing = x.dim() >= k;
  for (int64_t i = 0; trailing && i < k; ++i)
    trailing = x.size(x.dim() - k + i) == normalized_shape[static_cast<std::size_t>(i)];
  VOLT_CHECK(trailing, op, ": input ", describe(x), " does not end in normalized_shape ", shape_str(normalized_shape));
  for (const Tensor* p : {&weight, &bias}) {
    if (!p->defined()) continue;
    VOLT_CHECK(p->shape() == normalized_shape, op, ": ", p == &weight ? "weight " : "bias ", describe(*p),
               " must have normalized_shape ", shape_str(normalized_shape));
    ops::check_same_dtype(op, x, *p);
    ops::check_device(op, {x, *p});
  }
  VOLT_CHECK(eps >= 0, op, ": eps must be 0 or more, got ", eps);
  if (is_half(x.dtype())) {
    auto wide = [](const Tensor& t) { return t.defined() ? t.to(DType::f32) : t; };
    return layer_norm(wide(x), normalized_shape, wide(weight), wide(bias), eps).to(x.dtype());
  }
  std::vector<int64_t> dims;
  for (int64_t i = -k; i < 0; ++i)
    dims.push_back(i);
  const Tensor centred = sub(x, mean(x, dims, true));
  const Tensor variance = mean(mul(centred, centred), dims, true);  // biased, as PyTorch's
  Tensor y = mul(centred, pow(add(variance, eps), -0.5));
  if (weight.defined()) y = mul(y, weight);
  if (bias.defined()) y = add(y, bias);
  return y;
}

}  // namespace volt
