// gradcheck: compares autograd's gradients with central finite differences, in f64.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "volt/core/tensor.h"

namespace volt {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  uint64_t seed = 0;  // for the random projection of the output
  // Compare at most this many elements per input (0: all): evenly spaced ones plus the last 4,
  // where vector tails and tile edges are. Finite differences cost a forward pass per element.
  int64_t max_checked = 0;
};

struct GradcheckResult {
  bool ok = true;
  std::string message;  // what disagreed, where, by how much
  explicit operator bool() const { return ok; }
};

// `fn` maps `inputs` (f64, those to check have requires_grad) to one output. The check
// projects the output on a fixed random vector v and compares, for every element of every
// input, d(v·fn)/dx from backward with (v·fn(x+eps) - v·fn(x-eps)) / 2eps. Inputs may be
// non-contiguous views; they are perturbed in place and restored.
GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& options = {});

// The same check one order up (PyTorch's gradgradcheck): the gradients of u·fn(x) with respect
// to the inputs, taken with create_graph (u a fixed random vector), are a function of the
// inputs whose backward is fn's second-order backward; gradcheck compares that with central
// finite differences of the first-order gradients.
GradcheckResult gradgradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                              const std::vector<Tensor>& inputs, const GradcheckOptions& options = {});

}  // namespace volt
