#include "volt/core/tensor.h"

#include <cstring>
#include <sstream>

#include "volt/autograd/engine.h"
#include "volt/autograd/node.h"
#include "volt/core/dispatch.h"

namespace volt {

const Shape& Tensor::shape() const { return impl_->shape; }
const Shape& Tensor::strides() const { return impl_->strides; }
int64_t Tensor::size(int64_t d) const { return impl_->shape[wrap_dim(d, dim(), "size")]; }
int64_t Tensor::stride(int64_t d) const { return impl_->strides[wrap_dim(d, dim(), "stride")]; }
int64_t Tensor::numel() const { return volt::numel(impl_->shape); }
int64_t Tensor::storage_offset() const { return impl_->offset; }
DType Tensor::dtype() const { return impl_->dtype; }
Device Tensor::device() const { return impl_->storage->device(); }
const Storage& Tensor::storage() const { return impl_->storage; }

void* Tensor::data_ptr() const {
  return static_cast<char*>(impl_->storage->data()) + impl_->offset * itemsize(impl_->dtype);
}

bool Tensor::is_contiguous() const {
  if (numel() == 0) return true;  // no element to be out of place, as in PyTorch
  int64_t expected = 1;
  for (std::size_t i = impl_->shape.size(); i-- > 0;) {
    if (impl_->shape[i] == 1) continue;
    if (impl_->strides[i] != expected) return false;
    expected *= impl_->shape[i];
  }
  return true;
}

Tensor make_tensor(Storage storage, Shape shape, Shape strides, int64_t offset, DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  return make_tensor(base.storage(), std::move(shape), std::move(strides), offset, base.dtype());
}

std::string describe(const Tensor& t) {
  if (!t.defined()) return "undefined tensor";
  std::ostringstream os;
  os << t.dtype() << shape_str(t.shape()) << " on " << t.device();
  return os.str();
}

// --- creation -------------------------------------------------------------------------------

Tensor empty(const Shape& shape, TensorOptions options) {
  for (int64_t s : shape)
    VOLT_CHECK(s >= 0, "empty: negative size in shape ", shape_str(shape));
  const auto nbytes = static_cast<std::size_t>(volt::numel(shape)) * itemsize(options.dtype_);
  auto storage = std::make_shared<StorageImpl>(nbytes, allocator_for(options.device_));
  Tensor t = make_tensor(std::move(storage), shape, contiguous_strides(shape), 0, options.dtype_);
  if (options.requires_grad_) t.requires_grad_(true);
  return t;
}

Tensor zeros(const Shape& shape, TensorOptions options) {
  Tensor t = empty(shape, options.requires_grad(false));
  t.zero_();
  if (options.requires_grad_) t.requires_grad_(true);
  return t;
}

Tensor ones(const Shape& shape, TensorOptions options) { return full(shape, 1.0, options); }

Tensor full(const Shape& shape, double value, TensorOptions options) {
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
  VOLT_CHECK(volt::numel(s) == static_cast<int64_t>(values.size()), "tensor: ", values.size(),
             " values do not fill shape ", shape_str(s));
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

Tensor scalar_tensor(double value, TensorOptions options) { return full({}, value, options); }

Tensor from_blob(void* data, const Shape& shape, DType dtype, Device device) {
  for (int64_t s : shape)
    VOLT_CHECK(s >= 0, "from_blob: negative size in shape ", shape_str(shape));
  const auto nbytes = static_cast<std::size_t>(volt::numel(shape)) * itemsize(dtype);
  auto storage = std::make_shared<StorageImpl>(data, nbytes, device, nullptr);
  return make_tensor(std::move(storage), shape, contiguous_strides(shape), 0, dtype);
}

// --- element access -------------------------------------------------------------------------

template <class T>
std::vector<T> Tensor::to_vector() const {
  VOLT_CHECK(defined(), "to_vector: undefined tensor");
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

// --- autograd accessors ---------------------------------------------------------------------

bool Tensor::requires_grad() const { return impl_->requires_grad; }

Tensor& Tensor::requires_grad_(bool enabled) {
  VOLT_CHECK(is_leaf(), "requires_grad_: only leaf tensors can change requires_grad (this one was made by ",
             impl_->grad_fn->name(), "); use detach()");
  VOLT_CHECK(!enabled || is_floating(dtype()), "requires_grad_: only floating tensors can require grad, got ",
             describe(*this));
  impl_->requires_grad = enabled;
  return *this;
}

bool Tensor::is_leaf() const { return impl_->grad_fn == nullptr; }
Tensor Tensor::grad() const { return impl_->grad; }

void Tensor::set_grad(const Tensor& g) const {
  VOLT_CHECK(!g.defined() || g.shape() == shape(), "set_grad: gradient ", describe(g), " does not match tensor ",
             describe(*this));
  impl_->grad = g;
}

const std::shared_ptr<Node>& Tensor::grad_fn() const { return impl_->grad_fn; }

void Tensor::backward(const Tensor& gradient, bool retain_graph) const {
  autograd::backward(*this, gradient, retain_graph);
}

void Tensor::register_hook(GradHook hook) const {
  VOLT_CHECK(requires_grad(), "register_hook: tensor ", describe(*this), " does not require grad");
  if (is_leaf())
    impl_->hooks.push_back(std::move(hook));
  else
    impl_->grad_fn->add_pre_hook(std::move(hook));
}

void Tensor::register_post_accumulate_grad_hook(PostAccumulateHook hook) const {
  VOLT_CHECK(is_leaf() && requires_grad(),
             "register_post_accumulate_grad_hook: only leaves that require grad accumulate a gradient");
  impl_->post_accumulate_hooks.push_back(std::move(hook));
}

Tensor Tensor::detach() const {
  return make_tensor(impl_->storage, impl_->shape, impl_->strides, impl_->offset, impl_->dtype);
}

}  // namespace volt
