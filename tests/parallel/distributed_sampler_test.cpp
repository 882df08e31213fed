// DistributedSampler against PyTorch's rules, written out here: the ranks' shards are disjoint
// and together cover the epoch's order (padded with its first indices, or cut with drop_last),
// every rank takes the same count, the order follows (seed, epoch), and a DataLoader takes the
// shard batch by batch.
#include "volt/parallel/distributed_sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <set>
#include <vector>

#include "test_support.h"
#include "volt/volt.h"

namespace volt::parallel {
namespace {

TEST(DistributedSampler, ShardsAreDisjointAndCoverThePaddedOrder) {
  for (int64_t n : {1, 2, 7, 10, 11})
    for (int64_t world : {1, 2, 3, 4})
      for (bool drop_last : {false, true}) {
        if (drop_last && n < world) continue;
        const std::vector<int64_t> order = data::epoch_permutation(n, 5, 2);
        const int64_t per_rank = drop_last ? n / world : (n + world - 1) / world;
        std::vector<int64_t> expected_all;  // the order, padded from its start or cut
        for (int64_t i = 0; i < per_rank * world; ++i)
          expected_all.push_back(order[static_cast<std::size_t>(i % n)]);
        for (int64_t r = 0; r < world; ++r) {
          const DistributedSampler s(n, world, r, true, 5, drop_last);
          EXPECT_EQ(s.size(), per_rank);
          const auto mine = s.indices(2);
          ASSERT_EQ(static_cast<int64_t>(mine.size()), per_rank);
          for (int64_t k = 0; k < per_rank; ++k)  // rank r takes positions r, r + world, ...
            EXPECT_EQ(mine[static_cast<std::size_t>(k)], expected_all[static_cast<std::size_t>(r + k * world)])
                << "n " << n << " world " << world << " rank " << r;
        }
        if (!drop_last && n % world == 0) {  // no padding: the shards partition the dataset
          std::set<int64_t> seen;
          for (int64_t r = 0; r < world; ++r)
            for (int64_t i : DistributedSampler(n, world, r, true, 5).indices(2))
              EXPECT_TRUE(seen.insert(i).second) << "index " << i << " in two shards";
          EXPECT_EQ(static_cast<int64_t>(seen.size()), n);
        }
      }
}

TEST(DistributedSampler, FollowsSeedAndEpochAndCanKeepTheOrder) {
  const DistributedSampler a(100, 2, 1, true, 7), b(100, 2, 1, true, 7), c(100, 2, 1, true, 8);
  EXPECT_EQ(a.indices(0), b.indices(0));
  EXPECT_NE(a.indices(0), a.indices(1));
  EXPECT_NE(a.indices(0), c.indices(0));
  const auto in_order = DistributedSampler(5, 2, 1, false).indices(9);
  EXPECT_EQ(in_order, (std::vector<int64_t>{1, 3, 0}));  // 0 1 2 3 4 | 0: rank 1 takes 1, 3, 0
}

TEST(DistributedSampler, FeedsADataLoader) {
  const int64_t n = 10;
  std::vector<uint8_t> values(n);  // sample i's one pixel is i
  for (int64_t i = 0; i < n; ++i)
    values[static_cast<std::size_t>(i)] = static_cast<uint8_t>(i);
  data::TensorDataset dataset(tensor(values, {n, 1}), tensor(std::vector<int64_t>(n, 0), {n}));
  auto sampler = std::make_shared<DistributedSampler>(n, 3, 2, true, 1);
  data::DataLoader loader(dataset, {.batch_size = 2}, sampler);
  EXPECT_EQ(loader.size(), 2);  // 4 samples per rank
  loader.set_epoch(3);
  std::vector<int64_t> seen;
  for (const data::Batch& b : loader)
    for (float v : b.images.to_vector<float>())
      seen.push_back(std::lround(v * 255.0f));
  EXPECT_EQ(seen, sampler->indices(3));
  EXPECT_EQ(loader.epoch(), 4u);  // an epoch run to its end moves the loader on
  volt::testing::expect_error([&] { data::DataLoader(dataset, {}, std::make_shared<DistributedSampler>(11, 3, 0)); },
                              {"the sampler was made for 11 samples, the dataset has 10"});
  volt::testing::expect_error([] { DistributedSampler(10, 2, 2); }, {"rank 2 is out of range [0, 2)"});
  volt::testing::expect_error([] { DistributedSampler(10, 0, 0); }, {"num_replicas must be at least 1"});
}

}  // namespace
}  // namespace volt::parallel
