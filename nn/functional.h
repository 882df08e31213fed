// nn::functional: the stateless forms of the layers, as torch.nn.functional.
#pragma once

#include <string>

#include "volt/autograd/ops.h"

namespace volt::nn::functional {

inline Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor()) {
  return volt::linear(x, weight, bias);
}
inline Tensor relu(const Tensor& x) { return volt::relu(x); }
// relu(linear(x, weight, bias)) as one fused op (autograd/ops.h).
inline Tensor linear_relu(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor()) {
  return volt::linear_relu(x, weight, bias);
}
inline Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01) { return volt::leaky_relu(x, negative_slope); }
inline Tensor gelu(const Tensor& x, const std::string& approximate = "none") { return volt::gelu(x, approximate); }
inline Tensor silu(const Tensor& x) { return volt::silu(x); }
inline Tensor softplus(const Tensor& x, double beta = 1.0, double threshold = 20.0) {
  return volt::softplus(x, beta, threshold);
}
inline Tensor tanh(const Tensor& x) { return volt::tanh(x); }
inline Tensor sigmoid(const Tensor& x) { return volt::sigmoid(x); }
inline Tensor dropout(const Tensor& x, double p = 0.5, bool training = true, Generator* gen = nullptr) {
  return volt::dropout(x, p, training, gen);
}
inline Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& options = {}) {
  return volt::cross_entropy(logits, target, options);
}
inline Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean) {
  return volt::mse_loss(input, target, reduction);
}
inline Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean) {
  return volt::l1_loss(input, target, reduction);
}
inline Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean,
                             double beta = 1.0) {
  return volt::smooth_l1_loss(input, target, reduction, beta);
}
inline Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight = Tensor(),
                                   Reduction reduction = Reduction::mean) {
  return volt::binary_cross_entropy(input, target, weight, reduction);
}
inline Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                               const Tensor& weight = Tensor(), Reduction reduction = Reduction::mean,
                                               const Tensor& pos_weight = Tensor()) {
  return volt::binary_cross_entropy_with_logits(input, target, weight, reduction, pos_weight);
}
inline Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                         const Tensor& bias = Tensor(), double eps = 1e-5) {
  return volt::layer_norm(x, normalized_shape, weight, bias, eps);
}
// torch.nn.functional's order: (input, weight).
inline Tensor embedding(const Tensor& input, const Tensor& weight, std::optional<int64_t> padding_idx = std::nullopt) {
  return volt::embedding(weight, input, padding_idx);
}
inline Tensor softmax(const Tensor& x, int64_t dim) { return volt::softmax(x, dim); }
inline Tensor log_softmax(const Tensor& x, int64_t dim) { return volt::log_softmax(x, dim); }

}  // namespace volt::nn::functional
