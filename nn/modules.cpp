#include "volt/nn/modules.h"

#include <cmath>

#include "volt/autograd/grad_mode.h"
#include "volt/nn/init.h"

namespace volt::nn {

Linear::Linear(int64_t in, int64_t out, bool with_bias, Generator* gen) : in_features(in), out_features(out) {
  VOLT_CHECK(in > 0 && out > 0, "Linear: features must be positive, got in=", in, " out=", out);
  weight = register_parameter("weight", empty({out, in}));
  if (with_bias) bias = register_parameter("bias", empty({out}));
  reset_parameters(gen);
}

void Linear::reset_parameters(Generator* gen) {
  init::kaiming_uniform_(weight, std::sqrt(5.0), init::FanMode::fan_in, "leaky_relu", gen);
  if (bias.defined()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
    init::uniform_(bias, -bound, bound, gen);
  }
}

std::shared_ptr<Module> Linear::clone(const TensorMap& map) const {
  auto copy = clone_as(*this, map);
  copy->weight = copy->registered_parameter("weight");
  if (bias.defined()) copy->bias = copy->registered_parameter("bias");
  return copy;
}

Tensor Linear::forward(const Tensor& input) { return linear(input, weight, bias); }

LayerNorm::LayerNorm(Shape shape, double eps, bool elementwise_affine, bool with_bias)
    : normalized_shape(std::move(shape)), eps(eps) {
  VOLT_CHECK(!normalized_shape.empty(), "LayerNorm: normalized_shape is empty");
  for (int64_t d : normalized_shape)
    VOLT_CHECK(d > 0, "LayerNorm: normalized_shape ", shape_str(normalized_shape), " must be positive");
  if (elementwise_affine) {
    weight = register_parameter("weight", empty(normalized_shape));
    if (with_bias) bias = register_parameter("bias", empty(normalized_shape));
  }
  reset_parameters();
}

void LayerNorm::reset_parameters() {
  NoGradGuard no_grad;
  if (weight.defined()) weight.fill_(1.0);
  if (bias.defined()) bias.fill_(0.0);
}

std::shared_ptr<Module> LayerNorm::clone(const TensorMap& map) const {
  auto copy = clone_as(*this, map);
  if (weight.defined()) copy->weight = copy->registered_parameter("weight");
  if (bias.defined()) copy->bias = copy->registered_parameter("bias");
  return copy;
}

Tensor LayerNorm::forward(const Tensor& input) { return layer_norm(input, normalized_shape, weight, bias, eps); }

Embedding::Embedding(int64_t num, int64_t dim, std::optional<int64_t> pad, Generator* gen)
    : num_embeddings(num), embedding_dim(dim) {
  VOLT_CHECK(num > 0 && dim > 0, "Embedding: num_embeddings and embedding_dim must be positive, got ", num, " and ",
             dim);
  if (pad) {
    VOLT_CHECK(*pad >= -num && *pad < num, "Embedding: padding_idx ", *pad, " is out of range for ", num,
               " embeddings");
    padding_idx = *pad < 0 ? *pad + num : *pad;
  }
  weight = register_parameter("weight", empty({num, dim}));
  reset_parameters(gen);
}

void Embedding::reset_parameters(Generator* gen) {
  init::normal_(weight, 0.0, 1.0, gen);
  if (padding_idx) {
    NoGradGuard no_grad;
    weight.select(0, *padding_idx).fill_(0.0);
  }
}

std::shared_ptr<Module> Embedding::clone(const TensorMap& map) const {
  auto copy = clone_as(*this, map);
  copy->weight = copy->registered_parameter("weight");
  return copy;
}

Tensor Embedding::forward(const Tensor& indices) { return embedding(weight, indices, padding_idx); }

Dropout::Dropout(double p, Generator* gen) : p(p), gen_(gen) {
  VOLT_CHECK(p >= 0.0 && p <= 1.0, "Dropout: probability must be in [0, 1], got ", p);
}

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules) {
  for (const auto& m : modules)
    push_back(m);
}

void Sequential::push_back(std::shared_ptr<Module> module) { push_back(std::to_string(size()), std::move(module)); }

void Sequential::push_back(const std::string& name, std::shared_ptr<Module> module) {
  register_module(name, std::move(module));
}

Tensor Sequential::forward(const Tensor& input) {
  Tensor x = input;
  for (const auto& [name, child] : named_children())
    x = child->forward(x);
  return x;
}

}  // namespace volt::nn
