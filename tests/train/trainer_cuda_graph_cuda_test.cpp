// The Trainer's graphed step on a GPU: a fit that replays its step from a CUDA graph ends with
// the same bits as the eager fit (dropout, Adam, a last smaller batch run eagerly between
// replays, logged epoch means); where it cannot graph, cuda_graph = true says why.
#include <gtest/gtest.h>

#include "cuda_test_support.h"
#include "test_support.h"
#include "tiny_net.h"

namespace volt::train {
namespace {

using testing::quiet_options;
using testing::tiny_loader;
using testing::TinyNet;

// Adam, dropout 0.5; 2 epochs of 37 samples in batches of 8 (4 full batches, then one of 5).
struct GraphedRun {
  std::vector<uint8_t> weights;
  int64_t training_steps = 0, global_step = 0, optimizer_steps = 0;
  double train_loss_epoch = 0;
  bool graphed = false;
};

GraphedRun fit(std::optional<bool> cuda_graph, const std::string& precision = "32-true") {
  cuda::empty_cache();  // each fit from a cold cache, as a fresh process has it
  TinyNet net(0.5, 7, 16);
  net.make_optimizers = [](TinyNet& m) {
    m.optimizer = std::make_shared<optim::Adam>(m.parameters(), optim::AdamOptions(1e-2));
    return OptimizerLRScheduler{m.optimizer};
  };
  TrainerOptions o = quiet_options();
  o.accelerator = "cuda";
  o.max_epochs = 2;
  o.precision = precision;
  o.cuda_graph = cuda_graph;
  Trainer trainer(o);
  trainer.fit(net, tiny_loader(37, 8, true, 3));
  GraphedRun r;
  net.to(Device::cpu());
  r.weights = testing::weight_bytes(net);
  r.training_steps = net.training_steps;
  r.global_step = trainer.global_step();
  r.optimizer_steps = net.optimizer->step_count();
  r.train_loss_epoch = trainer.callback_metrics().at("train_loss_epoch").item<double>();
  r.graphed = trainer.cuda_graph_off_reason().empty();
  return r;
}

TEST(TrainerCudaGraph, ReplayedStepsEndWithTheEagerBits) {
  VOLT_REQUIRE_CUDA();
  for (const std::string precision : {"32-true", "bf16-mixed", "16-mixed"}) {
    const GraphedRun eager = fit(false, precision), graphed = fit(std::nullopt, precision);
    EXPECT_FALSE(eager.graphed);
    EXPECT_TRUE(graphed.graphed) << precision;
    EXPECT_EQ(graphed.weights, eager.weights) << precision;
    EXPECT_EQ(graphed.global_step, eager.global_step) << precision;
    EXPECT_EQ(graphed.optimizer_steps, eager.optimizer_steps) << precision;
    EXPECT_EQ(graphed.train_loss_epoch, eager.train_loss_epoch) << precision;
    EXPECT_EQ(eager.training_steps, 10) << precision;
    // Host code in training_step ran on each epoch's warm-up and the capture, and on the smaller
    // last batches: epoch 0 batches 0, 1 (capture), 4; epoch 1 batch 4 (the graph replays 0-3).
    EXPECT_EQ(graphed.training_steps, 4) << precision;
  }
}

TEST(TrainerCudaGraph, OnWhereTheStepCannotBeGraphedSaysWhy) {
  VOLT_REQUIRE_CUDA();
  TinyNet net;
  TrainerOptions o = quiet_options();
  o.accelerator = "cuda";
  o.max_epochs = 1;
  o.accumulate_grad_batches = 2;
  o.cuda_graph = true;
  const std::string msg = volt::testing::error_of([&] { Trainer(o).fit(net, tiny_loader(16, 4)); });
  EXPECT_NE(msg.find("accumulate_grad_batches"), std::string::npos) << msg;
}

// A training_step that reads the device cannot be captured: unset, the fit goes on eagerly.
struct ReadsTheLoss : TinyNet {
  Tensor training_step(const Batch& b, int64_t i) override {
    Tensor loss = TinyNet::training_step(b, i);
    last = loss.item<double>();
    return loss;
  }
  double last = 0;
};

// The failed capture is undone on the host (gradients, step count, metrics): the fit ends with
// the bits of one that never tried.
TEST(TrainerCudaGraph, AStepThatCannotBeCapturedRunsEagerly) {
  VOLT_REQUIRE_CUDA();
  auto run = [](std::optional<bool> cuda_graph, int64_t& steps, std::string& off) {
    ReadsTheLoss net;
    TrainerOptions o = quiet_options();
    o.accelerator = "cuda";
    o.max_epochs = 1;
    o.cuda_graph = cuda_graph;
    Trainer trainer(o);
    trainer.fit(net, tiny_loader(32, 4));
    EXPECT_EQ(trainer.global_step(), 8);
    EXPECT_EQ(net.optimizer->step_count(), 8);
    steps = net.training_steps;
    off = trainer.cuda_graph_off_reason();
    net.to(Device::cpu());
    return testing::weight_bytes(net);
  };
  int64_t tried_steps = 0, eager_steps = 0;
  std::string tried_off, eager_off;
  const std::vector<uint8_t> tried = run(std::nullopt, tried_steps, tried_off);
  const std::vector<uint8_t> eager = run(false, eager_steps, eager_off);
  EXPECT_EQ(tried, eager);
  EXPECT_EQ(eager_steps, 8);
  EXPECT_EQ(tried_steps, 9);  // the failed capture ran training_step once more
  EXPECT_NE(tried_off.find("could not be captured"), std::string::npos) << tried_off;
  EXPECT_NE(tried_off.find("inside a CUDA graph capture"), std::string::npos) << tried_off;
}

// A schedule that moves the momentum (a kernel argument a replay would not see) keeps the step
// eager; one that moves only the lr (on the device) is graphed and ends with the eager bits.
TEST(TrainerCudaGraph, SchedulersThatMoveOnlyTheLrAreGraphed) {
  VOLT_REQUIRE_CUDA();
  auto run = [](bool cycle_momentum, std::optional<bool> cuda_graph, std::string& off) {
    cuda::empty_cache();
    TinyNet net(0.5, 3, 16);
    net.make_optimizers = [cycle_momentum](TinyNet& m) {
      m.optimizer = std::make_shared<optim::SGD>(m.parameters(), optim::SGDOptions(0.1).momentum(0.9));
      auto schedule = std::make_shared<optim::OneCycleLR>(*m.optimizer, 0.5, 25, 0.3, "cos", cycle_momentum);
      return OptimizerLRScheduler{m.optimizer, LRSchedulerConfig{schedule, "step"}};
    };
    TrainerOptions o = quiet_options();
    o.accelerator = "cuda";
    o.max_epochs = 2;
    o.cuda_graph = cuda_graph;
    Trainer trainer(o);
    trainer.fit(net, tiny_loader(40, 4, true, 5));
    off = trainer.cuda_graph_off_reason();
    net.to(Device::cpu());
    return testing::weight_bytes(net);
  };
  std::string off;
  run(true, std::nullopt, off);
  EXPECT_NE(off.find("momentum"), std::string::npos) << off;
  const std::vector<uint8_t> graphed = run(false, std::nullopt, off);
  EXPECT_TRUE(off.empty()) << off;
  std::string eager_off;
  EXPECT_EQ(graphed, run(false, false, eager_off));
}

}  // namespace
}  // namespace volt::train
