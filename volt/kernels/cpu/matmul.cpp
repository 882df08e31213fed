#include "volt/kernels/cpu/matmul.h"

#include <Eigen/Core>

#include "volt/core/dispatch.h"

namespace volt::kernels::cpu {
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

}  // namespace

void gemm(DType dtype, int64_t m, int64_t n, int64_t k, double alpha, MatrixOperand a, MatrixOperand b, double beta,
          void* c, int64_t ldc) {
  auto run = [&]<class T>() {
    using Out = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, Eigen::Unaligned,
                           Eigen::OuterStride<>>;
    Out C(static_cast<T*>(c), m, n, Eigen::OuterStride<>(ldc));
    if (k == 0) {  // an empty sum: Eigen would leave C untouched
      if (beta == 0)
        C.setZero();
      else
        C *= static_cast<T>(beta);
      return;
    }
    with_map<T>(a, m, k, [&](const auto& A) {
      with_map<T>(b, k, n, [&](const auto& B) {
        if (beta == 0) {
          C.noalias() = static_cast<T>(alpha) * (A * B);
        } else {
          C *= static_cast<T>(beta);
          C.noalias() += static_cast<T>(alpha) * (A * B);
        }
      });
    });
  };
  switch (dtype) {
    case DType::f32:
      return run.template operator()<float>();
    case DType::f64:
      return run.template operator()<double>();
    default:
      VOLT_FAIL("gemm kernel: ", dtype, " is computed through f32 by the caller");
  }
}

}  // namespace volt::kernels::cpu
