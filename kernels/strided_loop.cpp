#include "volt/kernels/strided_loop.h"

#include "volt/core/error.h"

namespace volt::kernels {

StridedLoop make_strided_loop(const Shape& shape, std::initializer_list<LoopOperand> operands) {
  StridedLoop loop;
  loop.nops = static_cast<int>(operands.size());
  VOLT_CHECK(loop.nops <= kMaxOperands, "strided loop: too many operands");
  const auto ndim = static_cast<int64_t>(shape.size());

  // Gather the non-trivial dims with each operand's stride (0 where it broadcasts).
  int64_t sizes[64];
  int64_t strides[kMaxOperands][64];
  VOLT_CHECK(ndim <= 64, "strided loop: ", ndim, " dims is more than volt supports");
  int n = 0;
  for (int64_t d = 0; d < ndim; ++d) {
    if (shape[d] == 1) continue;
    sizes[n] = shape[d];
    int k = 0;
    for (const LoopOperand& op : operands) {
      const int64_t lead = ndim - static_cast<int64_t>(op.shape.size());
      const int64_t od = d - lead;
      strides[k++][n] = (od < 0 || op.shape[od] == 1) ? 0 : op.strides[od];
    }
    ++n;
  }

  // Merge dim i into i-1 when every operand steps over i-1 exactly as a run of i would.
  int m = 0;
  for (int i = 0; i < n; ++i) {
    bool merge = m > 0;
    for (int k = 0; merge && k < loop.nops; ++k)
      merge = strides[k][m - 1] == strides[k][i] * sizes[i];
    if (merge) {
      sizes[m - 1] *= sizes[i];
      for (int k = 0; k < loop.nops; ++k)
        strides[k][m - 1] = strides[k][i];
    } else {
      sizes[m] = sizes[i];
      for (int k = 0; k < loop.nops; ++k)
        strides[k][m] = strides[k][i];
      ++m;
    }
  }
  VOLT_CHECK(m <= kMaxDims, "strided loop: ", m, " non-mergeable dims exceed the limit of ", kMaxDims,
             "; call contiguous() first");
  loop.ndim = m;
  for (int d = 0; d < m; ++d) {
    loop.sizes[d] = sizes[d];
    for (int k = 0; k < loop.nops; ++k)
      loop.strides[k][d] = strides[k][d];
  }
  return loop;
}

}  // namespace volt::kernels
