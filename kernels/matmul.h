// The matrix-product family: GEMM (Eigen on the CPU, cuBLAS on CUDA) and the fused linear
// y = x·wᵀ (+ bias) (then relu) (one cuBLASLt call with its epilogue on CUDA; GEMM and an
// epilogue loop on the CPU), with the ReLU-mask backward the fused linear's bias_relu needs.
// The CPU kernels take f32 and f64 (the op layer computes half types through f32 there); the
// CUDA ones also f16/bf16 with fp32 accumulation.
#pragma once

#include <cstddef>
#include <cstdint>

#include "volt/core/dtype.h"
#include "volt/core/stream.h"
#include "volt/kernels/dispatch.h"

namespace volt::kernels {

// A GEMM operand stored row-major with leading dimension ld (row stride), or, when
// `col_major`, column-major with ld the column stride (a transposed view needs no copy).
struct MatrixOperand {
  const void* data;
  int64_t ld;
  bool col_major;
};

// C = alpha·A·B + beta·C: A [m, k], B [k, n], C [m, n] row-major with leading dimension ldc.
// beta == 0 writes C without reading it. allow_tf32: f32 products may use TF32 tensor cores on
// a GPU (volt::set_matmul_precision("high")); the CPU always computes in full precision.
using GemmFn = void(DType dtype, int64_t m, int64_t n, int64_t k, double alpha, MatrixOperand a, MatrixOperand b,
                    double beta, void* c, int64_t ldc, bool allow_tf32, Stream stream);

enum class LinearEpilogue { none, bias, bias_relu };
// y [rows, out] = x [rows, in] · wᵀ (+ bias) (then relu), all contiguous row-major, bias [out]
// of y's dtype. For bias_relu, `relu_mask` (may be null) receives the bit mask of positive
// outputs for the backward: bit (r·ld + o), ld = `out` rounded up to 128, is bit (r·ld + o) % 32
// of 32-bit word (r·ld + o) / 32, set when output [r, o] is positive (cuBLASLt's layout);
// padding bits are 0. relu_mask_bytes(rows, out) bytes.
using LinearFn = void(DType dtype, int64_t rows, int64_t in, int64_t out, const void* x, const void* w,
                      const void* bias, void* y, LinearEpilogue epilogue, void* relu_mask, bool allow_tf32,
                      Stream stream);
// grad_pre [rows, out] = grad_y where relu_mask says the output was positive, 0 elsewhere.
using ReluMaskBackwardFn = void(DType dtype, int64_t rows, int64_t out, const void* grad_y, const void* relu_mask,
                                void* grad_pre, Stream stream);

// Bits per row of the ReLU mask (cuBLASLt's AUX_LD): the output width rounded up to 128.
inline int64_t relu_mask_ld(int64_t out) { return (out + 127) / 128 * 128; }
inline std::size_t relu_mask_bytes(int64_t rows, int64_t out) {
  return static_cast<std::size_t>(rows * relu_mask_ld(out) / 8);
}

namespace cpu {
GemmFn gemm;
LinearFn linear;
ReluMaskBackwardFn relu_mask_backward;
}  // namespace cpu

namespace cuda {
GemmFn gemm;
LinearFn linear;
ReluMaskBackwardFn relu_mask_backward;
}  // namespace cuda

extern Kernel<GemmFn> gemm;
extern Kernel<LinearFn> linear;
extern Kernel<ReluMaskBackwardFn> relu_mask_backward;

}  // namespace volt::kernels
