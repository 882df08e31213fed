// Creation ops that need a kernel (filled, copied from host values, ranges, random), and
// reading values back (item, to_vector). empty() and from_blob() are core's.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "volt/autograd/ops.h"
#include "volt/autograd/ops/op_checks.h"
#include "volt/core/generator.h"
#include "volt/kernels/random.h"

namespace volt {
namespace {

using kernels::Distribution;

Tensor random_tensor(const char* op, Distribution dist, const Shape& shape, TensorOptions options, Generator* gen,
                     double a, double b) {
  ops::check_device(op, options.device_);
  Tensor t = empty(shape, options.requires_grad(false));
  Generator& g = generator_for(gen);
  const int64_t n = dist == Distribution::normal ? t.numel() + (t.numel() & 1) : t.numel();
  const PhiloxArgs philox = g.philox_args(t.device(), kernels::random_blocks(t.dtype(), n));
  kernels::launch(kernels::random_fill, t.device(), dist, t.dtype(), t.data_ptr(), t.numel(), a, b, philox);
  if (options.requires_grad_) t.requires_grad_(true);
  return t;
}

}  // namespace

Tensor zeros(const Shape& shape, TensorOptions options) { return full(shape, 0.0, options); }
Tensor ones(const Shape& shape, TensorOptions options) { return full(shape, 1.0, options); }

Tensor full(const Shape& shape, double value, TensorOptions options) {
  ops::check_device("full", options.device_);
  Tensor t = empty(shape, options.requires_grad(false));
  t.fill_(value);
  if (options.requires_grad_) t.requires_grad_(true);
  return t;
}

Tensor empty_like(const Tensor& t) { return empty(t.shape(), TensorOptions(t.dtype()).device(t.device())); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), TensorOptions(t.dtype()).device(t.device())); }
Tensor ones_like(const Tensor& t) { return full_like(t, 1.0); }
Tensor full_like(const Tensor& t, double value) {
  return full(t.shape(), value, TensorOptions(t.dtype()).device(t.device()));
}

template <class T>
Tensor tensor(const std::vector<T>& values, const Shape& shape, TensorOptions options) {
  const Shape s = shape.empty() ? Shape{static_cast<int64_t>(values.size())} : shape;
  VOLT_CHECK(numel(s) == static_cast<int64_t>(values.size()), "tensor: ", values.size(), " values do not fill shape ",
             shape_str(s));
  Tensor host = empty(s, TensorOptions(dtype_of<T>()));
  if constexpr (std::is_same_v<T, bool>) {
    auto* p = host.data_ptr<bool>();
    for (std::size_t i = 0; i < values.size(); ++i)
      p[i] = values[i];
  } else if (!values.empty()) {
    std::memcpy(host.data_ptr(), values.data(), values.size() * sizeof(T));
  }
  // The dtype is T's unless the options name one.
  const DType want = options.dtype_set_ ? options.dtype_ : dtype_of<T>();
  Tensor t = host.to(want).to(options.device_);
  if (options.requires_grad_) t.requires_grad_(true);
  return t;
}
template Tensor tensor(const std::vector<float>&, const Shape&, TensorOptions);
template Tensor tensor(const std::vector<double>&, const Shape&, TensorOptions);
template Tensor tensor(const std::vector<int32_t>&, const Shape&, TensorOptions);
template Tensor tensor(const std::vector<int64_t>&, const Shape&, TensorOptions);
template Tensor tensor(const std::vector<uint8_t>&, const Shape&, TensorOptions);
template Tensor tensor(const std::vector<bool>&, const Shape&, TensorOptions);

Tensor tensor(std::initializer_list<double> values, TensorOptions options) {
  Tensor t = tensor(std::vector<double>(values)).to(options.dtype_).to(options.device_);
  if (options.requires_grad_) t.requires_grad_(true);
  return t;
}

Tensor tensor(std::initializer_list<std::initializer_list<double>> rows, TensorOptions options) {
  const auto r = static_cast<int64_t>(rows.size());
  const int64_t c = r == 0 ? 0 : static_cast<int64_t>(rows.begin()->size());
  std::vector<double> flat;
  flat.reserve(static_cast<std::size_t>(r * c));
  int64_t i = 0;
  for (const auto& row : rows) {
    VOLT_CHECK(static_cast<int64_t>(row.size()) == c, "tensor: row ", i, " has ", row.size(), " values but row 0 has ",
               c, "; a matrix needs rows of one length");
    flat.insert(flat.end(), row.begin(), row.end());
    ++i;
  }
  Tensor t = tensor(flat, {r, c}).to(options.dtype_).to(options.device_);
  if (options.requires_grad_) t.requires_grad_(true);
  return t;
}

