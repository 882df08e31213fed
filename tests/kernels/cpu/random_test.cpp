// The CPU dropout kernel splits its Philox blocks over the threads: the mask and the output are
// the same bits on any thread count, and each element keeps the draw of its own block.
#include "volt/kernels/random.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "volt/autograd/ops.h"
#include "volt/core/philox.h"
#include "volt/core/thread_pool.h"
#include "volt/kernels/cpu/avx512.h"

namespace volt {
namespace {

struct Dropped {
  std::vector<float> y, mask;
};

Dropped run_dropout(const Tensor& x, int threads) {
  set_num_threads(threads);
  Tensor y = empty(x.shape()), mask = empty(x.shape());
  kernels::cpu::dropout(DType::f32, y.data_ptr(), mask.data_ptr(), x.data_ptr(), x.numel(), 0.3, PhiloxArgs{42, 7},
                        Stream{});
  return {y.to_vector<float>(), mask.to_vector<float>()};
}

TEST(CpuDropout, SameBitsOnAnyThreadCountAndEachElementFromItsOwnBlock) {
  const int saved = get_num_threads();
  Generator gen(1);
  const Tensor x = randn({100003}, DType::f32, &gen);  // not a multiple of 4: a partial last block
  const Dropped one = run_dropout(x, 1);
  for (int threads : {2, 3}) {
    const Dropped many = run_dropout(x, threads);
    EXPECT_EQ(many.mask, one.mask) << threads << " threads";
    EXPECT_EQ(many.y, one.y) << threads << " threads";
  }
  set_num_threads(saved);
  // Element i is kept when the uniform from word i % 4 of block counter + i / 4 is >= p.
  const float scale = static_cast<float>(1.0 / (1.0 - 0.3));
  const std::vector<float> xv = x.to_vector<float>();
  for (int64_t i : {int64_t{0}, int64_t{5}, int64_t{50001}, int64_t{100002}}) {
    const Philox4x32 r = philox_block(42, 7 + static_cast<uint64_t>(i / 4));
    const bool keep = uniform_float(r.v[i % 4]) >= 0.3f;
    EXPECT_EQ(one.mask[i], keep ? scale : 0.0f) << i;
    EXPECT_EQ(one.y[i], keep ? xv[i] * scale : 0.0f) << i;
  }
}

// The AVX-512 stream is philox_block's word for word, across the carry into the counter's high
// word and for seeds with both halves set.
TEST(CpuPhilox, EightBlocksAtATimeMatchTheScalarStream) {
  if (!kernels::cpu::has_avx512()) GTEST_SKIP() << "this CPU has no AVX-512: dropout draws one block at a time";
  for (const auto& [seed, counter] : std::vector<std::pair<uint64_t, uint64_t>>{
           {0, 0}, {42, 7}, {0xDEADBEEFCAFEF00Dull, 0xFFFFFFFFull - 20}, {~0ull, ~0ull - 200}}) {
    constexpr int64_t kBlocks = 64;
    std::vector<uint32_t> words(4 * kBlocks, 0);
    kernels::cpu::philox_words_avx512(seed, counter, kBlocks, words.data());
    for (int64_t b = 0; b < kBlocks; ++b) {
      const Philox4x32 want = philox_block(seed, counter + static_cast<uint64_t>(b));
      for (int w = 0; w < 4; ++w)
        ASSERT_EQ(words[4 * b + w], want.v[w]) << "seed " << seed << " counter " << counter << " block " << b;
    }
  }
}

}  // namespace
}  // namespace volt
