// The indexing family on CUDA. gather: one thread per output element, copying `itemsize`
// bytes as one word. scatter_add: one thread per output column (o, i), adding its m sources in
// order, so no two threads write one element and the sums are the same run to run (no float
// atomics). A column's loop is m long: for Embedding's backward (outer 1, inner the embedding
// width) that is one pass over the batch's tokens.
#include <cstdint>

#include "volt/kernels/cuda/device_types.cuh"
#include "volt/kernels/index.h"

namespace volt::kernels::cuda {
namespace {

template <class W>
__global__ void gather_words(W* out, const W* in, const int64_t* index, IndexLayout l, W invalid) {
  const int64_t total = l.outer * l.m * l.inner;
  for (int64_t e = global_thread(); e < total; e += grid_threads()) {
    const int64_t i = e % l.inner, r = e / l.inner;
    const int64_t j = r % l.m, o = r / l.m;
    const int64_t k = index[l.index_at(o, j, i)];
    out[e] = (k >= 0 && k < l.n) ? in[(o * l.n + k) * l.inner + i] : invalid;
  }
}

template <class T>
__global__ void scatter_add_columns(T* out, const T* src, const int64_t* index, IndexLayout l) {
  for (int64_t c = global_thread(); c < l.outer * l.inner; c += grid_threads()) {
    const int64_t o = c / l.inner, i = c % l.inner;
    for (int64_t j = 0; j < l.m; ++j) {
      const int64_t k = index[l.index_at(o, j, i)];
      if (k >= 0 && k < l.n) out[(o * l.n + k) * l.inner + i] += src[(o * l.m + j) * l.inner + i];
    }
  }
}

template <class W>
void launch_gather(void* out, const void* in, const int64_t* index, const IndexLayout& l, W invalid,
                   cudaStream_t stream) {
  gather_words<W><<<grid_for(l.outer * l.m * l.inner, kThreads), kThreads, 0, stream>>>(
      static_cast<W*>(out), static_cast<const W*>(in), index, l, invalid);
  VOLT_CUDA_CHECK_LAUNCH();
}

}  // namespace

void gather(std::size_t itemsize, void* out, const void* in, const int64_t* index, const IndexLayout& l, Stream on) {
  if (l.outer * l.m * l.inner == 0) return;
  const cudaStream_t stream = native(on);
  switch (itemsize) {
    case 1:
      return launch_gather<uint8_t>(out, in, index, l, 0, stream);
    case 2:
      return launch_gather<uint16_t>(out, in, index, l, 0xFFFF, stream);
    case 4:
      return launch_gather<uint32_t>(out, in, index, l, 0xFFFFFFFFu, stream);
    case 8:
      return launch_gather<uint64_t>(out, in, index, l, ~uint64_t{0}, stream);
    default:
      VOLT_FAIL("gather kernel: no element type of ", itemsize, " bytes");
  }
}

void scatter_add(DType dtype, void* out, const void* src, const int64_t* index, const IndexLayout& l, Stream on) {
  if (l.outer * l.inner == 0 || l.m == 0) return;
  const cudaStream_t stream = native(on);
  const unsigned grid = grid_for(l.outer * l.inner, kThreads);
  if (dtype == DType::f32) {
    scatter_add_columns<float>
        <<<grid, kThreads, 0, stream>>>(static_cast<float*>(out), static_cast<const float*>(src), index, l);
  } else {
    VOLT_CHECK(dtype == DType::f64, "scatter_add kernel: expected f32 or f64 (halves go through f32), got ", dtype);
    scatter_add_columns<double>
        <<<grid, kThreads, 0, stream>>>(static_cast<double*>(out), static_cast<const double*>(src), index, l);
  }
  VOLT_CUDA_CHECK_LAUNCH();
}

namespace {
// Plugs these kernels into the dispatch tables when volt_cuda is linked into a program.
[[maybe_unused]] const bool registered = (kernels::gather.cuda = gather, kernels::scatter_add.cuda = scatter_add, true);
}  // namespace

}  // namespace volt::kernels::cuda
