// The matrix-product family on the CPU: f32 products through volt's AVX-512 GEMM where the CPU
// has it (cpu/avx512.h), everything else through Eigen's (operands read in their stored
// order either way, so a transposed view needs no copy); large products split over the threads;
// the linear's epilogue as one loop over the output.
#include "volt/kernels/matmul.h"

#include <Eigen/Core>
#include <algorithm>
#include <cstdlib>
#include <string>

#include "volt/core/error.h"
#include "volt/core/thread_pool.h"
#include "volt/kernels/cpu/avx512.h"
#include "volt/kernels/cpu/loops.h"

namespace volt::kernels {

Kernel<GemmFn> gemm{"gemm", cpu::gemm};
Kernel<LinearFn> linear{"linear", cpu::linear};
Kernel<ReluMaskBackwardFn> relu_mask_backward{"relu_mask_backward", cpu::relu_mask_backward};

namespace cpu {
namespace {

template <class T, int Order>
using MapOf =
    Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Order>, Eigen::Unaligned, Eigen::OuterStride<>>;

// Calls f with an Eigen map of the operand in its stored order.
template <class T, class F>
void with_map(const MatrixOperand& op, int64_t rows, int64_t cols, F&& f) {
  const auto* p = static_cast<const T*>(op.data);
  if (op.col_major)
    f(MapOf<T, Eigen::ColMajor>(p, rows, cols, Eigen::OuterStride<>(op.ld)));
  else
    f(MapOf<T, Eigen::RowMajor>(p, rows, cols, Eigen::OuterStride<>(op.ld)));
}

// f32 and f64: the half types reach the CPU kernels converted to f32 by the op layer.
template <class F>
void with_gemm_type(DType dtype, const char* op, F&& f) {
  switch (dtype) {
    case DType::f32:
      return f.template operator()<float>();
    case DType::f64:
      return f.template operator()<double>();
    default:
      VOLT_FAIL(op, " kernel: ", dtype, " is computed through f32 by the caller on the CPU");
  }
}

// A product worth splitting over the threads: below this many multiply-adds, waking the other
// threads costs more than it saves.
constexpr int64_t kParallelMacs = int64_t{1} << 19;
// Columns (or rows) of C a chunk gets at least, a multiple of Eigen's register blocks.
constexpr int64_t kSplitUnit = 16;

// Whether f32 products use volt's AVX-512 GEMM (cpu/avx512.h) where the CPU has it:
// VOLT_CPU_GEMM=eigen keeps them on Eigen (to compare the two), auto (the default) does not.
bool use_own_gemm() {
  static const bool own = [] {
    const char* env = std::getenv("VOLT_CPU_GEMM");
    const std::string choice = env ? env : "auto";
    VOLT_CHECK(choice == "auto" || choice == "eigen", "VOLT_CPU_GEMM: expected auto or eigen, got '", choice, "'");
    return choice == "auto" && has_avx512();
  }();
  return own;
}

// C[m, n] = alpha A·B + beta C for one block, on the calling thread.
template <class T>
void gemm_block(int64_t m, int64_t n, int64_t k, T alpha, const MatrixOperand& a, const MatrixOperand& b, T beta, T* c,
                int64_t ldc) {
  if constexpr (std::is_same_v<T, float>) {
    if (k > 0 && use_own_gemm() && gemm_f32_avx512(m, n, k, alpha, a, b, beta, c, ldc)) return;
  }
  using Out = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, Eigen::Unaligned,
                         Eigen::OuterStride<>>;
  Out C(c, m, n, Eigen::OuterStride<>(ldc));
  if (k == 0) {  // an empty sum: Eigen would leave C untouched
    if (beta == T(0))
      C.setZero();
    else
      C *= beta;
    return;
  }
  with_map<T>(a, m, k, [&](const auto& A) {
    with_map<T>(b, k, n, [&](const auto& B) {
      if (beta == T(0)) {
        C.noalias() = alpha * (A * B);
      } else {
        C *= beta;
        C.noalias() += alpha * (A * B);
      }
    });
  });
}

// The operand's block starting at row `row` and column `col`.
template <class T>
MatrixOperand offset(const MatrixOperand& op, int64_t row, int64_t col) {
  const int64_t elements = op.col_major ? col * op.ld + row : row * op.ld + col;
  return MatrixOperand{static_cast<const T*>(op.data) + elements, op.ld, op.col_major};
}

}  // namespace

// Large products are cut into blocks of C's columns (or, when C is taller than wide, rows), one
// per thread (core/thread_pool.h); each block is an independent product, so the result never
// depends on timing (and with volt's own GEMM not on the thread count either).
void gemm(DType dtype, int64_t m, int64_t n, int64_t k, double alpha, MatrixOperand a, MatrixOperand b, double beta,
          void* c, int64_t ldc, bool /*allow_tf32: the CPU has no reduced-precision mode*/, Stream) {
  if (m == 0 || n == 0) return;
  auto run = [&]<class T>() {
    T* out = static_cast<T*>(c);
    const T al = static_cast<T>(alpha), be = static_cast<T>(beta);
    if (m * n * std::max<int64_t>(k, 1) < kParallelMacs) return gemm_block<T>(m, n, k, al, a, b, be, out, ldc);
    if (n >= m) {
      parallel_for(0, (n + kSplitUnit - 1) / kSplitUnit, 1, [&](int64_t u0, int64_t u1) {
        const int64_t j0 = u0 * kSplitUnit, j1 = std::min(n, u1 * kSplitUnit);
        gemm_block<T>(m, j1 - j0, k, al, a, offset<T>(b, 0, j0), be, out + j0, ldc);
      });
    } else {
      parallel_for(0, (m + kSplitUnit - 1) / kSplitUnit, 1, [&](int64_t u0, int64_t u1) {
        const int64_t i0 = u0 * kSplitUnit, i1 = std::min(m, u1 * kSplitUnit);
        gemm_block<T>(i1 - i0, n, k, al, offset<T>(a, i0, 0), b, be, out + i0 * ldc, ldc);
      });
    }
  };
  with_gemm_type(dtype, "gemm", run);
}

void linear(DType dtype, int64_t rows, int64_t in, int64_t out, const void* x, const void* w, const void* bias, void* y,
            LinearEpilogue epilogue, void* relu_mask, bool allow_tf32, Stream stream) {
  VOLT_CHECK(epilogue == LinearEpilogue::none || bias, "linear kernel: the epilogue needs a bias");
  // w [out, in] row-major is wᵀ [in, out] column-major with ld = in.
  gemm(dtype, rows, out, in, 1.0, MatrixOperand{x, in, false}, MatrixOperand{w, in, true}, 0.0, y, out, allow_tf32,
       stream);
  if (epilogue == LinearEpilogue::none || rows == 0 || out == 0) return;
  const bool relu = epilogue == LinearEpilogue::bias_relu;
  const int64_t ld = relu_mask_ld(out);
  auto* words = static_cast<uint32_t*>(relu_mask);
  with_gemm_type(dtype, "linear", [&]<class T>() {
    T* yp = static_cast<T*>(y);
    const T* bp = static_cast<const T*>(bias);
    for (int64_t r = 0; r < rows; ++r) {
      T* row = yp + r * out;
      for (int64_t o = 0; o < out; ++o) {
        T v = row[o] + bp[o];
        if (relu) v = v < T(0) ? T(0) : v;  // as relu: NaN stays NaN
        row[o] = v;
      }
      if (!words) continue;
      // The row's mask words, padding bits 0. ld is a multiple of 128, so rows start on words.
      uint32_t* mask_row = words + r * ld / 32;
      for (int64_t word = 0; word < ld / 32; ++word) {
        uint32_t bits = 0;
        for (int64_t b = 0; b < 32 && word * 32 + b < out; ++b)
          bits |= static_cast<uint32_t>(row[word * 32 + b] > T(0)) << b;
        mask_row[word] = bits;
      }
    }
  });
}

void relu_mask_backward(DType dtype, int64_t rows, int64_t out, const void* grad_y, const void* relu_mask,
                        void* grad_pre, Stream) {
  const int64_t ld = relu_mask_ld(out);
  const auto* words = static_cast<const uint32_t*>(relu_mask);
  with_gemm_type(dtype, "relu_mask_backward", [&]<class T>() {
    const T* g = static_cast<const T*>(grad_y);
    T* gp = static_cast<T*>(grad_pre);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < out; ++o) {
        const int64_t bit = r * ld + o;
        gp[r * out + o] = (words[bit / 32] >> (bit % 32)) & 1u ? g[r * out + o] : T(0);
      }
  });
}

}  // namespace cpu
}  // namespace volt::kernels
