// Views (share storage), copies, cat and stack. A view's backward maps the gradient back to
// the input's geometry.
#include <algorithm>
#include <numeric>
#include <optional>

#include "volt/autograd/grad_mode.h"
#include "volt/autograd/node.h"
#include "volt/autograd/ops.h"
#include "volt/autograd/ops/op_checks.h"
#include "volt/core/device_backend.h"
#include "volt/kernels/elementwise.h"

namespace volt {
namespace {

// Resolves one -1 in `shape` against `n` elements.
Shape infer_shape(const char* op, Shape shape, int64_t n) {
  int64_t known = 1, infer = -1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      VOLT_CHECK(infer < 0, op, ": only one dim can be -1 in ", shape_str(shape));
      infer = static_cast<int64_t>(i);
    } else {
      VOLT_CHECK(shape[i] >= 0, op, ": invalid size ", shape[i], " in ", shape_str(shape));
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    VOLT_CHECK(known != 0 && n % known == 0, op, ": shape ", shape_str(shape), " is invalid for ", n, " elements");
    shape[infer] = n / known;
  }
  VOLT_CHECK(numel(shape) == n, op, ": shape ", shape_str(shape), " is invalid for ", n, " elements");
  return shape;
}

// Strides that let `shape` view memory laid out as (old_shape, old_strides), or nullopt when no
// such strides exist. Walks runs of dims that are contiguous with each other in the old layout;
// each run must be split exactly by the new dims.
std::optional<Shape> view_strides(const Shape& old_shape, const Shape& old_strides, const Shape& shape) {
  Shape strides(shape.size());
  if (numel(old_shape) == 0 || old_shape.empty()) return contiguous_strides(shape);
  int64_t view_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_stride = old_strides.back(), tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(old_shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_shape[d];
    const bool run_ends = d == 0 || (old_shape[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_stride);
    if (!run_ends) continue;
    while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
      strides[view_d] = view_numel * chunk_stride;
      view_numel *= shape[view_d];
      --view_d;
    }
    if (view_numel != tensor_numel) return std::nullopt;
    if (d > 0) {
      chunk_stride = old_strides[d - 1];
      tensor_numel = 1;
      view_numel = 1;
    }
  }
  if (view_d != -1) return std::nullopt;
  return strides;
}

Tensor copy_into_new(const Tensor& x, DType dtype) {
  Tensor y = empty(x.shape(), TensorOptions(dtype).device(x.device()));
  ops::check_device("copy", {x});
  kernels::launch(kernels::cast, x.device(), dtype, y.data_ptr(), x.dtype(), x.data_ptr(),
                  ops::loop_for(x.shape(), y, x));
  return y;
}

}  // namespace

Tensor Tensor::view(const Shape& shape_in) const {
  ops::check_defined("view", *this);
  const Shape shape = infer_shape("view", shape_in, numel());
  auto strides = view_strides(this->shape(), this->strides(), shape);
  VOLT_CHECK(strides.has_value(), "view: ", describe(*this), " with strides ", shape_str(this->strides()),
             " cannot be viewed as ", shape_str(shape), "; use reshape(), which copies when it must");
  Tensor y = make_view(*this, shape, *strides, storage_offset());
  record("ViewBackward", y, {*this},
         [in = this->shape()](const Tensor& g) { return std::vector<Tensor>{g.reshape(in)}; });
  return y;
}

Tensor Tensor::reshape(const Shape& shape_in) const {
  ops::check_defined("reshape", *this);
  const Shape shape = infer_shape("reshape", shape_in, numel());
  if (view_strides(this->shape(), this->strides(), shape)) return view(shape);
  return clone().view(shape);
}

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  ops::check_defined("permute", *this);
  VOLT_CHECK(static_cast<int64_t>(dims.size()) == dim(), "permute: ", dims.size(), " dims given for ", describe(*this));
  Shape shape(dims.size()), strides(dims.size());
  std::vector<int64_t> inverse(dims.size(), -1);
  for (std::size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = wrap_dim(dims[i], dim(), "permute");
    VOLT_CHECK(inverse[d] < 0, "permute: dim ", d, " repeated in the permutation");
    inverse[d] = static_cast<int64_t>(i);
    shape[i] = this->shape()[d];
    strides[i] = this->strides()[d];
  }
  Tensor y = make_view(*this, shape, strides, storage_offset());
  record("PermuteBackward", y, {*this}, [inverse](const Tensor& g) { return std::vector<Tensor>{g.permute(inverse)}; });
  return y;
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  ops::check_defined("transpose", *this);
  std::vector<int64_t> order(static_cast<std::size_t>(dim()));
  std::iota(order.begin(), order.end(), 0);
  if (dim() > 0) std::swap(order[wrap_dim(d0, dim(), "transpose")], order[wrap_dim(d1, dim(), "transpose")]);
  return permute(order);
}

