// The CUDA random kernels reproduce the CPU's Philox mapping: the same (seed, counter) gives
// bitwise the same uniform, bernoulli and randint values and the same dropout masks, in every
// dtype, at sizes that end mid-block, and across the carry of the 64-bit counter into its high
// word. Normal values agree to the last bits (CUDA's and glibc's log/cos/sin differ by an ulp).
#include "volt/kernels/random.h"

#include <string>
#include <vector>

#include "cuda_test_support.h"
#include "volt/kernels/random.h"

namespace volt {
namespace {

using kernels::Distribution;
using testing::all_close;
using testing::same_bytes;

const int64_t kSizes[] = {0, 1, 7, 1023, 65537};
const DType kAll[] = {DType::f32, DType::f64, DType::f16, DType::bf16,
                      DType::i32, DType::i64, DType::u8,  DType::boolean};
const uint64_t kSeed = 0x243F6A8885A308D3ull;
// A counter whose draw crosses from word 0 into word 1 of the Philox counter.
const uint64_t kCounters[] = {5, (uint64_t{1} << 32) - 3};

std::string what(DType t, int64_t n, uint64_t counter) {
  return std::string(dtype_name(t)) + " n=" + std::to_string(n) + " counter=" + std::to_string(counter);
}

TEST(CudaRandom, UniformAndBernoulliMatchCpuBitwise) {
  VOLT_REQUIRE_CUDA();
  // (a, b) for uniform, a = p for bernoulli; non-negative so that every dtype converts defined.
  const std::vector<std::pair<Distribution, std::pair<double, double>>> draws = {
      {Distribution::uniform, {0.0, 1.0}}, {Distribution::uniform, {2.0, 7.5}}, {Distribution::bernoulli, {0.3, 0.0}}};
  for (DType t : kAll)
    for (int64_t n : kSizes)
      for (uint64_t counter : kCounters)
        for (const auto& [dist, ab] : draws) {
          Tensor expected = empty({n}, t);
          kernels::cpu::random_fill(dist, t, expected.data_ptr(), n, ab.first, ab.second, PhiloxArgs{kSeed, counter},
                                    Stream{});
          Tensor actual = testing::cuda_empty({n}, t);
          kernels::cuda::random_fill(dist, t, actual.data_ptr(), n, ab.first, ab.second, PhiloxArgs{kSeed, counter},
                                     stream());
          EXPECT_TRUE(same_bytes(actual, expected))
              << what(t, n, counter) << " dist " << static_cast<int>(dist) << " a=" << ab.first << " b=" << ab.second;
        }
}

TEST(CudaRandom, NormalMatchesCpu) {
  VOLT_REQUIRE_CUDA();
  for (DType t : {DType::f32, DType::f64, DType::f16, DType::bf16})
    for (int64_t n : kSizes)
      for (uint64_t counter : kCounters) {
        Tensor expected = empty({n}, t);
        kernels::cpu::random_fill(Distribution::normal, t, expected.data_ptr(), n, 0.5, 2.0, PhiloxArgs{kSeed, counter},
                                  Stream{});
        Tensor actual = testing::cuda_empty({n}, t);
        kernels::cuda::random_fill(Distribution::normal, t, actual.data_ptr(), n, 0.5, 2.0, PhiloxArgs{kSeed, counter},
                                   stream());
        const double tol = t == DType::f64 ? 1e-12 : testing::agreement_tolerance(t);
        EXPECT_TRUE(all_close(actual, expected, tol)) << what(t, n, counter);
      }
}

TEST(CudaRandom, RandintMatchesCpuBitwise) {
  VOLT_REQUIRE_CUDA();
  for (DType t : kAll)
    for (int64_t n : kSizes)
      for (uint64_t counter : kCounters) {
        int64_t low = -5, high = 17;
        if (t == DType::u8) low = 0, high = 200;
        if (t == DType::boolean) low = 0, high = 2;
        if (t == DType::i64) low = -(int64_t{1} << 31), high = (int64_t{1} << 31) - 1;  // the widest range
        Tensor expected = empty({n}, t);
        kernels::cpu::randint_fill(t, expected.data_ptr(), n, low, high, PhiloxArgs{kSeed, counter}, Stream{});
        Tensor actual = testing::cuda_empty({n}, t);
        kernels::cuda::randint_fill(t, actual.data_ptr(), n, low, high, PhiloxArgs{kSeed, counter}, stream());
        EXPECT_TRUE(same_bytes(actual, expected)) << what(t, n, counter);
      }
}

TEST(CudaRandom, DropoutMatchesCpuBitwise) {
  VOLT_REQUIRE_CUDA();
  for (DType t : {DType::f32, DType::f64, DType::f16, DType::bf16})
    for (int64_t n : kSizes)
      for (uint64_t counter : kCounters)
        for (double p : {0.1, 0.5, 0.9}) {
          const Tensor x = testing::sample(n, t, 41);
          Tensor y = empty({n}, t), mask = empty({n}, t);
          kernels::cpu::dropout(t, y.data_ptr(), mask.data_ptr(), x.data_ptr(), n, p, PhiloxArgs{kSeed, counter},
                                Stream{});
          const Tensor xd = x.to(Device::cuda(0));
          Tensor dy = testing::cuda_empty({n}, t), dmask = testing::cuda_empty({n}, t);
          kernels::cuda::dropout(t, dy.data_ptr(), dmask.data_ptr(), xd.data_ptr(), n, p, PhiloxArgs{kSeed, counter},
                                 stream());
          EXPECT_TRUE(same_bytes(dmask, mask)) << what(t, n, counter) << " p=" << p << " mask";
          EXPECT_TRUE(same_bytes(dy, y)) << what(t, n, counter) << " p=" << p << " y";
        }
}

// In a captured graph the kernels read {seed, base} from a device slot and start at base +
// offset: the same values as an eager draw at that counter.
TEST(CudaRandom, AStateSlotGivesTheEagerDrawAtItsCounter) {
  VOLT_REQUIRE_CUDA();
  const int64_t n = 4099;
  const uint64_t base = 1000, offset = 37;
  const Tensor slot =
      tensor(std::vector<int64_t>{static_cast<int64_t>(kSeed), static_cast<int64_t>(base)}).to(Device::cuda(0));
  const PhiloxArgs from_slot{0, offset, reinterpret_cast<const uint64_t*>(slot.data_ptr<int64_t>())};
  const PhiloxArgs eager{kSeed, base + offset};
  const Tensor x = testing::cuda_empty({n}, DType::f32).fill_(2.0);
  Tensor y = testing::cuda_empty({n}, DType::f32), mask = testing::cuda_empty({n}, DType::f32);
  Tensor y_ref = testing::cuda_empty({n}, DType::f32), mask_ref = testing::cuda_empty({n}, DType::f32);
  kernels::cuda::dropout(DType::f32, y.data_ptr(), mask.data_ptr(), x.data_ptr(), n, 0.5, from_slot, stream());
  kernels::cuda::dropout(DType::f32, y_ref.data_ptr(), mask_ref.data_ptr(), x.data_ptr(), n, 0.5, eager, stream());
  EXPECT_TRUE(same_bytes(mask, mask_ref));
  EXPECT_TRUE(same_bytes(y, y_ref));
  Tensor u = testing::cuda_empty({n}, DType::f64), u_ref = testing::cuda_empty({n}, DType::f64);
  kernels::cuda::random_fill(Distribution::normal, DType::f64, u.data_ptr(), n, 0.0, 1.0, from_slot, stream());
  kernels::cuda::random_fill(Distribution::normal, DType::f64, u_ref.data_ptr(), n, 0.0, 1.0, eager, stream());
  EXPECT_TRUE(same_bytes(u, u_ref));
  Tensor r = testing::cuda_empty({n}, DType::i64), r_ref = testing::cuda_empty({n}, DType::i64);
  kernels::cuda::randint_fill(DType::i64, r.data_ptr(), n, -3, 40, from_slot, stream());
  kernels::cuda::randint_fill(DType::i64, r_ref.data_ptr(), n, -3, 40, eager, stream());
  EXPECT_TRUE(same_bytes(r, r_ref));
}

TEST(CudaRandom, DropoutRefusesIntegersLikeTheCpu) {
  VOLT_REQUIRE_CUDA();
  EXPECT_THROW(kernels::cuda::dropout(DType::i32, nullptr, nullptr, nullptr, 4, 0.5, PhiloxArgs{kSeed, 0}, stream()),
               Error);
}

}  // namespace
}  // namespace volt
