// The layers: Linear, LayerNorm, Embedding, the activations (ReLU, LeakyReLU, GELU, SiLU, Softplus, Tanh, Sigmoid,
// Softmax, LogSoftmax, Identity), Dropout, Flatten, Sequential, and the losses (CrossEntropyLoss,
// NLLLoss, KLDivLoss, MSELoss, L1Loss, SmoothL1Loss, BCELoss, BCEWithLogitsLoss), under PyTorch's
// names and defaults.
#pragma once

#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "volt/autograd/ops.h"
#include "volt/nn/module.h"

namespace volt::nn {

// y = x·Wᵀ + b. PyTorch's initialisation: W ~ kaiming_uniform(a=√5), i.e. U(±1/√in), and
// b ~ U(±1/√in). `gen` (default generator when null) makes it reproducible.
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true, Generator* gen = nullptr);
  Tensor forward(const Tensor& input) override;
  void reset_parameters(Generator* gen = nullptr);
  std::shared_ptr<Module> clone(const TensorMap& map = {}) const override;

  int64_t in_features, out_features;
  Tensor weight;  // [out, in]
  Tensor bias;    // [out], undefined without bias
};

// Layer normalisation over the trailing normalized_shape dims; with elementwise_affine a
// learnable weight (ones) and bias (zeros, unless bias is false) of that shape.
class LayerNorm : public Module {
 public:
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true, bool bias = true);
  Tensor forward(const Tensor& input) override;
  void reset_parameters();
  std::shared_ptr<Module> clone(const TensorMap& map = {}) const override;

  Shape normalized_shape;
  double eps;
  Tensor weight, bias;  // undefined without elementwise_affine (bias: or without bias)
};

// A lookup table: i64 indices of any shape to rows of weight [num_embeddings, embedding_dim],
// initialised N(0, 1) as PyTorch's; padding_idx's row starts at zero and gets no gradient.
class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim, std::optional<int64_t> padding_idx = std::nullopt,
            Generator* gen = nullptr);
  Tensor forward(const Tensor& indices) override;
  void reset_parameters(Generator* gen = nullptr);
  std::shared_ptr<Module> clone(const TensorMap& map = {}) const override;

  int64_t num_embeddings, embedding_dim;
  std::optional<int64_t> padding_idx;  // wrapped to [0, num_embeddings)
  Tensor weight;
};

class ReLU : public Module {
 public:
  std::shared_ptr<Module> clone(const TensorMap& map = {}) const override { return clone_as(*this, map); }
  Tensor forward(const Tensor& input) override { return relu(input); }
};

class LeakyReLU : public Module {
 public:
  std::shared_ptr<Module> clone(const TensorMap& map = {}) const override { return clone_as(*this, map); }
  explicit LeakyReLU(double negative_slope = 0.01) : negative_slope(negative_slope) {}
  Tensor forward(const Tensor& input) override { return leaky_relu(input, negative_slope); }

  double negative_slope;
};

// approximate: "none" (erf) or "tanh".
class GELU : public Module {
 public:
  std::shared_ptr<Module> clone(const TensorMap& map = {}) const override { return clone_as(*this, map); }
  explicit GELU(std::string approximate = "none") : approximate(std::move(approximate)) {}
  Tensor forward(const Tensor& input) override { return gelu(input, approximate); }

  std::string approximate;
};

class SiLU : public Module {
 public:
  std::shared_ptr<Module> clone(const TensorMap& map = {}) const override { return clone_as(*this, map); }
  Tensor forward(const Tensor& input) override { return silu(input); }
};

class Softplus : public Module {
 public:
  std::shared_ptr<Module> clone(const TensorMap& map = {}) const override { return clone_as(*this, map); }
  explicit Softplus(double beta = 1.0, double threshold = 20.0) : beta(beta), threshold(threshold) {}
  Tensor forward(const Tensor& input) override { return softplus(input, beta, threshold); }

  double beta, threshold;
};

class Tanh : public Module {
 public:
  std::shared_ptr<Module> clone(const TensorMap& map = {}) const override { return clone_as(*this, map); }
  Tensor forward(const Tensor& input) override { return tanh(input); }
};

class Sigmoid : public Module {
 public:
  std::shared_ptr<Module> clone(const TensorMap& map = {}) const override { return clone_as(*this, map); }
  Tensor forward(const Tensor& input) override { return sigmoid(input); }
};

class Softmax : public Module {
 public:
  std::shared_ptr<Module> clone(const TensorMap& map = {}) const override { return clone_as(*this, map); }
  explicit Softmax(int64_t dim) : dim(dim) {}
  Tensor forward(const Tensor& input) override { return softmax(input, dim); }

  int64_t dim;
};

class LogSoftmax : public Module {
 public:
  std::shared_ptr<Module> clone(const TensorMap& map = {}) const override { return clone_as(*this, map); }
  explicit LogSoftmax(int64_t dim) : dim(dim) {}
  Tensor forward(const Tensor& input) override { return log_softmax(input, dim); }

  int64_t dim;
};

class Identity : public Module {
 public:
  std::shared_ptr<Module> clone(const TensorMap& map = {}) const override { return clone_as(*this, map); }
  Tensor forward(const Tensor& input) override { return input; }
};

