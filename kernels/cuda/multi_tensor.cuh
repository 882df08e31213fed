// Multi-tensor launches, shared by the optimizer and mixed-precision families: one launch works
// through up to kMaxTensors tensors. Their descriptors travel by value in the kernel's parameter
// (a __grid_constant__ struct, read in place, not copied per thread), so a launch needs no
// host→device copy of them and a captured CUDA graph replays them as they were. Each block
// takes one kChunk-element chunk of one tensor; blocks find their tensor by binary search over
// the tensors' first blocks.
//
// An Update has skipped() (read once per block: GradScaler's overflow flag), scalars() (read
// once per block) and operator()(scalars, tensor, j) for element j; a tensor descriptor (Item)
// has a count n.
#pragma once

#include <climits>
#include <cstdint>
#include <vector>

#include "volt/core/cuda/runtime.h"

namespace volt::kernels::cuda::multi_tensor {

constexpr int kThreads = 256;
constexpr int64_t kChunk = 16 * kThreads;  // elements per block
// Tensors per launch: the parameter struct stays under the 4 KiB that every CUDA version and
// architecture accepts for kernel parameters.
constexpr int kMaxTensors = 48;

template <class Item>
struct Batch {
  Item tensors[kMaxTensors];
  int64_t first_block[kMaxTensors + 1];  // tensor i owns blocks [first_block[i], first_block[i + 1])
  int count;
};

template <class Item, class Update>
__global__ void __launch_bounds__(kThreads) kernel(const __grid_constant__ Batch<Item> batch, const Update update) {
  if (update.skipped()) return;
  const int64_t block = blockIdx.x;
  int lo = 0, hi = batch.count - 1;  // the last tensor whose first block is <= this block
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (batch.first_block[mid] <= block)
      lo = mid;
    else
      hi = mid - 1;
  }
  const Item& t = batch.tensors[lo];
  const int64_t begin = (block - batch.first_block[lo]) * kChunk;
  const int64_t end = begin + kChunk < t.n ? begin + kChunk : t.n;
  const auto scalars = update.scalars();
  for (int64_t j = begin + threadIdx.x; j < end; j += kThreads)
    update(scalars, t, j);
}

// Runs `update` over every element of `items`, kMaxTensors (or 2^31 - 1 blocks) per launch.
template <class Item, class Update>
void launch(const std::vector<Item>& items, const Update& update, cudaStream_t stream) {
  static_assert(sizeof(Batch<Item>) + 512 <= 4096, "the kernel parameters must fit in 4 KiB");
  Batch<Item> batch{};
  int64_t blocks = 0;
  auto flush = [&] {
    if (batch.count == 0) return;
    batch.first_block[batch.count] = blocks;
    kernel<Item, Update><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(batch, update);
    VOLT_CUDA_CHECK_LAUNCH();
    batch.count = 0;
    blocks = 0;
  };
  for (const Item& t : items) {
    if (t.n == 0) continue;
    const int64_t need = (t.n + kChunk - 1) / kChunk;
    if (batch.count == kMaxTensors || blocks + need > INT_MAX) flush();
    batch.tensors[batch.count] = t;
    batch.first_block[batch.count] = blocks;
    ++batch.count;
    blocks += need;
  }
  flush();
}

}  // namespace volt::kernels::cuda::multi_tensor
