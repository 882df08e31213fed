// Tensor: a cheap-to-copy handle on a TensorImpl (storage + shape/strides/offset + dtype, and
// the autograd state that autograd/ fills in). Copies share everything; views share the storage.
//
// Member functions mirror PyTorch's C++ API. core/tensor.cpp defines the ones that only read
// or reshape metadata; those that compute or record a graph are defined next to their op in
// autograd/ops/ (views in shape.cpp, x.sum() in reduction.cpp, ...) and the autograd accessors
// in autograd/node.cpp, so a reader finds `x.sum(1)` and its backward in one place. core itself
// calls none of them: it compiles and links without the layers above it.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <ostream>
#include <tuple>
#include <type_traits>
#include <vector>

#include "volt/core/device.h"
#include "volt/core/dtype.h"
#include "volt/core/error.h"
#include "volt/core/shape.h"
#include "volt/core/storage.h"

namespace volt {

class Node;
struct AutogradMeta;  // autograd/node.h
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

// The dims of a reduction, taken as libtorch's IntArrayRef takes them: one dim (x.sum(1),
// x.mean(-1, true)), a braced list (x.sum({0, 2}); {} for every dim), or a vector.
struct DimList {
  DimList() = default;
  DimList(int64_t dim) : dims{dim} {}  // NOLINT(google-explicit-constructor): x.sum(1)
  DimList(std::initializer_list<int64_t> list) : dims(list) {}
  DimList(std::vector<int64_t> list) : dims(std::move(list)) {}  // NOLINT(google-explicit-constructor)
  std::vector<int64_t> dims;
};

// max(dim)'s values and indices, as libtorch returns them: std::get<0>, or
// `auto [values, indices] = x.max(1);`.
using MaxResult = std::tuple<Tensor, Tensor>;

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  TensorImpl* impl() const { return impl_.get(); }  // null when undefined
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }

  // --- metadata -------------------------------------------------------------------------
  const Shape& shape() const;
  const Shape& sizes() const { return shape(); }
  const Shape& strides() const;
  int64_t size(int64_t dim) const;
  int64_t stride(int64_t dim) const;
  int64_t dim() const;
  int64_t numel() const;
  int64_t storage_offset() const;
  DType dtype() const;
  Device device() const;
  bool is_contiguous() const;
  std::size_t nbytes() const;
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
  Tensor log1p() const;
  Tensor expm1() const;
  Tensor square() const;
  Tensor sin() const;
  Tensor cos() const;
  Tensor clamp(std::optional<double> min, std::optional<double> max = std::nullopt) const;
  Tensor clamp_min(double min) const;
  Tensor clamp_max(double max) const;
  Tensor matmul(const Tensor& other) const;
  Tensor gather(int64_t dim, const Tensor& index) const;
  Tensor index_select(int64_t dim, const Tensor& index) const;
  Tensor scatter_add(int64_t dim, const Tensor& index, const Tensor& src) const;
  Tensor index_add(int64_t dim, const Tensor& index, const Tensor& source, double alpha = 1.0) const;

  // --- reductions -----------------------------------------------------------------------
  Tensor sum() const;
  Tensor sum(const DimList& dims, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(const DimList& dims, bool keepdim = false) const;
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
  Tensor eq(double s) const;
  Tensor ne(double s) const;
  Tensor lt(double s) const;
  Tensor le(double s) const;
  Tensor gt(double s) const;
  Tensor ge(double s) const;

  // --- arithmetic as members (the free functions of ops.h) -------------------------------
  Tensor add(const Tensor& other, double alpha = 1.0) const;
  Tensor add(double s) const;
  Tensor sub(const Tensor& other, double alpha = 1.0) const;
  Tensor sub(double s) const;
  Tensor mul(const Tensor& other) const;
  Tensor mul(double s) const;
  Tensor div(const Tensor& other) const;
  Tensor div(double s) const;

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
  // Seeds with ones for a one-element tensor; otherwise `gradient` is required. create_graph
  // gives the gradients a graph of their own (second derivatives); retain_graph defaults to it.
  void backward(const Tensor& gradient = Tensor(), std::optional<bool> retain_graph = std::nullopt,
                bool create_graph = false) const;
  void register_hook(GradHook hook) const;
  void register_post_accumulate_grad_hook(PostAccumulateHook hook) const;
  uint64_t version() const;
  void bump_version() const;

 private:
  // The impl, or a volt::Error naming `what` for an undefined tensor (Tensor() holds none).
  TensorImpl& checked(const char* what) const;

  std::shared_ptr<TensorImpl> impl_;
};

struct TensorImpl {
  Storage storage;
  Shape shape;
  Shape strides;
  int64_t offset = 0;  // in elements
  DType dtype = DType::f32;

  bool requires_grad = false;
  // The gradient, the node that made this tensor and the hooks, created by autograd/ on first
  // use (null for a tensor autograd never touched). core only carries it.
  std::shared_ptr<AutogradMeta> autograd;
};

// A fresh tensor impl that views `storage`.
Tensor make_tensor(Storage storage, Shape shape, Shape strides, int64_t offset, DType dtype);
// A view of `base`'s storage with new geometry and no autograd history.
Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset);

// --- creation (the rest, which need kernels, are in autograd/ops.h) -----------------------
// Uninitialised memory of `shape` on the options' device; requires_grad makes a leaf that does.
Tensor empty(const Shape& shape, TensorOptions options = {});
// Borrows `data` (not copied, not freed) with contiguous strides. The caller keeps it alive.
Tensor from_blob(void* data, const Shape& shape, DType dtype, Device device = Device::cpu());

// Describes a tensor for error messages: "f32[2, 3] on cpu".
std::string describe(const Tensor& t);

}  // namespace volt