// Zeroes elements with probability p in training and scales the rest by 1/(1-p); identity in
// eval(). Draws from `gen` (the default generator when null).
class Dropout : public Module {
 public:
  std::shared_ptr<Module> clone(const TensorMap& map = {}) const override { return clone_as(*this, map); }
  explicit Dropout(double p = 0.5, Generator* gen = nullptr);
  Tensor forward(const Tensor& input) override { return dropout(input, p, is_training(), gen_); }

  double p;

 private:
  Generator* gen_;
};

class Flatten : public Module {
 public:
  std::shared_ptr<Module> clone(const TensorMap& map = {}) const override { return clone_as(*this, map); }
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1) : start_dim(start_dim), end_dim(end_dim) {}
  Tensor forward(const Tensor& input) override { return input.flatten(start_dim, end_dim); }

  int64_t start_dim, end_dim;
};

// Runs its children in order. Unnamed children are named "0", "1", ... as in PyTorch.
class Sequential : public Module {
 public:
  std::shared_ptr<Module> clone(const TensorMap& map = {}) const override { return clone_as(*this, map); }
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);
  void push_back(std::shared_ptr<Module> module);
  void push_back(const std::string& name, std::shared_ptr<Module> module);
  Tensor forward(const Tensor& input) override;
  std::size_t size() const { return named_children().size(); }
};

// A loss of (input, target): forward(input, target) and operator(). Module's single-input
// forward stays visible and throws, as a loss takes two.
template <class Derived>
class Loss : public Module {
 public:
  using Module::forward;
  Tensor operator()(const Tensor& input, const Tensor& target) {
    return static_cast<Derived&>(*this).forward(input, target);
  }
  std::shared_ptr<Module> clone(const Module::TensorMap& map = {}) const override {
    return this->clone_as(static_cast<const Derived&>(*this), map);
  }
};

// A loss whose one option is its reduction: MSELoss, L1Loss.
template <Tensor (*kLoss)(const Tensor&, const Tensor&, Reduction)>
class ReducedLoss : public Loss<ReducedLoss<kLoss>> {
 public:
  explicit ReducedLoss(Reduction reduction = Reduction::mean) : reduction(reduction) {}
  using Loss<ReducedLoss<kLoss>>::forward;
  Tensor forward(const Tensor& input, const Tensor& target) { return kLoss(input, target, reduction); }

  Reduction reduction;
};
using MSELoss = ReducedLoss<mse_loss>;
using L1Loss = ReducedLoss<l1_loss>;

class SmoothL1Loss : public Loss<SmoothL1Loss> {
 public:
  explicit SmoothL1Loss(Reduction reduction = Reduction::mean, double beta = 1.0) : reduction(reduction), beta(beta) {}
  using Loss::forward;
  Tensor forward(const Tensor& input, const Tensor& target) { return smooth_l1_loss(input, target, reduction, beta); }

  Reduction reduction;
  double beta;
};

// weight (optional): rescales each element's loss, broadcast to the input's shape.
class BCELoss : public Loss<BCELoss> {
 public:
  explicit BCELoss(Tensor weight = Tensor(), Reduction reduction = Reduction::mean)
      : weight(std::move(weight)), reduction(reduction) {}
  using Loss::forward;
  Tensor forward(const Tensor& input, const Tensor& target) {
    return binary_cross_entropy(input, target, weight, reduction);
  }

  Tensor weight;
  Reduction reduction;
};

// pos_weight (optional): the positive class's weight, broadcast along the last dim.
class BCEWithLogitsLoss : public Loss<BCEWithLogitsLoss> {
 public:
  explicit BCEWithLogitsLoss(Tensor weight = Tensor(), Reduction reduction = Reduction::mean,
                             Tensor pos_weight = Tensor())
      : weight(std::move(weight)), reduction(reduction), pos_weight(std::move(pos_weight)) {}
  using Loss::forward;
  Tensor forward(const Tensor& input, const Tensor& target) {
    return binary_cross_entropy_with_logits(input, target, weight, reduction, pos_weight);
  }

  Tensor weight;
  Reduction reduction;
  Tensor pos_weight;
};

class NLLLoss : public Loss<NLLLoss> {
 public:
  explicit NLLLoss(Tensor weight = Tensor(), Reduction reduction = Reduction::mean, int64_t ignore_index = -100)
      : weight(std::move(weight)), reduction(reduction), ignore_index(ignore_index) {}
  using Loss::forward;
  Tensor forward(const Tensor& input, const Tensor& target) {
    return nll_loss(input, target, weight, reduction, ignore_index);
  }

  Tensor weight;
  Reduction reduction;
  int64_t ignore_index;
};

class KLDivLoss : public Loss<KLDivLoss> {
 public:
  explicit KLDivLoss(Reduction reduction = Reduction::mean, bool log_target = false)
      : reduction(reduction), log_target(log_target) {}
  using Loss::forward;
  Tensor forward(const Tensor& input, const Tensor& target) { return kl_div(input, target, reduction, log_target); }

  Reduction reduction;
  bool log_target;
};

class CrossEntropyLoss : public Module {
 public:
  std::shared_ptr<Module> clone(const TensorMap& map = {}) const override { return clone_as(*this, map); }
  explicit CrossEntropyLoss(CrossEntropyOptions options = {}) : options(options) {}
  using Module::forward;  // Module's single-input forward stays visible (it throws: a loss takes two)
  Tensor forward(const Tensor& logits, const Tensor& target) { return cross_entropy(logits, target, options); }
  Tensor operator()(const Tensor& logits, const Tensor& target) { return forward(logits, target); }

  CrossEntropyOptions options;
};

}  // namespace volt::nn
