// The Trainer under strategy ddp at the world size mpirun gives it (CTest: 1, 2 and 3 ranks).
// DistributedSampler gives rank r every world-th sample of the epoch's order from position r, so
// the ranks' i-th batches of B together are the i-th batch of world·B of one process over the
// same order; DistributedDataParallel averages their gradients, so each rank ends with the
// weights of that one-process run (to rounding). And a ddp run that crashes resumes, on every
// rank, to the uninterrupted ddp run's weights bit for bit, dropout drawing per-rank streams.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "test_support.h"
#include "tiny_net.h"

namespace volt::train {
namespace {

namespace fs = std::filesystem;
using testing::CrashAfterStep;
using testing::quiet_options;
using testing::tiny_loader;
using testing::TinyNet;

TEST(TrainerDDP, EachRankEndsWithTheWeightsOfOneProcessOnTheWholeBatch) {
  const int world = parallel::get_world_size();
  constexpr int64_t kBatch = 4, kSamples = 24;  // divisible by 4·world for 1, 2 and 3: no padding
  TinyNet reference(0.0);
  TrainerOptions one = quiet_options();
  one.max_epochs = 2;
  Trainer(one).fit(reference, tiny_loader(kSamples, kBatch * world, true, 3));

  TinyNet m(0.0);
  TrainerOptions o = quiet_options();
  o.max_epochs = 2;
  o.strategy = "ddp";
  Trainer t(o);
  t.fit(m, tiny_loader(kSamples, kBatch, true, 3), tiny_loader(8, 4));
  EXPECT_EQ(t.world_size(), world);
  EXPECT_EQ(t.global_step(), 2 * kSamples / (kBatch * world));
  EXPECT_NE(testing::weight_bytes(m), testing::weight_bytes(TinyNet(0.0)));
  for (const auto& [name, w] : reference.state_dict())
    EXPECT_TRUE(allclose(m.state_dict().at(name), w, 1e-5, 1e-6)) << name << " on rank " << t.global_rank();
}

// num_nodes × devices must be the world mpirun started (every rank refuses alike, before training).
TEST(TrainerDDP, NumNodesTimesDevicesMustBeTheWorld) {
  const int world = parallel::get_world_size();
  TinyNet m(0.0);
  TrainerOptions o = quiet_options();
  o.strategy = "ddp";
  o.max_steps = 1;
  o.num_nodes = world + 1;
  testing::expect_error(
      [&] { Trainer(o).fit(m, tiny_loader(24, 4)); },
      {"make a world of " + std::to_string(world + 1) + " processes, but the job has " + std::to_string(world)});
  o.num_nodes = 1;
  o.devices = world;  // one node running `world` processes
  Trainer t(o);
  t.fit(m, tiny_loader(24, 4));
  EXPECT_EQ(t.global_step(), 1);
}

TrainerOptions ddp_options(const std::string& dir) {
  TrainerOptions o = quiet_options();
  o.strategy = "ddp";
  o.max_epochs = 2;
  o.callbacks = {std::make_shared<ModelCheckpoint>(
      ModelCheckpointOptions{.dirpath = dir, .save_top_k = -1, .every_n_train_steps = 3})};
  return o;
}

TEST(TrainerDDP, ResumesAfterACrashToTheUninterruptedWeightsOnEveryRank) {
  const int rank = parallel::get_rank();
  // One folder for all ranks: they are children of the same launcher on this machine.
  const fs::path dir = fs::temp_directory_path() / ("volt_train_ddp_" + std::to_string(::getppid()));
  auto loader = [] { return tiny_loader(48, 2, true, 5); };  // 48 / (2·world) steps an epoch
  std::vector<uint8_t> expected;
  {
    TinyNet m(0.3, 1 + rank);  // each rank's own dropout stream
    Trainer t(ddp_options((dir / "uninterrupted").string()));
    t.fit(m, loader());
    expected = testing::weight_bytes(m);
  }
  const int64_t steps = 2 * 48 / (2 * parallel::get_world_size());
  {
    TinyNet m(0.3, 1 + rank);
    TrainerOptions o = ddp_options((dir / "crashed").string());
    o.callbacks.push_back(std::make_shared<CrashAfterStep>(steps / 2 + 1));  // past the checkpoint at 3·⌊s/6⌋
    Trainer t(o);
    EXPECT_THROW(t.fit(m, loader()), std::runtime_error);
  }
  TinyNet m(0.3, 100 + rank);
  Trainer t(ddp_options((dir / "crashed").string()));
  t.fit(m, loader(), std::nullopt, "last");
  EXPECT_EQ(t.global_step(), steps);
  EXPECT_LT(m.training_steps, steps);
  EXPECT_EQ(testing::weight_bytes(m), expected) << "rank " << rank;
  parallel::get_default_group().barrier()->wait();
  if (rank == 0) fs::remove_all(dir);
}

}  // namespace
}  // namespace volt::train
