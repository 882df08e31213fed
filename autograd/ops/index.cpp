// Indexing ops on the index kernel family (kernels/index.h): gather and index_select read
// through an i64 index, scatter_add and index_add add into one. Each one's backward is another
// of the four (gather ↔ scatter_add, index_select ↔ index_add), so gradients of any order come
// for free. embedding is index_select of rows.
#include "volt/kernels/index.h"

#include <string>

#include "volt/autograd/node.h"
#include "volt/autograd/ops.h"
#include "volt/autograd/ops/op_checks.h"

namespace volt {
namespace {

void check_index(const char* op, const Tensor& index) {
  ops::check_defined(op, index);
  VOLT_CHECK(index.dtype() == DType::i64, op, ": the index must be an i64 tensor, got ", describe(index));
}

// The index's values on the CPU (on a GPU that would synchronise: kernels/index.h says what an
// index out of range gives there).
void check_index_values(const char* op, const Tensor& contiguous_index, int64_t n) {
  if (!contiguous_index.device().is_cpu()) return;
  const int64_t* p = contiguous_index.data_ptr<int64_t>();
  for (int64_t k = 0; k < contiguous_index.numel(); ++k)
    VOLT_CHECK(p[k] >= 0 && p[k] < n, op, ": index ", p[k], " at flat position ", k,
               " is out of range for a dim of size ", n);
}

// [outer, n, inner] around `dim` of `shape`, with m rows on the other side and `full_index`
// telling a per-element index (gather, scatter_add) from one row of m (index_select, index_add).
kernels::IndexLayout layout_of(const Shape& shape, int64_t dim, int64_t m, bool full_index) {
  kernels::IndexLayout l;
  l.outer = ops::prod(shape, 0, dim);
  l.n = shape[static_cast<std::size_t>(dim)];
  l.m = m;
  l.inner = ops::prod(shape, dim + 1, static_cast<int64_t>(shape.size()));
  if (full_index) {
    l.index_outer_stride = m * l.inner;
    l.index_row_stride = l.inner;
    l.index_inner_stride = 1;
  }
  return l;
}

// The same dims as `index`, dim `dim` excepted when keep_dim: a view of x narrowed to them.
Tensor narrowed_to(const Tensor& x, const Tensor& index, int64_t dim, bool keep_dim) {
  Tensor v = x;
  for (int64_t d = 0; d < x.dim(); ++d)
    if ((d != dim || !keep_dim) && index.size(d) < x.size(d)) v = v.narrow(d, 0, index.size(d));
  return v;
}

int64_t checked_dim(const char* op, const Tensor& x, int64_t dim) {
  VOLT_CHECK(x.dim() > 0, op, ": expected a tensor of at least one dim, got ", describe(x));
  return wrap_dim(dim, x.dim(), op);
}

}  // namespace

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  const char* op = "gather";
  ops::check_defined(op, x);
  check_index(op, index);
  ops::check_device(op, {x, index});
  dim = checked_dim(op, x, dim);
  VOLT_CHECK(index.dim() == x.dim(), op, ": the index must have the input's number of dims, got ", describe(index),
             " for ", describe(x));
  for (int64_t d = 0; d < x.dim(); ++d)
    VOLT_CHECK(d == dim || index.size(d) <= x.size(d), op, ": index ", describe(index), " is larger than input ",
               describe(x), " in dim ", d);
  const Tensor xn = narrowed_to(x, index, dim, true);
  const Tensor xc = xn.contiguous(), ic = index.contiguous();
  check_index_values(op, ic, x.size(dim));
  Tensor y = empty(index.shape(), TensorOptions(x.dtype()).device(x.device()));
  kernels::launch(kernels::gather, x.device(), itemsize(x.dtype()), y.data_ptr(), xc.data_ptr(), ic.data_ptr<int64_t>(),
                  layout_of(xc.shape(), dim, index.size(dim), true));
  const SavedTensor si(ic);
  record("GatherBackward", y, {xn},
         [si, shape = xn.shape(), dim](const Tensor& g) {
           const Tensor zero = zeros(shape, TensorOptions(g.dtype()).device(g.device()));
           return std::vector<Tensor>{scatter_add(zero, dim, si.get(), g)};
         },
         {si});
  return y;
}

