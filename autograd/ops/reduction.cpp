// sum, mean, max, argmax over dims, and what is built on them (min, amax, amin, logsumexp, var,
// std, norm). Sums run in a fixed order (deterministic); half types sum in f32, small integers
// in i64 (as PyTorch).
#include <algorithm>
#include <cmath>

#include "volt/autograd/autocast.h"
#include "volt/autograd/grad_mode.h"
#include "volt/autograd/node.h"
#include "volt/autograd/ops.h"
#include "volt/autograd/ops/op_checks.h"
#include "volt/kernels/reduce.h"

namespace volt {
namespace {

// Sorted, unique, wrapped dims; {} means all.
std::vector<int64_t> reduced_dims(const char* op, const Tensor& x, const std::vector<int64_t>& dims) {
  std::vector<int64_t> out;
  if (dims.empty()) {
    for (int64_t d = 0; d < x.dim(); ++d)
      out.push_back(d);
    return out;
  }
  for (int64_t d : dims)
    out.push_back(wrap_dim(d, x.dim(), op));
  std::sort(out.begin(), out.end());
  VOLT_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), op, ": a dim appears twice");
  // A 0-dim tensor accepts dim 0 (or -1), as PyTorch: the reduction is over no dim at all.
  if (x.dim() == 0) out.clear();
  return out;
}

Shape keepdim_shape(const Shape& shape, const std::vector<int64_t>& dims) {
  Shape out = shape;
  for (int64_t d : dims)
    out[d] = 1;
  return out;
}

Shape drop_dims(const Shape& shape, const std::vector<int64_t>& dims) {
  Shape out;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d)
    if (!std::binary_search(dims.begin(), dims.end(), d)) out.push_back(shape[d]);
  return out;
}

// [outer, n, inner] around dim d of a contiguous tensor.
struct Split {
  int64_t outer, n, inner;
};
Split split_at(const Shape& shape, int64_t d) {
  return {ops::prod(shape, 0, d), shape[d], ops::prod(shape, d + 1, static_cast<int64_t>(shape.size()))};
}

}  // namespace

Tensor sum(const Tensor& x_in, const DimList& dim_list, bool keepdim) {
  const Tensor x = autocast::to_f32(x_in);
  const std::vector<int64_t>& dims_in = dim_list.dims;
  ops::check_defined("sum", x);
  ops::check_device("sum", {x});
  if (is_half(x.dtype())) return sum(x.to(DType::f32), dims_in, keepdim).to(x.dtype());
  if (x.dtype() == DType::boolean || x.dtype() == DType::u8 || x.dtype() == DType::i32)
    return sum(x.to(DType::i64), dims_in, keepdim);
  const auto dims = reduced_dims("sum", x, dims_in);
  const Shape kept = keepdim_shape(x.shape(), dims);
  Tensor y = zeros(kept, TensorOptions(x.dtype()).device(x.device()));
  kernels::launch(kernels::sum, x.device(), x.dtype(), y.data_ptr(), x.data_ptr(), ops::loop_for(x.shape(), y, x));
  if (!keepdim) y = y.view(drop_dims(x.shape(), dims));
  record("SumBackward", y, {x},
         [kept, in = x.shape()](const Tensor& g) { return std::vector<Tensor>{g.reshape(kept).expand(in)}; });
  return y;
}

Tensor mean(const Tensor& x, const DimList& dim_list, bool keepdim) {
  const std::vector<int64_t>& dims_in = dim_list.dims;
  ops::check_floating("mean", x);
  const auto dims = reduced_dims("mean", x, dims_in);
  int64_t count = 1;
  for (int64_t d : dims)
    count *= x.shape()[d];
  return mul(sum(x, dims, keepdim), 1.0 / static_cast<double>(count));
}

MaxResult max(const Tensor& x, int64_t dim, bool keepdim) {
  ops::check_defined("max", x);
  ops::check_device("max", {x});
  VOLT_CHECK(x.dtype() != DType::boolean, "max: not defined for bool tensors");
  dim = wrap_dim(dim, x.dim(), "max");
  const Shape shape = x.dim() == 0 ? Shape{1} : x.shape();
  VOLT_CHECK(shape[dim] > 0, "max: cannot reduce over an empty dim of ", describe(x));
  if (is_half(x.dtype())) {
    MaxResult r = max(x.to(DType::f32), dim, keepdim);
    return {std::get<0>(r).to(x.dtype()), std::get<1>(r)};
  }
  const Tensor xc = x.contiguous();
  const Split s = split_at(shape, dim);
  Shape kept = shape;
  kept[dim] = 1;
  Tensor values = empty(kept, TensorOptions(x.dtype()).device(x.device()));
  Tensor indices = empty(kept, TensorOptions(DType::i64).device(x.device()));
  kernels::launch(kernels::max_dim, x.device(), x.dtype(), values.data_ptr(), indices.data_ptr<int64_t>(),
                  xc.data_ptr(), s.outer, s.n, s.inner);
  const Shape out_shape = x.dim() == 0 ? Shape{} : (keepdim ? kept : drop_dims(shape, {dim}));
  values = values.view(out_shape);
  indices = indices.view(out_shape);
  const SavedTensor sidx(indices);
  record("MaxBackward", values, {x},
         [sidx, in = x.shape(), kept, dim, s](const Tensor& g) {
           const Tensor indices = sidx.get();
           const TensorOptions on = TensorOptions(g.dtype()).device(g.device());
           if (is_grad_enabled()) {
             // Differentiable (create_graph): g where the index along dim is the winner's.
             Shape along(kept.size(), 1);
             if (!along.empty()) along[static_cast<std::size_t>(dim)] = s.n;
             const Tensor position = arange(static_cast<double>(s.n), TensorOptions(DType::i64).device(g.device()));
             const Tensor won = eq(position.view(along), indices.reshape(kept));
             return std::vector<Tensor>{where(won, g.reshape(kept), zeros({}, on)).reshape(in)};
           }
           Tensor gx = zeros(in, on);
           const Tensor gc = g.contiguous();
           kernels::launch(kernels::max_dim_backward, g.device(), g.dtype(), gx.data_ptr(), gc.data_ptr(),
                           indices.data_ptr<int64_t>(), s.outer, s.n, s.inner);
           return std::vector<Tensor>{gx};
         },
         {sidx});
  return {values, indices};
}

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  NoGradGuard no_grad;
  return std::get<1>(max(x, dim, keepdim));
}

