// In-place updates for optimizers and initialisers. They bump the storage's version counter,
// so a backward that saved the old values fails loudly instead of computing a wrong gradient.
#include "volt/autograd/ops.h"
#include "volt/autograd/ops/op_checks.h"
#include "volt/core/generator.h"
#include "volt/kernels/elementwise.h"
#include "volt/kernels/random.h"

namespace volt {
namespace {

using kernels::Binary;
using kernels::Ternary;
using kernels::Unary;

// [first, last] element offsets a view can touch in its storage.
std::pair<int64_t, int64_t> element_range(const Tensor& t) {
  int64_t last = t.storage_offset();
  for (int64_t d = 0; d < t.dim(); ++d)
    last += (t.size(d) - 1) * t.stride(d);
  return {t.storage_offset(), last};
}

// An in-place update reads and writes each element of self once, in no promised order (a GPU
// runs them at once). So self must not hold one location twice (an expanded view), and an
// input must be self exactly or stay clear of the memory self writes, as PyTorch requires.
void check_no_internal_overlap(const char* op, const Tensor& self) {
  for (int64_t d = 0; d < self.dim(); ++d)
    VOLT_CHECK(self.stride(d) != 0 || self.size(d) <= 1, op, ": ", describe(self),
               " has more than one element at one memory location (an expanded view); write into a "
               "contiguous() copy instead");
}

void check_no_partial_overlap(const char* op, const Tensor& self, const Tensor& other) {
  if (self.storage() != other.storage() || self.numel() == 0 || other.numel() == 0) return;
  const bool same_view = self.storage_offset() == other.storage_offset() && self.shape() == other.shape() &&
                         self.strides() == other.strides();
  if (same_view) return;
  const auto [a0, a1] = element_range(self);
  const auto [b0, b1] = element_range(other);
  VOLT_CHECK(a1 < b0 || b1 < a0, op, ": the input ", describe(other), " overlaps the memory of ", describe(self),
             ", which is being written; pass a clone() of it");
}

// Checks that `other` broadcasts to self's shape without growing it, and does not overlap it.
void check_broadcast_into(const char* op, const Tensor& self, const Tensor& other) {
  ops::check_defined(op, other);
  ops::check_device(op, {self, other});
  VOLT_CHECK(broadcast_shapes(self.shape(), other.shape(), op) == self.shape(), op, ": ", describe(other),
             " does not broadcast to the shape of ", describe(self));
  check_no_partial_overlap(op, self, other);
}

Tensor& binary_inplace(const char* op, Binary kind, Tensor& self, const Tensor& other, double alpha) {
  ops::check_inplace(op, self);
  check_no_internal_overlap(op, self);
  check_broadcast_into(op, self, other);
  ops::check_same_dtype(op, self, other);
  kernels::launch(kernels::binary, self.device(), kind, self.dtype(), self.data_ptr(), self.data_ptr(),
                  other.data_ptr(), ops::loop_for(self.shape(), self, self, other), alpha);
  self.bump_version();
  return self;
}

Tensor& unary_inplace(const char* op, Unary kind, Tensor& self, double scalar) {
  ops::check_inplace(op, self);
  check_no_internal_overlap(op, self);
  ops::check_floating(op, self);
  ops::check_device(op, {self});
  kernels::launch(kernels::unary, self.device(), kind, self.dtype(), self.data_ptr(), self.data_ptr(),
                  ops::loop_for(self.shape(), self, self), scalar, 0.0);
  self.bump_version();
  return self;
}

Tensor& ternary_inplace(const char* op, Ternary kind, Tensor& self, const Tensor& t1, const Tensor& t2, double value) {
  ops::check_inplace(op, self);
  check_no_internal_overlap(op, self);
  ops::check_floating(op, self);
  check_broadcast_into(op, self, t1);
  check_broadcast_into(op, self, t2);
  ops::check_same_dtype(op, self, t1);
  ops::check_same_dtype(op, self, t2);
  kernels::launch(kernels::ternary, self.device(), kind, self.dtype(), self.data_ptr(), self.data_ptr(), t1.data_ptr(),
                  t2.data_ptr(), ops::loop_for(self.shape(), self, self, t1, t2), value);
  self.bump_version();
  return self;
}

// Draws into self: straight into contiguous memory, through a temporary otherwise.
template <class Draw>
Tensor& random_inplace(const char* op, Tensor& self, Draw draw) {
  ops::check_inplace(op, self);
  ops::check_device(op, {self});
  if (self.is_contiguous()) {
    draw(self);
    self.bump_version();
  } else {
    Tensor tmp = empty(self.shape(), TensorOptions(self.dtype()).device(self.device()));
    draw(tmp);
    self.copy_(tmp);
  }
  return self;
}

}  // namespace

Tensor& Tensor::add_(const Tensor& other, double alpha) {
  return binary_inplace("add_", Binary::add, *this, other, alpha);
}
Tensor& Tensor::sub_(const Tensor& other, double alpha) {
  return binary_inplace("sub_", Binary::sub, *this, other, alpha);
}
Tensor& Tensor::mul_(const Tensor& other) { return binary_inplace("mul_", Binary::mul, *this, other, 1.0); }
Tensor& Tensor::div_(const Tensor& other) { return binary_inplace("div_", Binary::div, *this, other, 1.0); }
Tensor& Tensor::add_(double value) { return unary_inplace("add_", Unary::add_scalar, *this, value); }
Tensor& Tensor::mul_(double value) { return unary_inplace("mul_", Unary::scale, *this, value); }
Tensor& Tensor::div_(double value) { return unary_inplace("div_", Unary::scale, *this, 1.0 / value); }

Tensor& Tensor::addcmul_(const Tensor& t1, const Tensor& t2, double value) {
  return ternary_inplace("addcmul_", Ternary::addcmul, *this, t1, t2, value);
}
Tensor& Tensor::addcdiv_(const Tensor& t1, const Tensor& t2, double value) {
  return ternary_inplace("addcdiv_", Ternary::addcdiv, *this, t1, t2, value);
}

Tensor& Tensor::copy_(const Tensor& src) {
  ops::check_inplace("copy_", *this);
  check_no_internal_overlap("copy_", *this);
  check_broadcast_into("copy_", *this, src);
  kernels::launch(kernels::cast, device(), dtype(), data_ptr(), src.dtype(), src.data_ptr(),
                  ops::loop_for(shape(), *this, src));
  bump_version();
  return *this;
}

Tensor& Tensor::fill_(double value) {
  ops::check_inplace("fill_", *this);
  ops::check_device("fill_", {*this});
  kernels::launch(kernels::fill, device(), dtype(), data_ptr(), ops::loop_for(shape(), *this), value);
  bump_version();
  return *this;
}

Tensor& Tensor::zero_() { return fill_(0.0); }

Tensor& Tensor::uniform_(double from, double to) {
  VOLT_CHECK(from <= to, "uniform_: from (", from, ") must not exceed to (", to, ")");
  ops::check_floating("uniform_", *this);
  return random_inplace("uniform_", *this, [&](Tensor& t) {
    Generator& gen = default_generator();
    const PhiloxArgs philox = gen.philox_args(t.device(), kernels::random_blocks(t.dtype(), t.numel()));
    kernels::launch(kernels::random_fill, t.device(), kernels::Distribution::uniform, t.dtype(), t.data_ptr(),
                    t.numel(), from, to, philox);
  });
}

Tensor& Tensor::normal_(double mean, double std) {
  VOLT_CHECK(std >= 0, "normal_: std must be non-negative, got ", std);
  ops::check_floating("normal_", *this);
  return random_inplace("normal_", *this, [&](Tensor& t) {
    Generator& gen = default_generator();
    const int64_t n = t.numel() + (t.numel() & 1);  // Box-Muller uses values in pairs
    const PhiloxArgs philox = gen.philox_args(t.device(), kernels::random_blocks(t.dtype(), n));
    kernels::launch(kernels::random_fill, t.device(), kernels::Distribution::normal, t.dtype(), t.data_ptr(), t.numel(),
                    mean, std, philox);
  });
}

}  // namespace volt