Tensor Tensor::t() const {
  VOLT_CHECK(defined() && dim() <= 2, "t: expects a tensor with at most 2 dims, got ", describe(*this));
  return dim() < 2 ? *this : transpose(0, 1);
}

namespace {

// Zeros of shape `in` with g in the slice: the slice's backward, recorded so that it is
// differentiable itself (create_graph), its gradient being the same slice of the incoming one.
Tensor slice_backward(const Tensor& g, const Shape& in, int64_t d, int64_t start, int64_t end, int64_t step) {
  Tensor gx = zeros(in, TensorOptions(g.dtype()).device(g.device()));
  {
    NoGradGuard no_grad;
    gx.slice(d, start, end, step).copy_(g);
  }
  record("SliceBackwardBackward", gx, {g},
         [d, start, end, step](const Tensor& gg) { return std::vector<Tensor>{gg.slice(d, start, end, step)}; });
  return gx;
}

}  // namespace

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  ops::check_defined("slice", *this);
  d = wrap_dim(d, dim(), "slice");
  VOLT_CHECK(dim() > 0, "slice: cannot slice a 0-dim tensor");
  VOLT_CHECK(step > 0, "slice: step must be positive, got ", step);
  const int64_t n = this->shape()[d];
  auto clamp = [n](int64_t i) { return std::clamp(i < 0 ? i + n : i, int64_t{0}, n); };
  start = clamp(start);
  end = std::max(clamp(end), start);
  Shape shape = this->shape(), strides = this->strides();
  shape[d] = (end - start + step - 1) / step;
  strides[d] *= step;
  Tensor y = make_view(*this, shape, strides, storage_offset() + start * this->strides()[d]);
  record("SliceBackward", y, {*this}, [in = this->shape(), d, start, end, step](const Tensor& g) {
    return std::vector<Tensor>{slice_backward(g, in, d, start, end, step)};
  });
  return y;
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  ops::check_defined("narrow", *this);
  d = wrap_dim(d, dim(), "narrow");
  const int64_t n = this->shape()[d];
  if (start < 0) start += n;
  VOLT_CHECK(start >= 0 && length >= 0 && start + length <= n, "narrow: [", start, ", ", start + length,
             ") is out of range for dim ", d, " of ", describe(*this));
  return slice(d, start, start + length);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  ops::check_defined("select", *this);
  d = wrap_dim(d, dim(), "select");
  const int64_t n = this->shape()[d];
  VOLT_CHECK(index >= -n && index < n, "select: index ", index, " is out of range for dim ", d, " of ",
             describe(*this));
  return narrow(d, index < 0 ? index + n : index, 1).squeeze(d);
}

Tensor Tensor::expand(const Shape& shape_in) const {
  ops::check_defined("expand", *this);
  const auto n = static_cast<int64_t>(shape_in.size());
  VOLT_CHECK(n >= dim(), "expand: ", shape_str(shape_in), " has fewer dims than ", describe(*this));
  Shape shape(n), strides(n);
  for (int64_t i = n - 1; i >= 0; --i) {
    const int64_t src = i - (n - dim());
    const int64_t have = src >= 0 ? this->shape()[src] : 1;
    const int64_t want = shape_in[i] == -1 ? have : shape_in[i];
    VOLT_CHECK(src >= 0 || shape_in[i] != -1, "expand: -1 is not allowed for a new leading dim");
    VOLT_CHECK(have == want || have == 1, "expand: ", describe(*this), " cannot be expanded to ", shape_str(shape_in));
    shape[i] = want;
    strides[i] = (src >= 0 && have == want) ? this->strides()[src] : 0;
  }
  Tensor y = make_view(*this, shape, strides, storage_offset());
  record("ExpandBackward", y, {*this},
         [in = this->shape()](const Tensor& g) { return std::vector<Tensor>{sum_to(g, in)}; });
  return y;
}

Tensor Tensor::squeeze() const {
  Shape shape;
  for (int64_t s : this->shape())
    if (s != 1) shape.push_back(s);
  return view(shape);
}

Tensor Tensor::squeeze(int64_t d) const {
  d = wrap_dim(d, dim(), "squeeze");
  if (dim() == 0 || this->shape()[d] != 1) return *this;
  Shape shape = this->shape();
  shape.erase(shape.begin() + d);
  return view(shape);
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape shape = this->shape();
  shape.insert(shape.begin() + d, 1);
  return view(shape);
}

