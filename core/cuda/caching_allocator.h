// The CUDA caching allocator. Requests are rounded up to size classes (512 B steps up to
// 1 MiB, then 2 MiB steps); a freed block goes back to the bin of its (stream, class) and the
// next request of that class on that stream takes it without a cudaMalloc, which is ordered
// after every earlier use on the stream. So a steady-state training step allocates nothing
// from the driver, and a captured CUDA graph replays the same addresses.
//
// During graph capture a request the cache cannot serve is an error (warm the step up once
// first), because cudaMalloc would happen outside the graph. A block freed during a capture is
// still written by every replay, so it goes to a capture-only pool that eager code never draws
// from; release_graph_memory() returns those blocks once the graphs are destroyed. Blocks are
// never shared across streams: a tensor used on another stream must be synchronised by its user.
#pragma once

#include <cstddef>
#include <cstdint>

#include "volt/core/allocator.h"

namespace volt::cuda {

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
// After every captured CUDA graph is destroyed: blocks freed during captures become ordinary
// cached blocks again.
void release_graph_memory();
// Tests: fill each block handed out with 0xFF bytes (NaN in every float type) so an element a
// kernel forgets to write shows up.
void set_poison_allocations(bool on);

}  // namespace volt::cuda
