#pragma once

#include "volt/core/tensor.h"

namespace volt::autograd {

// Runs the backward pass from `root`: counts dependencies, runs each node once all gradients
// for it have arrived (summing those that meet), and accumulates into leaves' .grad().
void backward(const Tensor& root, const Tensor& gradient, bool retain_graph);

}  // namespace volt::autograd
