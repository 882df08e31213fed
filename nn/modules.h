// The layers: Linear, ReLU, Dropout, Flatten, Sequential, CrossEntropyLoss.
#pragma once

#include <initializer_list>
#include <memory>
#include <string>

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

  int64_t in_features, out_features;
  Tensor weight;  // [out, in]
  Tensor bias;    // [out], undefined without bias
};

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& input) override { return relu(input); }
};

// Zeroes elements with probability p in training and scales the rest by 1/(1-p); identity in
// eval(). Draws from `gen` (the default generator when null).
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, Generator* gen = nullptr);
  Tensor forward(const Tensor& input) override { return dropout(input, p, is_training(), gen_); }

  double p;

 private:
  Generator* gen_;
};

class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1) : start_dim(start_dim), end_dim(end_dim) {}
  Tensor forward(const Tensor& input) override { return input.flatten(start_dim, end_dim); }

  int64_t start_dim, end_dim;
};

// Runs its children in order. Unnamed children are named "0", "1", ... as in PyTorch.
class Sequential : public Module {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);
  void push_back(std::shared_ptr<Module> module);
  void push_back(const std::string& name, std::shared_ptr<Module> module);
  Tensor forward(const Tensor& input) override;
  std::size_t size() const { return named_children().size(); }
};

class CrossEntropyLoss : public Module {
 public:
  explicit CrossEntropyLoss(CrossEntropyOptions options = {}) : options(options) {}
  using Module::forward;  // Module's single-input forward stays visible (it throws: a loss takes two)
  Tensor forward(const Tensor& logits, const Tensor& target) { return cross_entropy(logits, target, options); }
  Tensor operator()(const Tensor& logits, const Tensor& target) { return forward(logits, target); }

  CrossEntropyOptions options;
};

}  // namespace volt::nn
