// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a
// counter-based generator. The same (counter, key) gives the same four words on any device, so
// a CUDA kernel reproduces the CPU stream element for element. Header-only for that reason.
#pragma once

#include <cstdint>

#include "volt/core/host_device.h"

namespace volt {

struct Philox4x32 {
  uint32_t v[4];
};

VOLT_HOST_DEVICE inline Philox4x32 philox4x32_10(Philox4x32 ctr, uint32_t k0, uint32_t k1) {
  // Multipliers and Weyl key increments from the paper (Table 2 and Section 4.2).
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(kM0) * ctr.v[0];
    const uint64_t p1 = static_cast<uint64_t>(kM1) * ctr.v[2];
    const auto hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const auto hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    ctr = Philox4x32{{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
    k0 += kW0;
    k1 += kW1;
  }
  return ctr;
}

// volt's stream for (seed, offset): value i of a draw is word i % 4 of the block at counter
// offset + i / 4 (a 64-bit counter in words 0-1), keyed by the 64-bit seed.
VOLT_HOST_DEVICE inline Philox4x32 philox_block(uint64_t seed, uint64_t counter) {
  return philox4x32_10(Philox4x32{{static_cast<uint32_t>(counter), static_cast<uint32_t>(counter >> 32), 0u, 0u}},
                       static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// Where a draw's stream starts, as a random kernel receives it. Eager: `seed` and block
// `offset` are the values. In a CUDA graph (core/cuda/graph.h) `state` points at the graph's
// device slot {seed, base} for the generator, written or advanced by every replay, and the draw
// starts at block state[1] + offset, `offset` being its place inside the graph: so each replay
// draws new values, the ones the same step run eagerly would draw.
struct PhiloxArgs {
  uint64_t seed = 0;
  uint64_t offset = 0;
  const uint64_t* state = nullptr;
};

VOLT_HOST_DEVICE inline uint64_t philox_seed(const PhiloxArgs& args) { return args.state ? args.state[0] : args.seed; }
VOLT_HOST_DEVICE inline uint64_t philox_counter(const PhiloxArgs& args) {
  return args.state ? args.state[1] + args.offset : args.offset;
}

// [0, 1) with 24 random bits: exactly representable in float.
VOLT_HOST_DEVICE inline float uniform_float(uint32_t x) { return static_cast<float>(x >> 8) * 0x1.0p-24f; }
// [0, 1) with 53 random bits from two words.
VOLT_HOST_DEVICE inline double uniform_double(uint32_t hi, uint32_t lo) {
  return static_cast<double>(((static_cast<uint64_t>(hi) << 32) | lo) >> 11) * 0x1.0p-53;
}

}  // namespace volt