MaxResult min(const Tensor& x, int64_t dim, bool keepdim) {
  auto [values, indices] = max(neg(x), dim, keepdim);
  return {neg(values), indices};
}

Tensor argmin(const Tensor& x, int64_t dim, bool keepdim) {
  NoGradGuard no_grad;
  return std::get<1>(min(x, dim, keepdim));
}

Tensor amax(const Tensor& x, const DimList& dims, bool keepdim) {
  if (x.dim() == 0) return std::get<0>(max(x, 0));
  // One dim at a time, the largest first, so that dropping one leaves the others' positions.
  const std::vector<int64_t> reduced = reduced_dims("amax", x, dims.dims);
  Tensor y = x;
  for (auto d = reduced.rbegin(); d != reduced.rend(); ++d)
    y = std::get<0>(max(y, *d, keepdim));
  return y;
}

Tensor amin(const Tensor& x, const DimList& dims, bool keepdim) { return neg(amax(neg(x), dims, keepdim)); }

Tensor logsumexp(const Tensor& x_in, const DimList& dims, bool keepdim) {
  const Tensor x = autocast::to_f32(x_in);
  ops::check_floating("logsumexp", x);
  // The shift is a constant to autograd (its gradient cancels), and 0 where the max is ±inf.
  Tensor m = amax(x.detach(), dims, true);
  m = masked_fill(m, isinf(m), 0.0);
  const Tensor s = log(sum(exp(sub(x, m)), dims, keepdim));
  return add(s, keepdim ? m : m.view(s.shape()));
}

Tensor var(const Tensor& x, const DimList& dims, int64_t correction, bool keepdim) {
  ops::check_floating("var", x);
  VOLT_CHECK(correction >= 0, "var: correction must be 0 or more, got ", correction);
  int64_t n = 1;
  for (int64_t d : reduced_dims("var", x, dims.dims))
    n *= x.size(d);
  const Tensor d = sub(x, mean(x, dims, true));
  // N - correction <= 0 divides by 0 (inf or NaN), as PyTorch does.
  return div(sum(mul(d, d), dims, keepdim),
             full({}, static_cast<double>(n - correction), TensorOptions(x.dtype()).device(x.device())));
}

Tensor std(const Tensor& x, const DimList& dims, int64_t correction, bool keepdim) {
  return sqrt(var(x, dims, correction, keepdim));
}

Tensor norm(const Tensor& x_in, double p, const DimList& dims, bool keepdim) {
  const Tensor x = autocast::to_f32(x_in);
  ops::check_floating("norm", x);
  VOLT_CHECK(p > 0, "norm: p must be positive (or infinity), got ", p);
  if (std::isinf(p)) return amax(abs(x), dims, keepdim);
  if (p == 1.0) return sum(abs(x), dims, keepdim);
  if (p != 2.0) return pow(sum(pow(abs(x), p), dims, keepdim), 1.0 / p);
  Tensor n;
  {
    NoGradGuard no_grad;
    n = sqrt(sum(mul(x, x), dims, keepdim));
  }
  // x / ‖x‖, and 0 where the norm is 0 (where sqrt's derivative would divide by it).
  const SavedTensor sx(x);
  const SavedTensor sn(n);
  record("NormBackward", n, {x},
         [sx, sn, kept = keepdim_shape(x.shape(), reduced_dims("norm", x, dims.dims))](const Tensor& g) {
           const Tensor x = sx.get(), nk = sn.get().reshape(kept);
           const Tensor zero = zeros({}, TensorOptions(x.dtype()).device(x.device()));
           return std::vector<Tensor>{mul(g.reshape(kept), where(eq(nk, 0.0), zero, div(x, nk)))};
         },
         {sx, sn});
  return n;
}

Tensor Tensor::sum() const { return volt::sum(*this); }
Tensor Tensor::sum(const DimList& dims, bool keepdim) const { return volt::sum(*this, dims, keepdim); }
Tensor Tensor::mean() const { return volt::mean(*this); }
Tensor Tensor::mean(const DimList& dims, bool keepdim) const { return volt::mean(*this, dims, keepdim); }
MaxResult Tensor::max(int64_t dim, bool keepdim) const { return volt::max(*this, dim, keepdim); }
Tensor Tensor::max() const { return std::get<0>(volt::max(reshape({-1}), 0)); }
Tensor Tensor::argmax(int64_t dim, bool keepdim) const { return volt::argmax(*this, dim, keepdim); }

}  // namespace volt
