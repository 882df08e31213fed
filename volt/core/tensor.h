// Tensor: a cheap-to-copy handle on a TensorImpl (storage + shape/strides/offset + dtype +
// autograd metadata). Copies share everything; views share the storage.
//
// Member functions mirror PyTorch's C++ API. Those that compute are defined next to their op
// in autograd/ops/, so a reader finds `x.sum(1)` and its backward in one place.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <ostream>
#include <type_traits>
#include <vector>

#include "volt/core/device.h"
#include "volt/core/dtype.h"
#include "volt/core/error.h"
#include "volt/core/shape.h"
#include "volt/core/storage.h"

namespace volt {

class Node;
struct TensorImpl;
class Tensor;

// Gradient hook: sees the gradient flowing into a tensor; may return a replacement (an
// undefined Tensor keeps the original).
using GradHook = std::function<Tensor(const Tensor&)>;
// Runs on a leaf after its .grad() was accumulated (data parallel all-reduce listens here).
using PostAccumulateHook = std::function<void(Tensor&)>;

struct TensorOptions {
  DType dtype_ = DType::f32;
  bool dtype_set_ = false;  // named explicitly (tensor() otherwise takes the values' type)
  Device device_ = Device::cpu();
  bool requires_grad_ = false;

  TensorOptions() = default;
  TensorOptions(DType t) : dtype_(t), dtype_set_(true) {}  // NOLINT: implicit, as in PyTorch
  TensorOptions(Device d) : device_(d) {}                  // NOLINT
  TensorOptions dtype(DType t) const {
    auto o = *this;
    o.dtype_ = t;
    return o;
  }
  TensorOptions device(Device d) const {
    auto o = *this;
    o.device_ = d;
    return o;
  }
  TensorOptions requires_grad(bool r = true) const {
    auto o = *this;
    o.requires_grad_ = r;
    return o;
  }
};

template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::f32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::f64;
}
template <>
constexpr DType dtype_of<int32_t>() {
  return DType::i32;
}
template <>
constexpr DType dtype_of<int64_t>() {
  return DType::i64;
}
template <>
constexpr DType dtype_of<uint8_t>() {
  return DType::u8;
}
template <>
constexpr DType dtype_of<bool>() {
  return DType::boolean;
}

struct MaxResult;

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }

  // --- metadata -------------------------------------------------------------------------
  const Shape& shape() const;
  const Shape& sizes() const { return shape(); }
  const Shape& strides() const;
  int64_t size(int64_t dim) const;
  int64_t stride(int64_t dim) const;
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t numel() const;
  int64_t storage_offset() const;
  DType dtype() const;
  Device device() const;
  bool is_contiguous() const;
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * itemsize(dtype()); }
  const Storage& storage() const;
  // Address of the first element (storage + offset).
  void* data_ptr() const;
  template <class T>
  T* data_ptr() const {
    VOLT_CHECK(dtype_of<std::remove_const_t<T>>() == dtype(), "data_ptr: tensor is ", dtype(), ", asked for ",
               dtype_of<std::remove_const_t<T>>());
    return static_cast<T*>(data_ptr());
  }

  // --- element access -------------------------------------------------------------------
  // Value of a one-element tensor, converted to T.
  template <class T>
  T item() const;
  // All elements in row-major order, converted to T.
  template <class T>
  std::vector<T> to_vector() const;

  // --- views (share storage; differentiable) --------------------------------------------
  Tensor view(const Shape& shape) const;     // -1 infers one dim; strides must allow it
  Tensor reshape(const Shape& shape) const;  // a view when strides allow, a copy otherwise
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const;  // 2-D transpose
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor expand(const Shape& shape) const;  // -1 keeps a dim
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor contiguous() const;  // itself when already contiguous

  // --- conversion -----------------------------------------------------------------------
  Tensor to(DType dtype) const;  // itself when already that dtype
  Tensor to(Device device) const;
  Tensor clone() const;
  Tensor detach() const;  // shares storage, no autograd history

  // --- arithmetic (broadcasting, differentiable) ----------------------------------------
  Tensor operator-() const;
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor pow(double exponent) const;
  Tensor tanh() const;
  Tensor sigmoid() const;
  Tensor relu() const;
  Tensor abs() const;
  Tensor matmul(const Tensor& other) const;

  // --- reductions -----------------------------------------------------------------------
  Tensor sum() const;
  Tensor sum(const std::vector<int64_t>& dims, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(const std::vector<int64_t>& dims, bool keepdim = false) const;
  MaxResult max(int64_t dim, bool keepdim = false) const;
  Tensor max() const;
  Tensor argmax(int64_t dim, bool keepdim = false) const;
  Tensor softmax(int64_t dim) const;
  Tensor log_softmax(int64_t dim) const;

  // --- comparisons (not differentiable; bool result) ------------------------------------
  Tensor eq(const Tensor& o) const;
  Tensor ne(const Tensor& o) const;
  Tensor lt(const Tensor& o) const;
  Tensor le(const Tensor& o) const;
  Tensor gt(const Tensor& o) const;
  Tensor ge(const Tensor& o) const;

  // --- in-place (for optimizers and initialisers; bump the version counter) -------------
  Tensor& add_(const Tensor& other, double alpha = 1.0);
  Tensor& add_(double value);
  Tensor& sub_(const Tensor& other, double alpha = 1.0);
  Tensor& mul_(const Tensor& other);
  Tensor& mul_(double value);
  Tensor& div_(const Tensor& other);
  Tensor& div_(double value);
  Tensor& addcmul_(const Tensor& t1, const Tensor& t2, double value = 1.0);
  Tensor& addcdiv_(const Tensor& t1, const Tensor& t2, double value = 1.0);
  Tensor& copy_(const Tensor& src);  // broadcasts src; converts dtype
  Tensor& fill_(double value);
  Tensor& zero_();
  Tensor& uniform_(double from = 0.0, double to = 1.0);
  Tensor& normal_(double mean = 0.0, double std = 1.0);

  // --- autograd -------------------------------------------------------------------------
  bool requires_grad() const;
  Tensor& requires_grad_(bool enabled = true);  // leaves only
  bool is_leaf() const;
  Tensor grad() const;  // leaf gradient; undefined until a backward reaches it
  void set_grad(const Tensor& g) const;
  const std::shared_ptr<Node>& grad_fn() const;
  // Seeds with ones for a one-element tensor; otherwise `gradient` is required.
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false) const;
  void register_hook(GradHook hook) const;
  void register_post_accumulate_grad_hook(PostAccumulateHook hook) const;
  uint64_t version() const { return storage()->version(); }
  void bump_version() const { storage()->bump_version(); }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

