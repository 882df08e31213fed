// The indexing family on the CPU. gather copies rows of `inner` elements (one memcpy each when
// the index does not vary along inner, as for index_select and Embedding's lookup), split over
// threads by output rows. scatter_add runs in order: each output column adds its sources j =
// 0..m-1 one after another, so the sums are the same run to run and on any thread count.
#include "volt/kernels/index.h"

#include <cstring>

#include "volt/core/thread_pool.h"

namespace volt::kernels {

Kernel<GatherFn> gather{"gather", cpu::gather};
Kernel<ScatterAddFn> scatter_add{"scatter_add", cpu::scatter_add};

namespace cpu {

void gather(std::size_t itemsize, void* out, const void* in, const int64_t* index, const IndexLayout& l, Stream) {
  auto* dst = static_cast<char*>(out);
  const auto* src = static_cast<const char*>(in);
  const int64_t rows = l.outer * l.m;
  const int64_t row_bytes = l.inner * static_cast<int64_t>(itemsize);
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(row_bytes, 1));
  parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t o = r / l.m, j = r % l.m;
      char* d = dst + r * row_bytes;
      const char* s = src + o * l.n * row_bytes;
      if (l.index_inner_stride == 0) {
        std::memcpy(d, s + index[l.index_at(o, j, 0)] * row_bytes, static_cast<std::size_t>(row_bytes));
        continue;
      }
      for (int64_t i = 0; i < l.inner; ++i) {
        const int64_t at = (index[l.index_at(o, j, i)] * l.inner + i) * static_cast<int64_t>(itemsize);
        std::memcpy(d + i * static_cast<int64_t>(itemsize), s + at, itemsize);
      }
    }
  });
}

void scatter_add(DType dtype, void* out, const void* src, const int64_t* index, const IndexLayout& l, Stream) {
  auto add = [&]<class T>() {
    auto* dst = static_cast<T*>(out);
    const auto* from = static_cast<const T*>(src);
    // Outer slices own disjoint parts of the output: they split over threads.
    parallel_for(0, l.outer, 1, [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o)
        for (int64_t j = 0; j < l.m; ++j) {
          const T* s = from + (o * l.m + j) * l.inner;
          T* d = dst + o * l.n * l.inner;
          for (int64_t i = 0; i < l.inner; ++i)
            d[index[l.index_at(o, j, i)] * l.inner + i] += s[i];
        }
    });
  };
  if (dtype == DType::f32) return add.operator()<float>();
  VOLT_CHECK(dtype == DType::f64, "scatter_add kernel: expected f32 or f64 (halves go through f32), got ", dtype);
  add.operator()<double>();
}

}  // namespace cpu
}  // namespace volt::kernels
