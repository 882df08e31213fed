// Creation ops that need a kernel: ranges and random tensors.
#include <cmath>

#include "volt/autograd/ops.h"
#include "volt/autograd/ops/op_checks.h"
#include "volt/kernels/cpu/random.h"
#if VOLT_HAS_CUDA
#include "volt/kernels/cuda/random.h"
#endif

namespace volt {
namespace {

using kernels::Distribution;

Tensor random_tensor(const char* op, Distribution dist, const Shape& shape, TensorOptions options, Generator* gen,
                     double a, double b) {
  Tensor t = empty(shape, options.requires_grad(false));
  ops::check_device(op, {t});
  Generator& g = gen ? *gen : default_generator();
  const int64_t n = dist == Distribution::normal ? t.numel() + (t.numel() & 1) : t.numel();
  const uint64_t counter = g.reserve(kernels::cpu::random_blocks(t.dtype(), n));
  VOLT_DISPATCH(t.device(), random_fill, dist, t.dtype(), t.data_ptr(), t.numel(), a, b, g.seed(), counter);
  if (options.requires_grad_) t.requires_grad_(true);
  return t;
}

}  // namespace

Tensor arange(double start, double end, double step, TensorOptions options) {
  VOLT_CHECK(step != 0, "arange: step must be non-zero");
  VOLT_CHECK((end - start) * step >= 0, "arange: the range [", start, ", ", end, ") and step ", step,
             " have inconsistent signs");
  const auto n = static_cast<int64_t>(std::ceil((end - start) / step));
  std::vector<double> values(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    values[i] = start + static_cast<double>(i) * step;
  // The shape is explicit: tensor() makes a single value 0-dim, and arange is always 1-D.
  Tensor t = tensor(values, {n}).to(options.dtype_).to(options.device_);
  if (options.requires_grad_) t.requires_grad_(true);
  return t;
}

Tensor arange(double end, TensorOptions options) { return arange(0.0, end, 1.0, options); }

Tensor rand(const Shape& shape, TensorOptions options, Generator* gen) {
  VOLT_CHECK(is_floating(options.dtype_), "rand: expected a floating dtype, got ", options.dtype_);
  return random_tensor("rand", Distribution::uniform, shape, options, gen, 0.0, 1.0);
}

Tensor randn(const Shape& shape, TensorOptions options, Generator* gen) {
  VOLT_CHECK(is_floating(options.dtype_), "randn: expected a floating dtype, got ", options.dtype_);
  return random_tensor("randn", Distribution::normal, shape, options, gen, 0.0, 1.0);
}

Tensor bernoulli(const Shape& shape, double p, TensorOptions options, Generator* gen) {
  VOLT_CHECK(p >= 0 && p <= 1, "bernoulli: p must be in [0, 1], got ", p);
  return random_tensor("bernoulli", Distribution::bernoulli, shape, options, gen, p, 0.0);
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions options, Generator* gen) {
  VOLT_CHECK(low < high, "randint: low (", low, ") must be less than high (", high, ")");
  VOLT_CHECK(static_cast<uint64_t>(high - low) <= (uint64_t{1} << 32), "randint: range [", low, ", ", high,
             ") is wider than 2^32");
  VOLT_CHECK(options.dtype_ != DType::boolean, "randint: bool is not an integer dtype");
  Tensor t = empty(shape, options.requires_grad(false));
  ops::check_device("randint", {t});
  Generator& g = gen ? *gen : default_generator();
  const uint64_t counter = g.reserve(kernels::cpu::random_blocks(DType::f32, t.numel()));
  VOLT_DISPATCH(t.device(), randint_fill, t.dtype(), t.data_ptr(), t.numel(), low, high, g.seed(), counter);
  return t;
}

}  // namespace volt
