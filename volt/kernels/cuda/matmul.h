// CUDA twin of kernels/cpu/matmul.h through cuBLAS (f32, f64; f16/bf16 inputs with fp32
// accumulation), plus cuBLASLt's fused linear. Handles are per device; workspaces come from
// the caching allocator. Every call runs on the current device and must be given its current
// stream (the allocator orders workspaces on it).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>

#include "volt/core/dtype.h"
#include "volt/kernels/op_kinds.h"

namespace volt::kernels::cuda {

// allow_tf32: f32 products may use TF32 tensor cores (volt::set_matmul_precision("high")).
void gemm(DType dtype, int64_t m, int64_t n, int64_t k, double alpha, MatrixOperand a, MatrixOperand b, double beta,
          void* c, int64_t ldc, bool allow_tf32, cudaStream_t stream);

enum class LinearEpilogue { none, bias, bias_relu };
// y [rows, out] = x [rows, in] · wᵀ (+ bias) (then relu), all contiguous row-major, bias [out]
// of y's dtype. For bias_relu, `relu_mask` receives cuBLASLt's bit mask of positive outputs
// (relu_mask_bytes(rows, out) bytes) for the backward; null skips it (inference).
// f32/f16/bf16 run one cuBLASLt matmul with a fused epilogue (algorithm chosen by cuBLASLt's
// heuristic once per shape, dtype, epilogue and pointer alignment). f64, in == 0, or a problem
// cuBLASLt offers no algorithm for runs gemm and then an epilogue kernel writing the same mask.
// Mask layout: bit (r·ld + o), ld = `out` rounded up to 128, is bit (r·ld + o) % 32 of 32-bit
// word (r·ld + o) / 32; set when output [r, o] is positive.
void linear(DType dtype, int64_t rows, int64_t in, int64_t out, const void* x, const void* w, const void* bias, void* y,
            LinearEpilogue epilogue, void* relu_mask, bool allow_tf32, cudaStream_t stream);
std::size_t relu_mask_bytes(int64_t rows, int64_t out);
// grad_pre [rows, out] = grad_y where relu_mask says the output was positive, 0 elsewhere.
void relu_mask_backward(DType dtype, int64_t rows, int64_t out, const void* grad_y, const void* relu_mask,
                        void* grad_pre, cudaStream_t stream);

}  // namespace volt::kernels::cuda
