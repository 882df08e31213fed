// Generator: the state (seed, offset) of a Philox4x32-10 stream. A draw of n values takes
// ceil(n / values_per_block) blocks starting at `offset` and advances it past them, so the
// same state gives the same values on any device, and resuming from a saved state continues
// the stream exactly.
//
// Random ops ask for a draw with philox_args(), not reserve(): while a CUDA graph captures on
// the calling thread (core/cuda/graph.h) a draw on the graph's device is placed inside the graph
// and the host offset moves at each replay instead, by what one replay draws.
#pragma once

#include <cstdint>
#include <mutex>

#include "volt/core/device.h"
#include "volt/core/philox.h"

namespace volt {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}

  void manual_seed(uint64_t seed);
  uint64_t seed() const;
  uint64_t offset() const;
  void set_offset(uint64_t offset);

  // Reserves `blocks` Philox blocks; returns the counter of the first one.
  uint64_t reserve(uint64_t blocks);
  // {seed, reserve(blocks)}, read under one lock: an eager draw's start.
  PhiloxArgs draw(uint64_t blocks);
  // What a random op on `device` hands its kernel for a draw of `blocks` blocks: {seed,
  // reserve(blocks)}, or, while a CUDA graph captures on this thread and `device` is the
  // graph's, the graph's device slot for this generator and the draw's offset in the graph.
  PhiloxArgs philox_args(Device device, uint64_t blocks);

 private:
  mutable std::mutex mutex_;
  uint64_t seed_ = 0;
  uint64_t offset_ = 0;
};

namespace detail {
// The CUDA graph capturing on the calling thread, as the generators see it: it gives each
// generator a slot in device memory and counts the blocks drawn from it during the capture.
class PhiloxCapture {
 public:
  virtual Device device() const = 0;
  virtual PhiloxArgs capture_draw(Generator& gen, uint64_t blocks) = 0;

 protected:
  ~PhiloxCapture() = default;
};
// Makes `capture` (null: none) the calling thread's; returns the one that was.
PhiloxCapture* exchange_philox_capture(PhiloxCapture* capture);
}  // namespace detail

// The process-wide generator used when an op is given none; inside a GeneratorGuard, the guard's.
Generator& default_generator();
// Reseeds the process-wide generator (offset back to 0).
void manual_seed(uint64_t seed);

// The generator a random op given `gen` (null: none) draws from: the calling thread's
// GeneratorGuard's while one is active, else `gen`, else the process-wide one.
Generator& generator_for(Generator* gen);

// For its lifetime, every draw on the calling thread comes from `gen`: the default generator's and
// those of a generator passed explicitly (a Dropout's own, say). DataParallel runs each replica
// under one, seeded per replica, so that what a replica draws depends on neither the other
// replicas nor the order the threads run in. Guards nest; `gen` must outlive the guard.
class GeneratorGuard {
 public:
  explicit GeneratorGuard(Generator& gen);
  ~GeneratorGuard();
  GeneratorGuard(const GeneratorGuard&) = delete;
  GeneratorGuard& operator=(const GeneratorGuard&) = delete;

 private:
  Generator* previous_;
};

}  // namespace volt
