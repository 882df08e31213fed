// The CUDA caching allocator. Requests are rounded up to size classes (512 B steps up to
// 1 MiB, then 2 MiB steps); a freed block goes back to the bin of its (stream, class) and the
// next request of that class on that stream takes it without a cudaMalloc, which is ordered
// after every earlier use on the stream. So a steady-state training step allocates nothing
// from the driver, and a captured CUDA graph replays the same addresses.
//
// During graph capture a request the cache cannot serve gets a cudaMalloc made at once,
// outside the graph (a warm-up step first makes that rare). Every block a capture hands out or
// frees is written by every replay, so it belongs to the capture's pool until the graph is
// reset: freed, at any time, it goes back to that pool, which only captures into the same pool
// draw from, never eager code. A CUDAGraph (core/cuda/graph.h) gives each capture a pool of its
// own unless told to share one; a capture made with bare cudaStreamBeginCapture uses a common
// pool that release_graph_memory() empties. Blocks are never shared across streams: a tensor
// used on another stream must be synchronised by its user.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "volt/core/allocator.h"

namespace volt::cuda {

// Names a pool of graph memory (PyTorch's graph_pool_handle()). 0 is eager memory.
using MempoolId = uint64_t;
// A new pool id, for graphs meant to share memory (replayed in the order they were captured).
MempoolId graph_pool_handle();

struct AllocatorStats {
  std::size_t allocated = 0;       // bytes in blocks handed out now (rounded sizes)
  std::size_t reserved = 0;        // bytes obtained from cudaMalloc and not yet released
  std::size_t peak_allocated = 0;  // the most `allocated` has been since the last reset
  int64_t allocations = 0;         // requests served
  int64_t device_mallocs = 0;      // of those, served by a cudaMalloc
};

// Size class of a request (what a block of it occupies).
std::size_t round_size(std::size_t nbytes);

Allocator* caching_allocator(int device);
AllocatorStats allocator_stats(int device);
void reset_peak_stats(int device);
// Returns every cached, unused block of every device to the driver (synchronising first).
void empty_cache();
// After every graph captured with bare cudaStreamBeginCapture is destroyed: the blocks of their
// common pool become ordinary cached blocks again.
void release_graph_memory();

namespace detail {
// CUDAGraph's side: while `stream` of `device` is captured, requests on it and blocks freed
// from it belong to `pool`. A pool lives while someone holds it: retain and release pair up,
// and the last release makes its free blocks ordinary cached ones and its blocks in use
// ordinary once freed.
void begin_allocate_to_pool(int device, cudaStream_t stream, MempoolId pool);
void end_allocate_to_pool(int device, cudaStream_t stream);
void retain_pool(int device, MempoolId pool);
void release_pool(int device, MempoolId pool);
}  // namespace detail
// Tests: fill each block handed out with 0xFF bytes (NaN in every float type) so an element a
// kernel forgets to write shows up.
void set_poison_allocations(bool on);

}  // namespace volt::cuda