Tensor rand_like(const Tensor& t, Generator* gen) {
  return rand(t.shape(), TensorOptions(t.dtype()).device(t.device()), gen);
}
Tensor randn_like(const Tensor& t, Generator* gen) {
  return randn(t.shape(), TensorOptions(t.dtype()).device(t.device()), gen);
}

Tensor linspace(double start, double end, int64_t steps, TensorOptions options) {
  VOLT_CHECK(steps >= 0, "linspace: steps must be 0 or more, got ", steps);
  std::vector<double> v(static_cast<std::size_t>(steps));
  const double step = steps > 1 ? (end - start) / static_cast<double>(steps - 1) : 0.0;
  for (int64_t i = 0; i < steps; ++i)  // the first half from start, the second from end
    v[static_cast<std::size_t>(i)] = steps == 1 || i < steps / 2 ? start + step * static_cast<double>(i)
                                                                 : end - step * static_cast<double>(steps - 1 - i);
  Tensor t = tensor(v, {steps}).to(options.dtype_).to(options.device_);
  if (options.requires_grad_) t.requires_grad_(true);
  return t;
}

Tensor one_hot(const Tensor& target, int64_t num_classes) {
  VOLT_CHECK(target.defined() && target.dtype() == DType::i64, "one_hot: expected an i64 tensor of class indices, got ",
             target.defined() ? describe(target) : std::string("an undefined tensor"));
  VOLT_CHECK(num_classes >= -1, "one_hot: num_classes must be -1 or more, got ", num_classes);
  const Tensor host = target.to(Device::cpu()).contiguous();
  const int64_t* t = host.data_ptr<int64_t>();
  int64_t largest = -1;
  for (int64_t i = 0; i < host.numel(); ++i) {
    VOLT_CHECK(t[i] >= 0, "one_hot: class index ", t[i], " at flat index ", i, " is negative");
    largest = std::max(largest, t[i]);
  }
  if (num_classes == -1) num_classes = largest + 1;
  VOLT_CHECK(largest < num_classes, "one_hot: class index ", largest, " is out of range for ", num_classes, " classes");
  const Tensor classes = arange(static_cast<double>(num_classes), TensorOptions(DType::i64).device(target.device()));
  return eq(target.unsqueeze(-1), classes).to(DType::i64);
}

Tensor scalar_tensor(double value, TensorOptions options) { return full({}, value, options); }

template <class T>
std::vector<T> Tensor::to_vector() const {
  VOLT_CHECK(defined(), "to_vector: the tensor is undefined");
  // bool goes through u8 because std::vector<bool> has no contiguous buffer.
  using Raw = std::conditional_t<std::is_same_v<T, bool>, uint8_t, T>;
  const Tensor c = detach().to(Device::cpu()).to(dtype_of<Raw>()).contiguous();
  std::vector<Raw> raw(static_cast<std::size_t>(c.numel()));
  if (!raw.empty()) std::memcpy(raw.data(), c.data_ptr(), raw.size() * sizeof(Raw));
  if constexpr (std::is_same_v<T, bool>)
    return std::vector<bool>(raw.begin(), raw.end());
  else
    return raw;
}

template <class T>
T Tensor::item() const {
  VOLT_CHECK(defined() && numel() == 1, "item: expected a tensor with one element, got ", describe(*this));
  return to_vector<T>()[0];
}

#define VOLT_INSTANTIATE_ACCESS(T)                      \
  template std::vector<T> Tensor::to_vector<T>() const; \
  template T Tensor::item<T>() const;
VOLT_INSTANTIATE_ACCESS(float)
VOLT_INSTANTIATE_ACCESS(double)
VOLT_INSTANTIATE_ACCESS(int32_t)
VOLT_INSTANTIATE_ACCESS(int64_t)
VOLT_INSTANTIATE_ACCESS(uint8_t)
VOLT_INSTANTIATE_ACCESS(bool)
#undef VOLT_INSTANTIATE_ACCESS

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
  ops::check_device("randint", options.device_);
  Tensor t = empty(shape, options.requires_grad(false));
  Generator& g = generator_for(gen);
  const PhiloxArgs philox = g.philox_args(t.device(), kernels::random_blocks(DType::f32, t.numel()));
  kernels::launch(kernels::randint_fill, t.device(), t.dtype(), t.data_ptr(), t.numel(), low, high, philox);
  return t;
}

}  // namespace volt
