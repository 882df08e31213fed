// What a kernel is asked to compute, shared by the CPU kernels and their CUDA twins so that
// both take the same arguments and the op layer dispatches with one line.
#pragma once

#include <cstdint>

namespace volt::kernels {

enum class Unary { neg, exp, log, sqrt, tanh, sigmoid, relu, abs, pow, scale, add_scalar };
// add/sub: a ± alpha*b. Comparisons write bool. *_backward(grad, y) use the op's output y.
enum class Binary { add, sub, mul, div, eq, ne, lt, le, gt, ge, relu_backward, tanh_backward, sigmoid_backward };
// addcmul: a + value*b*c, addcdiv: a + value*b/c.
enum class Ternary { addcmul, addcdiv };

inline bool is_comparison(Binary op) { return op >= Binary::eq && op <= Binary::ge; }

// uniform: [a, b); normal: mean a, std b (Box-Muller on pairs of uniforms); bernoulli: 1 with
// probability a.
enum class Distribution { uniform, normal, bernoulli };

struct CrossEntropyArgs {
  int64_t rows = 0, classes = 0;
  int64_t ignore_index = -100;
  double label_smoothing = 0.0;
};

// A GEMM operand stored row-major with leading dimension ld (row stride), or, when
// `col_major`, column-major with ld the column stride (a transposed view needs no copy).
struct MatrixOperand {
  const void* data;
  int64_t ld;
  bool col_major;
};

}  // namespace volt::kernels
