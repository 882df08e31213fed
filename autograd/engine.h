#pragma once

#include <optional>
#include <vector>

#include "volt/core/tensor.h"

namespace volt::autograd {

// Runs the backward pass from `root`: counts dependencies, runs each node once all gradients
// for it have arrived (summing those that meet), and accumulates into leaves' .grad().
// create_graph runs the backward with grad mode on, so the gradients (and .grad()) have a graph
// of their own; retain_graph defaults to it.
void backward(const Tensor& root, const Tensor& gradient, std::optional<bool> retain_graph = std::nullopt,
              bool create_graph = false);

// The gradients of `outputs` (weighted by `grad_outputs`, ones for one-element outputs where
// omitted) with respect to `inputs`, returned rather than accumulated: no .grad() changes, and
// only the part of the graph between them runs. With create_graph the results are differentiable
// (Hessian-vector products, gradient penalties). An input the outputs do not depend on is an
// error unless allow_unused, when its gradient is undefined. PyTorch's torch::autograd::grad.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, std::optional<bool> retain_graph = std::nullopt,
                         bool create_graph = false, bool allow_unused = false);

}  // namespace volt::autograd
