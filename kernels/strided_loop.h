// StridedLoop: the geometry of an elementwise or reducing pass over up to four operands that
// share one iteration shape. Operand 0 is the output. Strides are in elements; a broadcast
// (or reduced-into) dim has stride 0. Plain arrays so that a CUDA kernel can take it by value.
#pragma once

#include <cstdint>
#include <initializer_list>

#include "volt/core/shape.h"

namespace volt::kernels {

inline constexpr int kMaxDims = 12;
inline constexpr int kMaxOperands = 4;

struct StridedLoop {
  int ndim = 0;
  int nops = 0;
  int64_t sizes[kMaxDims] = {};
  int64_t strides[kMaxOperands][kMaxDims] = {};

  int64_t numel() const {
    int64_t n = 1;
    for (int d = 0; d < ndim; ++d)
      n *= sizes[d];
    return n;
  }
};

struct LoopOperand {
  const Shape& shape;  // broadcastable to the loop shape (missing leading dims are size 1)
  const Shape& strides;
};

// Builds the loop over `shape`, dropping size-1 dims and merging dims that are contiguous in
// every operand, so a contiguous pass becomes one flat run.
StridedLoop make_strided_loop(const Shape& shape, std::initializer_list<LoopOperand> operands);

}  // namespace volt::kernels
