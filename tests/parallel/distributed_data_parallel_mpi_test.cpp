// DistributedDataParallel at the world size mpirun gives it (1, 2 and 3 ranks): with the batch
// split over the ranks it ends with the weights one process gets from the whole batch, every
// rank holding the same bits; no_sync accumulation equals one step on the union; different
// models and unused parameters are errors that name what differs.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "test_support.h"
#include "volt/parallel/distributed_data_parallel.h"
#include "volt/volt.h"

namespace volt::parallel {
namespace {

using volt::testing::expect_error;

struct Net : nn::Module {
  explicit Net(uint64_t seed, int64_t hidden = 8, bool extra = false) {
    Generator gen(seed);
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(4, hidden, true, &gen));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(hidden, 3, true, &gen));
    if (extra) unused = register_module("unused", std::make_shared<nn::Linear>(2, 2, true, &gen));
  }
  Tensor forward(const Tensor& x) override { return (*fc2)(tanh((*fc1)(x))); }
  std::shared_ptr<nn::Linear> fc1, fc2, unused;
};

const int64_t kBatch = 48;  // divisible by 1, 2 and 3 ranks

// The same data on every rank; rank r's shard is rows [r·B/world, (r+1)·B/world).
Tensor shard(const Tensor& t, int rank, int world) {
  const int64_t rows = t.size(0) / world;
  return t.narrow(0, rank * rows, rows);
}

std::vector<double> flat_params(nn::Module& m) {
  std::vector<double> out;
  for (const Tensor& p : m.parameters())
    for (double v : p.to_vector<double>())
      out.push_back(v);
  return out;
}

// Every rank's parameters, bit for bit the same as rank 0's.
void expect_same_on_every_rank(ProcessGroup& pg, nn::Module& m) {
  const std::vector<double> mine = flat_params(m);
  const Tensor local = tensor(mine, {static_cast<int64_t>(mine.size())}, DType::f64);
  std::vector<Tensor> all;
  for (int r = 0; r < pg.size(); ++r)
    all.push_back(zeros(local.shape(), DType::f64));
  pg.all_gather(all, local)->wait();
  for (int r = 0; r < pg.size(); ++r)
    EXPECT_EQ(all[static_cast<std::size_t>(r)].to_vector<double>(), all[0].to_vector<double>()) << "rank " << r;
}

TEST(DistributedDataParallel, SplitBatchesEndWithTheWholeBatchsWeights) {
  ProcessGroup& pg = get_default_group();
  Generator data(11);
  const Tensor x = randn({kBatch, 4}, DType::f32, &data), y = randn({kBatch, 3}, DType::f32, &data);
  // The reference: one process, the whole batch. Its seed differs from the DDP model's on
  // purpose on ranks > 0: DDP starts every rank from rank 0's weights.
  auto single = std::make_shared<Net>(5);
  optim::SGD single_opt(single->parameters(), optim::SGDOptions(0.1).momentum(0.9));
  auto local = std::make_shared<Net>(5 + static_cast<uint64_t>(pg.rank()));
  auto ddp =
      std::make_shared<DistributedDataParallel>(local, &pg, DistributedDataParallelOptions{.bucket_cap_mb = 0.0001});
  EXPECT_GT(ddp->bucket_count(), 1);  // a tiny cap: several buckets, started as they fill
  optim::SGD opt(ddp->parameters(), optim::SGDOptions(0.1).momentum(0.9));
  for (int step = 0; step < 4; ++step) {
    single_opt.zero_grad();
    mse_loss((*single)(x), y).backward();
    single_opt.step();
    opt.zero_grad();
    mse_loss((*ddp)(shard(x, pg.rank(), pg.size())), shard(y, pg.rank(), pg.size())).backward();
    opt.step();
    const auto want = flat_params(*single), got = flat_params(*local);
    ASSERT_EQ(want.size(), got.size());
    for (std::size_t i = 0; i < want.size(); ++i)
      EXPECT_NEAR(got[i], want[i], 1e-5 * (1 + std::abs(want[i]))) << "step " << step << " element " << i;
    expect_same_on_every_rank(pg, *local);
  }
}

TEST(DistributedDataParallel, NoSyncAccumulatesAndTheNextBackwardReducesTheSum) {
  ProcessGroup& pg = get_default_group();
  Generator data(12);
  const Tensor x = randn({2 * kBatch, 4}, DType::f32, &data), y = randn({2 * kBatch, 3}, DType::f32, &data);
  const Tensor x1 = x.narrow(0, 0, kBatch), x2 = x.narrow(0, kBatch, kBatch);
  const Tensor y1 = y.narrow(0, 0, kBatch), y2 = y.narrow(0, kBatch, kBatch);
  auto single = std::make_shared<Net>(7);
  optim::SGD single_opt(single->parameters(), 0.1);
  add(mse_loss((*single)(x1), y1), mse_loss((*single)(x2), y2)).backward();  // the two micro-batches' sum
  single_opt.step();

  auto local = std::make_shared<Net>(7);
  DistributedDataParallel ddp(local, &pg);
  optim::SGD opt(ddp.parameters(), 0.1);
  const int rank = pg.rank(), world = pg.size();
  {
    auto no_sync = ddp.no_sync();
    mse_loss(ddp(shard(x1, rank, world)), shard(y1, rank, world)).backward();
  }
  mse_loss(ddp(shard(x2, rank, world)), shard(y2, rank, world)).backward();
  opt.step();
  const auto want = flat_params(*single), got = flat_params(*local);
  for (std::size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(got[i], want[i], 1e-5 * (1 + std::abs(want[i]))) << "element " << i;
  expect_same_on_every_rank(pg, *local);
}

TEST(DistributedDataParallel, DifferentModelsAreAnErrorNamingTheRank) {
  ProcessGroup& pg = get_default_group();
  if (pg.size() < 2) GTEST_SKIP() << "needs two ranks";
  // The last rank builds a wider hidden layer.
  auto net = std::make_shared<Net>(1, pg.rank() == pg.size() - 1 ? 9 : 8);
  expect_error(
      [&] { DistributedDataParallel ddp(net, &pg); },
      {"DistributedDataParallel: parameter 0 differs between rank 0 and rank " + std::to_string(pg.size() - 1)});
}

TEST(DistributedDataParallel, AnUnusedParameterIsNamedUnlessAllowed) {
  ProcessGroup& pg = get_default_group();
  const Tensor x = ones({kBatch / pg.size(), 4}), y = zeros({kBatch / pg.size(), 3});
  {
    auto net = std::make_shared<Net>(2, 8, /*extra=*/true);
    DistributedDataParallel ddp(net, &pg);
    mse_loss(ddp(x), y).backward();
    expect_error([&] { ddp(x); }, {"gave no gradient to unused.weight, unused.bias", "find_unused_parameters"});
  }
  auto net = std::make_shared<Net>(2, 8, /*extra=*/true);
  DistributedDataParallel ddp(net, &pg, {.find_unused_parameters = true});
  optim::SGD opt(ddp.parameters(), 0.1);
  for (int step = 0; step < 2; ++step) {
    opt.zero_grad();
    mse_loss(ddp(x), y).backward();
    opt.step();
  }
  EXPECT_EQ(net->unused->weight.grad().to_vector<float>(), std::vector<float>(4, 0.0f));
  expect_same_on_every_rank(pg, *net);
}

}  // namespace
}  // namespace volt::parallel
