// nn::functional: the stateless forms of the layers, as torch.nn.functional.
#pragma once

#include "volt/autograd/ops.h"

namespace volt::nn::functional {

inline Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor()) {
  return volt::linear(x, weight, bias);
}
inline Tensor relu(const Tensor& x) { return volt::relu(x); }
inline Tensor dropout(const Tensor& x, double p = 0.5, bool training = true, Generator* gen = nullptr) {
  return volt::dropout(x, p, training, gen);
}
inline Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& options = {}) {
  return volt::cross_entropy(logits, target, options);
}
inline Tensor softmax(const Tensor& x, int64_t dim) { return volt::softmax(x, dim); }
inline Tensor log_softmax(const Tensor& x, int64_t dim) { return volt::log_softmax(x, dim); }

}  // namespace volt::nn::functional
