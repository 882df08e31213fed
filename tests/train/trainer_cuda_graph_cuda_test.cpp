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

TEST(TrainerCudaGraph, AStepThatCannotBeCapturedRunsEagerly) {
  VOLT_REQUIRE_CUDA();
  ReadsTheLoss net;
  TrainerOptions o = quiet_options();
  o.accelerator = "cuda";
  o.max_epochs = 1;
  Trainer trainer(o);
  trainer.fit(net, tiny_loader(32, 4));
  EXPECT_EQ(trainer.global_step(), 8);
  EXPECT_EQ(net.training_steps, 9);  // the failed capture ran it once more
  EXPECT_NE(trainer.cuda_graph_off_reason().find("could not be captured"), std::string::npos)
      << trainer.cuda_graph_off_reason();
}

}  // namespace
}  // namespace volt::train
