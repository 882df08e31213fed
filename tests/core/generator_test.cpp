// Philox4x32-10 against the published Random123 known-answer vectors, and the Generator's
// contract: same (seed, offset) gives the same values, a draw of n values advances the offset
// by ceil(n / values_per_block) blocks, and a saved offset resumes the stream exactly.
#include "volt/core/generator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "volt/autograd/ops.h"
#include "volt/core/philox.h"
#include "volt/core/tensor.h"

namespace volt {
namespace {

struct Kat {
  uint32_t ctr[4];
  uint32_t key[2];
  uint32_t out[4];
};

// Random123 1.09, examples/kat_vectors, "philox4x32 10" rows.
const Kat kKats[] = {
    {{0x00000000, 0x00000000, 0x00000000, 0x00000000},
     {0x00000000, 0x00000000},
     {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
    {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
     {0xffffffff, 0xffffffff},
     {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
    {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
     {0xa4093822, 0x299f31d0},
     {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
};

TEST(Philox, KnownAnswerVectors) {
  for (const Kat& k : kKats) {
    const Philox4x32 r = philox4x32_10(Philox4x32{{k.ctr[0], k.ctr[1], k.ctr[2], k.ctr[3]}}, k.key[0], k.key[1]);
    for (int i = 0; i < 4; ++i)
      EXPECT_EQ(r.v[i], k.out[i]) << "word " << i << " for counter " << std::hex << k.ctr[0];
  }
}

TEST(Philox, BlockPacksCounterAndSeedIntoWords) {
  const uint64_t seed = 0x0123456789abcdefULL, counter = 0xfedcba9876543210ULL;
  const Philox4x32 direct = philox4x32_10(Philox4x32{{0x76543210u, 0xfedcba98u, 0u, 0u}}, 0x89abcdefu, 0x01234567u);
  const Philox4x32 block = philox_block(seed, counter);
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(block.v[i], direct.v[i]);
}

TEST(Philox, UniformMappings) {
  EXPECT_EQ(uniform_float(0u), 0.0f);
  EXPECT_EQ(uniform_float(0xffffffffu), 1.0f - 0x1.0p-24f);  // largest value is below 1
  EXPECT_EQ(uniform_float(0x80000000u), 0.5f);
  EXPECT_EQ(uniform_double(0u, 0u), 0.0);
  EXPECT_EQ(uniform_double(0xffffffffu, 0xffffffffu), 1.0 - 0x1.0p-53);
  EXPECT_EQ(uniform_double(0x80000000u, 0u), 0.5);
}

TEST(Generator, ReserveReturnsFirstBlockAndAdvances) {
  Generator g(7);
  EXPECT_EQ(g.seed(), 7u);
  EXPECT_EQ(g.offset(), 0u);
  EXPECT_EQ(g.reserve(3), 0u);
  EXPECT_EQ(g.reserve(5), 3u);
  EXPECT_EQ(g.offset(), 8u);
  g.set_offset(100);
  EXPECT_EQ(g.reserve(1), 100u);
  g.manual_seed(9);
  EXPECT_EQ(g.seed(), 9u);
  EXPECT_EQ(g.offset(), 0u);
}

// Eager draws: the generator's seed and the reserved offset, no device state.
TEST(Generator, PhiloxArgsReserveLikeReserve) {
  Generator g(5);
  g.set_offset(10);
  const PhiloxArgs a = g.philox_args(Device::cpu(), 3);
  EXPECT_EQ(a.seed, 5u);
  EXPECT_EQ(a.offset, 10u);
  EXPECT_EQ(a.state, nullptr);
  EXPECT_EQ(philox_seed(a), 5u);
  EXPECT_EQ(philox_counter(a), 10u);
  EXPECT_EQ(g.offset(), 13u);
}

// With a slot, the stream starts at the slot's base plus the draw's offset, with the slot's seed.
TEST(Generator, PhiloxArgsWithAStateReadTheSlot) {
  const uint64_t slot[2] = {77, 1000};
  const PhiloxArgs a{1, 5, slot};
  EXPECT_EQ(philox_seed(a), 77u);
  EXPECT_EQ(philox_counter(a), 1005u);
}

// A graph capturing on this thread takes the draws on its device and leaves the host offset
// alone; draws on other devices, and on other threads, stay eager.
class FakeCapture final : public detail::PhiloxCapture {
 public:
  Device device() const override { return Device::cuda(0); }
  PhiloxArgs capture_draw(Generator& gen, uint64_t blocks) override {
    seen.push_back({&gen, blocks});
    const PhiloxArgs args{0, drawn, slot};
    drawn += blocks;
    return args;
  }
  std::vector<std::pair<Generator*, uint64_t>> seen;
  uint64_t drawn = 0;
  uint64_t slot[2] = {0, 0};
};

TEST(Generator, ACaptureOnThisThreadTakesDrawsOnItsDevice) {
  Generator g(3);
  g.set_offset(40);
  FakeCapture capture;
  EXPECT_EQ(detail::exchange_philox_capture(&capture), nullptr);
  const PhiloxArgs first = g.philox_args(Device::cuda(0), 4);
  const PhiloxArgs second = g.philox_args(Device::cuda(0), 6);
  EXPECT_EQ(first.state, capture.slot);
  EXPECT_EQ(first.offset, 0u);
  EXPECT_EQ(second.offset, 4u);
  EXPECT_EQ(g.offset(), 40u);  // the host moves at replay time, not during the capture
  const PhiloxArgs cpu = g.philox_args(Device::cpu(), 2);
  EXPECT_EQ(cpu.state, nullptr);
  EXPECT_EQ(cpu.offset, 40u);
  EXPECT_EQ(g.offset(), 42u);
  uint64_t other_thread_offset = 0;
  const void* other_thread_state = &other_thread_offset;
  std::thread([&] {
    const PhiloxArgs there = g.philox_args(Device::cuda(0), 1);
    other_thread_offset = there.offset;
    other_thread_state = there.state;
  }).join();
  EXPECT_EQ(other_thread_state, nullptr);
  EXPECT_EQ(other_thread_offset, 42u);
  EXPECT_EQ(detail::exchange_philox_capture(nullptr), &capture);
  EXPECT_EQ(g.philox_args(Device::cuda(0), 1).offset, 43u);
  ASSERT_EQ(capture.seen.size(), 2u);
  EXPECT_EQ(capture.seen[0], std::make_pair(&g, uint64_t{4}));
  EXPECT_EQ(capture.seen[1], std::make_pair(&g, uint64_t{6}));
}

// Element i of an f32 draw is word i % 4 of the block at counter offset + i / 4.
TEST(Generator, RandFloatFollowsDocumentedStream) {
  for (int64_t n : {1, 7, 1023}) {
    Generator g(1234);
    g.set_offset(17);
    const auto v = rand({n}, {}, &g).to_vector<float>();
    for (int64_t i = 0; i < n; ++i) {
      const Philox4x32 r = philox_block(1234, 17 + static_cast<uint64_t>(i / 4));
      ASSERT_EQ(v[i], uniform_float(r.v[i % 4])) << "element " << i << " of " << n;
    }
    EXPECT_EQ(g.offset(), 17u + static_cast<uint64_t>((n + 3) / 4));
  }
}

// f64 draws take two words per value (53 random bits), so two values per block.
TEST(Generator, RandDoubleUsesTwoWordsPerValue) {
  Generator g(99);
  const auto v = rand({7}, DType::f64, &g).to_vector<double>();
  for (int64_t i = 0; i < 7; ++i) {
    const Philox4x32 r = philox_block(99, static_cast<uint64_t>(i / 2));
    const double want = i % 2 == 0 ? uniform_double(r.v[0], r.v[1]) : uniform_double(r.v[2], r.v[3]);
    EXPECT_EQ(v[i], want) << "element " << i;
  }
  EXPECT_EQ(g.offset(), 4u);  // ceil(7 / 2)
}

TEST(Generator, OffsetAdvancesByBlocksPerDraw) {
  Generator g(1);
  rand({9}, {}, &g);  // f32: 4 per block
  EXPECT_EQ(g.offset(), 3u);
  rand({0}, {}, &g);
  EXPECT_EQ(g.offset(), 3u);
  rand({5}, DType::f64, &g);  // 2 per block
  EXPECT_EQ(g.offset(), 6u);
  randn({5}, {}, &g);  // Box-Muller rounds up to pairs: 6 values, 2 blocks
  EXPECT_EQ(g.offset(), 8u);
  randn({3}, DType::f64, &g);  // 4 values, 2 blocks
  EXPECT_EQ(g.offset(), 10u);
  randint(0, 10, {5}, DType::i64, &g);  // one word per value whatever the dtype
  EXPECT_EQ(g.offset(), 12u);
  bernoulli({8}, 0.5, {}, &g);
  EXPECT_EQ(g.offset(), 14u);
  dropout(ones({6}), 0.5, true, &g);  // four mask values per block
  EXPECT_EQ(g.offset(), 16u);
}

TEST(Generator, SameStateGivesSameValues) {
  auto draw_all = [](Generator& g) {
    std::vector<double> out;
    for (double v : rand({13}, {}, &g).to_vector<double>())
      out.push_back(v);
    for (double v : randn({13}, {}, &g).to_vector<double>())
      out.push_back(v);
    for (double v : randint(-5, 5, {13}, DType::i64, &g).to_vector<double>())
      out.push_back(v);
    for (double v : bernoulli({13}, 0.3, {}, &g).to_vector<double>())
      out.push_back(v);
    return out;
  };
  Generator a(42), b(42), c(43);
  a.set_offset(5);
  b.set_offset(5);
  c.set_offset(5);
  const auto va = draw_all(a), vb = draw_all(b), vc = draw_all(c);
  EXPECT_EQ(va, vb);
  EXPECT_NE(va, vc);
  EXPECT_EQ(a.offset(), b.offset());
}

TEST(Generator, ResumeFromSavedOffsetContinuesTheStream) {
  Generator g(2024);
  const auto first = rand({10}, {}, &g).to_vector<float>();
  const uint64_t saved = g.offset();
  const auto second = rand({10}, {}, &g).to_vector<float>();

  Generator resumed(2024);
  resumed.set_offset(saved);
  EXPECT_EQ(rand({10}, {}, &resumed).to_vector<float>(), second);
  EXPECT_NE(first, second);

  // Draws that fill whole blocks concatenate into one longer draw.
  Generator whole(5), parts(5);
  auto joined = rand({12}, {}, &parts).to_vector<float>();
  const auto tail = rand({8}, {}, &parts).to_vector<float>();
  joined.insert(joined.end(), tail.begin(), tail.end());
  EXPECT_EQ(rand({20}, {}, &whole).to_vector<float>(), joined);
}

TEST(Generator, DefaultGeneratorAndManualSeed) {
  manual_seed(77);
  EXPECT_EQ(default_generator().offset(), 0u);
  const auto a = rand({6}).to_vector<float>();
  EXPECT_EQ(default_generator().offset(), 2u);
  manual_seed(77);
  EXPECT_EQ(rand({6}).to_vector<float>(), a);
  Generator explicit_gen(77);
  EXPECT_EQ(rand({6}, {}, &explicit_gen).to_vector<float>(), a);
}

TEST(Generator, RandRange) {
  Generator g(3);
  for (DType t : {DType::f32, DType::f64, DType::f16, DType::bf16}) {
    const auto v = rand({4096}, t, &g).to_vector<double>();
    double lo = 1, hi = 0;
    for (double x : v) {
      ASSERT_GE(x, 0.0) << t;
      // f16/bf16 round to nearest, so values within half an ulp of 1 become 1.
      if (t == DType::f32 || t == DType::f64) {
        ASSERT_LT(x, 1.0) << t;
      }
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
    EXPECT_LT(lo, 0.01) << t;
    EXPECT_GT(hi, 0.99) << t;
  }
}

TEST(Generator, RandnMatchesBoxMuller) {
  Generator g(11);
  const auto z = randn({5}, {}, &g).to_vector<float>();
  // Pairs (u[2k], u[2k+1]) of the f32 stream; the odd tail uses the first half of a pair.
  std::vector<double> u;
  for (uint64_t b = 0; b < 2; ++b)
    for (uint32_t w : philox_block(11, b).v)
      u.push_back(uniform_float(w));
  for (int i = 0; i < 5; ++i) {
    const int k = i & ~1;
    const double radius = std::sqrt(-2.0 * std::log(1.0 - u[k]));
    const double angle = 2.0 * std::numbers::pi * u[k + 1];
    const double want = (i % 2 == 0) ? radius * std::cos(angle) : radius * std::sin(angle);
    EXPECT_NEAR(z[i], want, 1e-5 * (1 + std::abs(want))) << "element " << i;
  }
}

TEST(Generator, RandnMoments) {
  Generator g(5);
  const auto v = randn({100000}, DType::f64, &g).to_vector<double>();
  double sum = 0, sq = 0;
  for (double x : v) {
    ASSERT_TRUE(std::isfinite(x));
    sum += x;
    sq += x * x;
  }
  const double mean = sum / 1e5, var = sq / 1e5 - mean * mean;
  EXPECT_NEAR(mean, 0.0, 0.02);
  EXPECT_NEAR(std::sqrt(var), 1.0, 0.02);
}

TEST(Generator, NormalAndUniformInPlace) {
  manual_seed(8);
  Tensor x = empty({50000});
  x.uniform_(-2.0, 3.0);
  for (float v : x.to_vector<float>()) {
    ASSERT_GE(v, -2.0f);
    ASSERT_LT(v, 3.0f);
  }
  x.normal_(10.0, 0.5);
  const double mean = x.mean().item<double>();
  EXPECT_NEAR(mean, 10.0, 0.02);
  const double var = ((x - mean) * (x - mean)).mean().item<double>();
  EXPECT_NEAR(std::sqrt(var), 0.5, 0.02);
}

TEST(Generator, RandintRangeAndCoverage) {
  Generator g(13);
  for (DType t : {DType::i64, DType::i32}) {
    Tensor r = randint(-3, 5, {10000}, t, &g);
    EXPECT_EQ(r.dtype(), t);
    std::set<int64_t> seen;
    for (int64_t v : r.to_vector<int64_t>()) {
      ASSERT_GE(v, -3);
      ASSERT_LT(v, 5);
      seen.insert(v);
    }
    EXPECT_EQ(seen.size(), 8u) << t;
  }
  // One value per word, scaled: low + floor(word * range / 2^32).
  Generator h(21);
  const auto v = randint(10, 1010, {6}, DType::i64, &h).to_vector<int64_t>();
  for (int i = 0; i < 6; ++i) {
    const uint32_t w = philox_block(21, static_cast<uint64_t>(i / 4)).v[i % 4];
    EXPECT_EQ(v[i], 10 + static_cast<int64_t>((static_cast<uint64_t>(w) * 1000) >> 32));
  }
}

TEST(Generator, BernoulliFrequency) {
  Generator g(17);
  for (double p : {0.0, 0.3, 0.9, 1.0}) {
    const auto v = bernoulli({100000}, p, {}, &g).to_vector<float>();
    double ones_count = 0;
    for (float x : v) {
      ASSERT_TRUE(x == 0.0f || x == 1.0f);
      ones_count += x;
    }
    EXPECT_NEAR(ones_count / 1e5, p, 0.01) << "p = " << p;
  }
}

TEST(Generator, GuardRedirectsEveryDrawOnItsThread) {
  manual_seed(3);
  Generator own(8);
  Generator replica(99), reference(99);
  std::vector<float> guarded_default, guarded_explicit;
  {
    const GeneratorGuard guard(replica);
    EXPECT_EQ(&default_generator(), &replica);
    guarded_default = rand({5}).to_vector<float>();
    guarded_explicit = rand({5}, {}, &own).to_vector<float>();  // an explicit generator too
  }
  EXPECT_EQ(own.offset(), 0u);
  EXPECT_EQ(default_generator().offset(), 0u);  // the process-wide one was not drawn from
  EXPECT_EQ(guarded_default, rand({5}, {}, &reference).to_vector<float>());
  EXPECT_EQ(guarded_explicit, rand({5}, {}, &reference).to_vector<float>());
  EXPECT_NE(&default_generator(), &replica);

  // Other threads keep drawing from the process-wide generator.
  const GeneratorGuard guard(replica);
  uint64_t other_thread_offset = 0;
  std::thread([&] {
    rand({8});
    other_thread_offset = default_generator().offset();
  }).join();
  EXPECT_EQ(other_thread_offset, 2u);  // 8 floats, 4 a block
}

TEST(Generator, BadArguments) {
  EXPECT_THROW(randint(5, 5, {3}), Error);
  EXPECT_THROW(bernoulli({3}, 1.5), Error);
  EXPECT_THROW(rand({3}, DType::i64), Error);
  EXPECT_THROW(randn({3}, DType::i32), Error);
}

}  // namespace
}  // namespace volt