struct MaxResult {
  Tensor values;
  Tensor indices;
};

struct TensorImpl {
  Storage storage;
  Shape shape;
  Shape strides;
  int64_t offset = 0;  // in elements
  DType dtype = DType::f32;

  // autograd
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;
  std::weak_ptr<Node> grad_accumulator;  // leaves: created on first use, shared by all uses
  std::vector<GradHook> hooks;           // leaves; a non-leaf keeps its hooks on grad_fn
  std::vector<PostAccumulateHook> post_accumulate_hooks;
};

// A fresh tensor impl that views `storage`.
Tensor make_tensor(Storage storage, Shape shape, Shape strides, int64_t offset, DType dtype);
// A view of `base`'s storage with new geometry and no autograd history.
Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset);

// --- creation ----------------------------------------------------------------------------
Tensor empty(const Shape& shape, TensorOptions options = {});
Tensor zeros(const Shape& shape, TensorOptions options = {});
Tensor ones(const Shape& shape, TensorOptions options = {});
Tensor full(const Shape& shape, double value, TensorOptions options = {});
Tensor arange(double start, double end, double step = 1.0, TensorOptions options = {});
Tensor arange(double end, TensorOptions options = {});
Tensor empty_like(const Tensor& t);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);
// Copies `values` into a new tensor of `shape` (default: 1-D, as torch.tensor of a list; use
// reshape({}) or scalar_tensor for 0-dim); dtype from T unless the options name one.
template <class T>
Tensor tensor(const std::vector<T>& values, const Shape& shape = {}, TensorOptions options = {});
Tensor tensor(std::initializer_list<double> values, TensorOptions options = {});
Tensor scalar_tensor(double value, TensorOptions options = {});
// Borrows `data` (not copied, not freed) with contiguous strides. The caller keeps it alive.
Tensor from_blob(void* data, const Shape& shape, DType dtype, Device device = Device::cpu());

class Generator;
// Random tensors from `gen` (the default generator when null): same (seed, offset), same values.
Tensor rand(const Shape& shape, TensorOptions options = {}, Generator* gen = nullptr);
Tensor randn(const Shape& shape, TensorOptions options = {}, Generator* gen = nullptr);
Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions options = DType::i64,
               Generator* gen = nullptr);
Tensor bernoulli(const Shape& shape, double p, TensorOptions options = {}, Generator* gen = nullptr);

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// Describes a tensor for error messages: "f32[2, 3] on cpu".
std::string describe(const Tensor& t);

}  // namespace volt