Tensor scatter_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  const char* op = "scatter_add";
  ops::check_floating(op, self);
  ops::check_defined(op, src);
  check_index(op, index);
  ops::check_device(op, {self, index, src});
  ops::check_same_dtype(op, self, src);
  dim = checked_dim(op, self, dim);
  VOLT_CHECK(index.dim() == self.dim() && src.dim() == self.dim(), op,
             ": self, index and src must have the same number of dims, got ", describe(self), ", ", describe(index),
             " and ", describe(src));
  for (int64_t d = 0; d < self.dim(); ++d) {
    VOLT_CHECK(d == dim || index.size(d) == self.size(d), op, ": index ", describe(index), " must match self ",
               describe(self), " in every dim but ", dim, " (volt does not scatter from a smaller index)");
    VOLT_CHECK(index.size(d) <= src.size(d), op, ": index ", describe(index), " is larger than src ", describe(src),
               " in dim ", d);
  }
  if (is_half(self.dtype())) return scatter_add(self.to(DType::f32), dim, index, src.to(DType::f32)).to(self.dtype());
  const Tensor sn = narrowed_to(src, index, dim, false);
  const Tensor sc = sn.contiguous(), ic = index.contiguous();
  check_index_values(op, ic, self.size(dim));
  Tensor y = self.detach().clone();  // a contiguous copy to add into
  kernels::launch(kernels::scatter_add, self.device(), self.dtype(), y.data_ptr(), sc.data_ptr(),
                  ic.data_ptr<int64_t>(), layout_of(self.shape(), dim, index.size(dim), true));
  const SavedTensor si(ic);
  record("ScatterAddBackward", y, {self, sn},
         [si, dim](const Tensor& g) {
           return std::vector<Tensor>{g, gather(g, dim, si.get())};
         },
         {si});
  return y;
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  const char* op = "index_select";
  ops::check_defined(op, x);
  check_index(op, index);
  ops::check_device(op, {x, index});
  dim = checked_dim(op, x, dim);
  VOLT_CHECK(index.dim() <= 1, op, ": the index must be 1-D (or 0-dim), got ", describe(index));
  const Tensor xc = x.contiguous(), ic = index.reshape({-1}).contiguous();
  check_index_values(op, ic, x.size(dim));
  Shape shape = x.shape();
  shape[static_cast<std::size_t>(dim)] = ic.numel();
  Tensor y = empty(shape, TensorOptions(x.dtype()).device(x.device()));
  kernels::launch(kernels::gather, x.device(), itemsize(x.dtype()), y.data_ptr(), xc.data_ptr(), ic.data_ptr<int64_t>(),
                  layout_of(x.shape(), dim, ic.numel(), false));
  const SavedTensor si(ic);
  record("IndexSelectBackward", y, {x},
         [si, shape = x.shape(), dim](const Tensor& g) {
           const Tensor zero = zeros(shape, TensorOptions(g.dtype()).device(g.device()));
           return std::vector<Tensor>{index_add(zero, dim, si.get(), g)};
         },
         {si});
  return y;
}

Tensor index_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source, double alpha) {
  const char* op = "index_add";
  ops::check_floating(op, self);
  ops::check_defined(op, source);
  check_index(op, index);
  ops::check_device(op, {self, index, source});
  ops::check_same_dtype(op, self, source);
  dim = checked_dim(op, self, dim);
  VOLT_CHECK(index.dim() <= 1, op, ": the index must be 1-D (or 0-dim), got ", describe(index));
  Shape expected = self.shape();
  expected[static_cast<std::size_t>(dim)] = index.numel();
  VOLT_CHECK(source.shape() == expected, op, ": source ", describe(source), " must be ", shape_str(expected),
             " (self's shape with dim ", dim, " the index's length)");
  if (is_half(self.dtype()))
    return index_add(self.to(DType::f32), dim, index, source.to(DType::f32), alpha).to(self.dtype());
  const Tensor scaled = alpha == 1.0 ? source : mul(source, alpha);
  const Tensor sc = scaled.contiguous(), ic = index.reshape({-1}).contiguous();
  check_index_values(op, ic, self.size(dim));
  Tensor y = self.detach().clone();  // a contiguous copy to add into
  kernels::launch(kernels::scatter_add, self.device(), self.dtype(), y.data_ptr(), sc.data_ptr(),
                  ic.data_ptr<int64_t>(), layout_of(self.shape(), dim, ic.numel(), false));
  const SavedTensor si(ic);
  record("IndexAddBackward", y, {self, scaled},
         [si, dim](const Tensor& g) {
           return std::vector<Tensor>{g, index_select(g, dim, si.get())};
         },
         {si});
  return y;
}

Tensor embedding(const Tensor& weight, const Tensor& indices, std::optional<int64_t> padding_idx) {
  const char* op = "embedding";
  ops::check_floating(op, weight);
  check_index(op, indices);
  VOLT_CHECK(weight.dim() == 2, op, ": weight must be [num_embeddings, embedding_dim], got ", describe(weight));
  Shape shape = indices.shape();
  shape.push_back(weight.size(1));
  Tensor rows = index_select(weight, 0, indices.reshape({-1}));
  if (padding_idx) {
    const int64_t pad = *padding_idx < 0 ? *padding_idx + weight.size(0) : *padding_idx;
    VOLT_CHECK(pad >= 0 && pad < weight.size(0), op, ": padding_idx ", *padding_idx, " is out of range for ",
               weight.size(0), " embeddings");
    // The padding rows keep their values but pass no gradient back to the weight.
    rows = where(ne(indices.reshape({-1, 1}), static_cast<double>(pad)), rows, rows.detach());
  }
  return rows.view(shape);
}

Tensor Tensor::gather(int64_t dim, const Tensor& index) const { return volt::gather(*this, dim, index); }
Tensor Tensor::index_select(int64_t dim, const Tensor& index) const { return volt::index_select(*this, dim, index); }
Tensor Tensor::scatter_add(int64_t dim, const Tensor& index, const Tensor& src) const {
  return volt::scatter_add(*this, dim, index, src);
}
Tensor Tensor::index_add(int64_t dim, const Tensor& index, const Tensor& source, double alpha) const {
  return volt::index_add(*this, dim, index, source, alpha);
}

}  // namespace volt
