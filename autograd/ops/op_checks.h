// Input checks shared by the ops, and the glue from tensors to kernel loop descriptions.
// Every message names the op and describes the tensors involved. After these checks an op
// allocates its output and runs its kernel with kernels::launch (kernels/dispatch.h).
#pragma once

#include <vector>

#include "volt/core/tensor.h"
#include "volt/kernels/strided_loop.h"

namespace volt::ops {

void check_defined(const char* op, const Tensor& t);
void check_floating(const char* op, const Tensor& t);
// Same device for all (an error names both devices), and a device this program can compute on
// (the CPU, or a usable CUDA device with the CUDA backend linked in).
void check_device(const char* op, const std::vector<Tensor>& tensors);
void check_device(const char* op, Device device);
void check_same_dtype(const char* op, const Tensor& a, const Tensor& b);
// In-place ops refuse tensors that autograd would have to track.
void check_inplace(const char* op, const Tensor& self);

// Loop over `shape` with `out` first and the inputs after it.
kernels::StridedLoop loop_for(const Shape& shape, const Tensor& out);
kernels::StridedLoop loop_for(const Shape& shape, const Tensor& out, const Tensor& a);
kernels::StridedLoop loop_for(const Shape& shape, const Tensor& out, const Tensor& a, const Tensor& b);
kernels::StridedLoop loop_for(const Shape& shape, const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& c);

// Product of shape[begin, end).
int64_t prod(const Shape& shape, int64_t begin, int64_t end);

}  // namespace volt::ops