Tensor Tensor::flatten(int64_t start, int64_t end) const {
  if (dim() == 0) return reshape({1});
  start = wrap_dim(start, dim(), "flatten");
  end = wrap_dim(end, dim(), "flatten");
  VOLT_CHECK(start <= end, "flatten: start_dim ", start, " comes after end_dim ", end);
  Shape shape(this->shape().begin(), this->shape().begin() + start);
  shape.push_back(ops::prod(this->shape(), start, end + 1));
  shape.insert(shape.end(), this->shape().begin() + end + 1, this->shape().end());
  return reshape(shape);
}

Tensor Tensor::contiguous() const {
  ops::check_defined("contiguous", *this);
  return is_contiguous() ? *this : clone();
}

Tensor Tensor::clone() const {
  ops::check_defined("clone", *this);
  Tensor y = copy_into_new(*this, dtype());
  record("CloneBackward", y, {*this}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
  return y;
}

Tensor Tensor::to(DType target) const {
  ops::check_defined("to", *this);
  if (dtype() == target) return *this;
  Tensor y = copy_into_new(*this, target);
  if (is_floating(target)) {
    record("ToBackward", y, {*this}, [from = dtype()](const Tensor& g) { return std::vector<Tensor>{g.to(from)}; });
  }
  return y;
}

Tensor Tensor::to(Device target) const {
  ops::check_defined("to", *this);
  if (device() == target) return *this;
  const std::string why = device_unusable_reason(target);
  VOLT_CHECK(why.empty(), "to: cannot move ", describe(*this), " to ", target, ": ", why);
  const Tensor src = contiguous();
  Tensor y = empty(shape(), TensorOptions(dtype()).device(target));
  copy_bytes(y.data_ptr(), target, src.data_ptr(), src.device(), src.nbytes());
  if (is_floating(dtype())) {
    record("ToDeviceBackward", y, {*this},
           [from = device()](const Tensor& g) { return std::vector<Tensor>{g.to(from)}; });
  }
  return y;
}

Tensor sum_to(const Tensor& grad, const Shape& shape) {
  if (grad.shape() == shape) return grad;
  const int64_t lead = grad.dim() - static_cast<int64_t>(shape.size());
  VOLT_CHECK(lead >= 0, "sum_to: ", describe(grad), " cannot be summed to ", shape_str(shape));
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < grad.dim(); ++d)
    if (d < lead || (shape[d - lead] == 1 && grad.shape()[d] != 1)) dims.push_back(d);
  return sum(grad, dims, true).reshape(shape);
}

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  VOLT_CHECK(!tensors.empty(), "cat: expected a non-empty list of tensors");
  const Tensor& first = tensors[0];
  ops::check_defined("cat", first);
  VOLT_CHECK(first.dim() > 0, "cat: zero-dim tensors cannot be concatenated; use stack");
  dim = wrap_dim(dim, first.dim(), "cat");
  ops::check_device("cat", tensors);
  Shape shape = first.shape();
  shape[dim] = 0;
  std::vector<int64_t> sizes;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    ops::check_defined("cat", t);
    ops::check_same_dtype("cat", first, t);
    bool same = t.dim() == first.dim();
    for (int64_t d = 0; same && d < t.dim(); ++d)
      same = d == dim || t.shape()[d] == first.shape()[d];
    VOLT_CHECK(same, "cat: tensor ", i, " (", describe(t), ") does not match tensor 0 (", describe(first),
               ") outside dim ", dim);
    sizes.push_back(t.shape()[dim]);
    shape[dim] += t.shape()[dim];
  }
  Tensor y = empty(shape, TensorOptions(first.dtype()).device(first.device()));
  int64_t offset = 0;
  for (const Tensor& t : tensors) {
    Tensor dst = y.detach().narrow(dim, offset, t.shape()[dim]);
    kernels::launch(kernels::cast, t.device(), t.dtype(), dst.data_ptr(), t.dtype(), t.data_ptr(),
                    ops::loop_for(t.shape(), dst, t));
    offset += t.shape()[dim];
  }
  record("CatBackward", y, tensors, [sizes, dim](const Tensor& g) {
    std::vector<Tensor> grads;
    int64_t at = 0;
    for (int64_t s : sizes) {
      grads.push_back(g.narrow(dim, at, s));
      at += s;
    }
    return grads;
  });
  return y;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  VOLT_CHECK(!tensors.empty(), "stack: expected a non-empty list of tensors");
  ops::check_defined("stack", tensors[0]);
  dim = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> parts;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    ops::check_defined("stack", tensors[i]);
    VOLT_CHECK(tensors[i].shape() == tensors[0].shape(), "stack: tensor ", i, " (", describe(tensors[i]),
               ") and tensor 0 (", describe(tensors[0]), ") must have the same shape");
    parts.push_back(tensors[i].unsqueeze(dim));
  }
  return cat(parts, dim);
}

}  // namespace volt
