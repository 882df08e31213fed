// The indexing family: gather (gather, index_select, Embedding's lookup) and scatter_add
// (scatter_add, index_add, and the backward of the first two). Both see their tensors as
// contiguous [outer, n, inner] (the indexed tensor) and [outer, m, inner] (the other one), the
// indexed dim in the middle, and read the index at (o, j, i) through IndexLayout's strides: a
// full [outer, m, inner] index (gather, scatter_add) or one row of m repeated (index_select,
// index_add, strides 0, 1, 0).
//
// scatter_add is deterministic on both devices, with no float atomics (DESIGN.md §7): each
// column (o, i) of the output is owned by one thread, which adds its m sources in order.
#pragma once

#include <cstddef>
#include <cstdint>

#include "volt/core/dtype.h"
#include "volt/core/stream.h"
#include "volt/kernels/dispatch.h"

namespace volt::kernels {

struct IndexLayout {
  int64_t outer = 1, n = 0, m = 0, inner = 1;
  int64_t index_outer_stride = 0, index_row_stride = 1, index_inner_stride = 0;  // in elements
  VOLT_HOST_DEVICE int64_t index_at(int64_t o, int64_t j, int64_t i) const {
    return o * index_outer_stride + j * index_row_stride + i * index_inner_stride;
  }
};

// out[o, j, i] = in[o, index(o, j, i), i], copied as `itemsize` bytes (every dtype). The op layer
// checks the indices on the CPU; on a GPU, where that would synchronise, an index out of [0, n)
// gives all-one bytes (NaN for the floating dtypes, -1 for the signed ones) for multi-byte
// dtypes and 0 for one-byte ones.
using GatherFn = void(std::size_t itemsize, void* out, const void* in, const int64_t* index, const IndexLayout& layout,
                      Stream stream);
// out[o, index(o, j, i), i] += src[o, j, i] for j in order; f32 and f64 (halves go through f32 in
// the op layer). On a GPU an index out of [0, n) is skipped.
using ScatterAddFn = void(DType dtype, void* out, const void* src, const int64_t* index, const IndexLayout& layout,
                          Stream stream);

namespace cpu {
GatherFn gather;
ScatterAddFn scatter_add;
}  // namespace cpu

namespace cuda {
GatherFn gather;
ScatterAddFn scatter_add;
}  // namespace cuda

extern Kernel<GatherFn> gather;
extern Kernel<ScatterAddFn> scatter_add;

}  // namespace volt::kernels
