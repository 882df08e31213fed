#include "volt/autograd/ops/op_checks.h"

#include "volt/autograd/grad_mode.h"
#include "volt/core/device_backend.h"

namespace volt::ops {

void check_defined(const char* op, const Tensor& t) { VOLT_CHECK(t.defined(), op, ": got an undefined tensor"); }

void check_floating(const char* op, const Tensor& t) {
  check_defined(op, t);
  VOLT_CHECK(is_floating(t.dtype()), op, ": expected a floating tensor (f32, f64, f16, bf16), got ", describe(t));
}

void check_device(const char* op, const std::vector<Tensor>& tensors) {
  const Tensor* first = nullptr;
  for (const Tensor& t : tensors) {
    if (!t.defined()) continue;
    if (!first) first = &t;
    VOLT_CHECK(t.device() == first->device(), op, ": tensors are on different devices: ", describe(*first), " and ",
               describe(t));
  }
  if (first) check_device_usable(op, first->device());
}

void check_device(const char* op, Device device) { check_device_usable(op, device); }

void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  VOLT_CHECK(a.dtype() == b.dtype(), op, ": dtypes differ: ", describe(a), " and ", describe(b),
             " (volt does not promote; convert one with .to(dtype))");
}

void check_inplace(const char* op, const Tensor& self) {
  check_defined(op, self);
  VOLT_CHECK(!(is_grad_enabled() && self.requires_grad()), op, ": in-place update of ", describe(self),
             ", which requires grad, while grad mode is on; wrap it in NoGradGuard (as optimizers do) "
             "or use the out-of-place op");
}

kernels::StridedLoop loop_for(const Shape& shape, const Tensor& out) {
  return kernels::make_strided_loop(shape, {{out.shape(), out.strides()}});
}
kernels::StridedLoop loop_for(const Shape& shape, const Tensor& out, const Tensor& a) {
  return kernels::make_strided_loop(shape, {{out.shape(), out.strides()}, {a.shape(), a.strides()}});
}
kernels::StridedLoop loop_for(const Shape& shape, const Tensor& out, const Tensor& a, const Tensor& b) {
  return kernels::make_strided_loop(shape,
                                    {{out.shape(), out.strides()}, {a.shape(), a.strides()}, {b.shape(), b.strides()}});
}
kernels::StridedLoop loop_for(const Shape& shape, const Tensor& out, const Tensor& a, const Tensor& b,
                              const Tensor& c) {
  return kernels::make_strided_loop(
      shape,
      {{out.shape(), out.strides()}, {a.shape(), a.strides()}, {b.shape(), b.strides()}, {c.shape(), c.strides()}});
}

int64_t prod(const Shape& shape, int64_t begin, int64_t end) {
  int64_t p = 1;
  for (int64_t i = begin; i < end; ++i)
    p *= shape[i];
  return p;
}

}  // namespace volt::ops
