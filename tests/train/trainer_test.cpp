// The Trainer's loop: gradient accumulation, clipping, batch limits and stopping rules, early
// stopping. Expected counts and values are worked out by hand from the options' meanings.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "test_support.h"
#include "tiny_net.h"

namespace volt::train {
namespace {

namespace fs = std::filesystem;
using testing::quiet_options;
using testing::tiny_loader;
using testing::TinyNet;

// CUDA graphs are for CUDA devices: on the CPU the step runs eagerly, and asking for a graph
// is an error that says why (the GPU side: trainer_cuda_graph_cuda_test.cpp).
TEST(Trainer, CudaGraphOnTheCpuIsEagerAndAskingForItIsAnError) {
  TinyNet net;
  TrainerOptions o = quiet_options();
  o.accelerator = "cpu";
  o.max_epochs = 1;
  Trainer trainer(o);
  trainer.fit(net, tiny_loader(16, 4));
  EXPECT_FALSE(trainer.cuda_graph_active());
  EXPECT_NE(trainer.cuda_graph_off_reason().find("not a CUDA device"), std::string::npos)
      << trainer.cuda_graph_off_reason();
  EXPECT_EQ(net.training_steps, 4);
  o.cuda_graph = true;
  TinyNet other;
  const std::string msg = volt::testing::error_of([&] { Trainer(o).fit(other, tiny_loader(16, 4)); });
  EXPECT_NE(msg.find("cuda_graph = true"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not a CUDA device"), std::string::npos) << msg;
}

TEST(Trainer, AccumulatingFourBatchesStepsLikeOneBatchFourTimesAsLarge) {
  TinyNet small(0.0), large(0.0);
  ASSERT_EQ(testing::weight_bytes(small), testing::weight_bytes(large));
  TrainerOptions a = quiet_options();
  a.max_epochs = 1;
  a.accumulate_grad_batches = 4;
  Trainer(a).fit(small, tiny_loader(32, 2));  // 16 batches of 2: 4 steps of 8 samples
  TrainerOptions b = quiet_options();
  b.max_epochs = 1;
  Trainer trainer_b(b);
  trainer_b.fit(large, tiny_loader(32, 8));  // 4 batches of 8
  EXPECT_EQ(trainer_b.global_step(), 4);
  EXPECT_EQ(small.optimizer->step_count(), 4);
  EXPECT_NE(testing::weight_bytes(large), testing::weight_bytes(TinyNet(0.0)));  // it trained
  for (const auto& [name, t] : large.state_dict())
    EXPECT_TRUE(allclose(small.state_dict().at(name), t, 1e-5, 1e-6)) << name;
}

// A module whose loss is sum(p * k): its gradient is k whatever the batch.
struct LinearLoss : LightningModule {
  LinearLoss() { p = register_parameter("p", tensor({1.0, 2.0, 3.0})); }
  Tensor training_step(const Batch&, int64_t) override { return (p * tensor({3.0, 4.0, 12.0})).sum(); }
  OptimizerLRScheduler configure_optimizers() override {
    return {std::make_shared<optim::SGD>(parameters(), optim::SGDOptions(1.0))};
  }
  Tensor p;
};

// One SGD step (lr 1) of LinearLoss with these clipping options; p after it.
std::vector<float> one_clipped_step(double clip_val, const std::string& algorithm) {
  LinearLoss m;
  TrainerOptions o = quiet_options();
  o.max_epochs = 1;
  o.limit_train_batches = 1;
  o.gradient_clip_val = clip_val;
  o.gradient_clip_algorithm = algorithm;
  Trainer(o).fit(m, tiny_loader(4, 4));
  return m.p.to_vector<float>();
}

TEST(Trainer, ClipsTheGradientNormBeforeTheStep) {
  const std::vector<float> p = one_clipped_step(1.3, "norm");
  // |(3, 4, 12)| = 13, so the gradient is scaled by 1.3 / (13 + 1e-6) to about (0.3, 0.4, 1.2).
  const double s = 1.3 / (13.0 + 1e-6);
  EXPECT_NEAR(p[0], 1.0 - 3.0 * s, 1e-6);
  EXPECT_NEAR(p[1], 2.0 - 4.0 * s, 1e-6);
  EXPECT_NEAR(p[2], 3.0 - 12.0 * s, 1e-6);
}

TEST(Trainer, ClipsGradientValues) {
  EXPECT_EQ(one_clipped_step(3.5, "value"), (std::vector<float>{1.0f - 3.0f, 2.0f - 3.5f, 3.0f - 3.5f}));
}

TEST(Trainer, LimitTrainBatchesAsAFractionAndAsACount) {
  TinyNet m;
  TrainerOptions o = quiet_options();
  o.max_epochs = 3;
  o.limit_train_batches = 0.5;  // 10 batches a epoch: 5
  Trainer t(o);
  t.fit(m, tiny_loader(40, 4));
  EXPECT_EQ(t.global_step(), 15);
  EXPECT_EQ(m.training_steps, 15);
  EXPECT_EQ(t.current_epoch(), 3);

  TinyNet m2;
  TrainerOptions o2 = quiet_options();
  o2.max_epochs = 2;
  o2.limit_train_batches = 3;
  o2.accumulate_grad_batches = 2;  // steps after batches 2 and 3 (the epoch's last)
  Trainer t2(o2);
  t2.fit(m2, tiny_loader(40, 4));
  EXPECT_EQ(m2.training_steps, 6);
  EXPECT_EQ(t2.global_step(), 4);
}

TEST(Trainer, MaxStepsStopsInsideAnEpochAndMaxEpochsIsThenUnlimited) {
  TinyNet m;
  TrainerOptions o = quiet_options();
  o.max_steps = 23;  // 10 batches a epoch: two epochs and 3 batches
  Trainer t(o);
  EXPECT_EQ(t.max_epochs(), -1);
  t.fit(m, tiny_loader(40, 4));
  EXPECT_EQ(t.global_step(), 23);
  EXPECT_EQ(t.current_epoch(), 2);
  EXPECT_EQ(t.batches_done(), 3);
  EXPECT_EQ(Trainer(quiet_options()).max_epochs(), 1000);
}

TEST(Trainer, ValidatesAtTheIntervalAndFastDevRunRunsOneBatchOfEach) {
  TinyNet m;
  TrainerOptions o = quiet_options();
  o.max_epochs = 2;
  o.limit_val_batches = 2;
  o.val_check_interval = 0.5;  // of 10 batches: after batches 5 and 10
  o.num_sanity_val_steps = 1;
  Trainer(o).fit(m, tiny_loader(40, 4), tiny_loader(20, 4));
  EXPECT_EQ(m.validation_steps, 1 + 2 * 2 * 2);  // sanity + 2 epochs × 2 checks × 2 batches

  TinyNet fast;
  TrainerOptions f = quiet_options();
  f.fast_dev_run = true;
  f.max_epochs = 5;
  f.enable_checkpointing = true;  // fast_dev_run turns it off: nothing may be written
  f.default_root_dir = testing::TempDir().path().string() + "/never";
  Trainer tf(f);
  tf.fit(fast, tiny_loader(40, 4), tiny_loader(20, 4));
  EXPECT_EQ(fast.training_steps, 1);
  EXPECT_EQ(fast.validation_steps, 1);
  EXPECT_EQ(tf.global_step(), 1);
  EXPECT_FALSE(std::filesystem::exists(f.default_root_dir));
  EXPECT_EQ(tf.checkpoint_callback(), nullptr);
}

TEST(Trainer, EarlyStoppingStopsAfterPatienceChecksWithoutImprovement) {
  // best 5, then 4 (better), 4.5 and 4.2 (no better than 4): the second miss, at epoch 3, stops.
  TinyNet m;
  m.val_script = {5, 4, 4.5, 4.2, 4.1, 1, 1, 1, 1, 1};
  auto stopper = std::make_shared<EarlyStopping>(EarlyStoppingOptions{.monitor = "val_loss", .patience = 2});
  TrainerOptions o = quiet_options();
  o.max_epochs = 10;
  o.callbacks = {stopper};
  Trainer t(o);
  t.fit(m, tiny_loader(8, 4), tiny_loader(8, 4));
  EXPECT_EQ(stopper->stopped_epoch(), 3);
  EXPECT_EQ(t.current_epoch(), 4);  // epoch 3 finished, no more
  EXPECT_DOUBLE_EQ(stopper->best_score(), 4.0);

  // min_delta 0.6: 4 beats 5 by more than it; 4.5, 4.2 and 4.1 miss (stops asked at epochs 3 and
  // 4, the latter the last one recorded, as Lightning records it), and with min_epochs 6 the stop
  // waits for epoch 5's end, although epoch 5's 1.0 improves.
  TinyNet m2;
  m2.val_script = m.val_script;
  auto stopper2 =
      std::make_shared<EarlyStopping>(EarlyStoppingOptions{.monitor = "val_loss", .min_delta = 0.6, .patience = 2});
  o.callbacks = {stopper2};
  o.min_epochs = 6;
  Trainer t2(o);
  t2.fit(m2, tiny_loader(8, 4), tiny_loader(8, 4));
  EXPECT_EQ(stopper2->stopped_epoch(), 4);
  EXPECT_DOUBLE_EQ(stopper2->best_score(), 1.0);
  EXPECT_EQ(t2.current_epoch(), 6);
}

TEST(Trainer, MaxTimeIsATimerThatStopsAfterTheBatchThatReachesIt) {
  TinyNet m;
  TrainerOptions o = quiet_options();
  o.max_epochs = 3;
  o.max_time = std::chrono::seconds(0);  // reached by the first batch
  Trainer t(o);
  t.fit(m, tiny_loader(40, 4));
  EXPECT_EQ(t.global_step(), 1);
  EXPECT_EQ(t.current_epoch(), 0);
  bool has_timer = false;
  for (const auto& cb : t.callbacks())
    has_timer |= dynamic_cast<Timer*>(cb.get()) != nullptr;
  EXPECT_TRUE(has_timer);
}

TEST(Trainer, EarlyStoppingStopsAtOnceOnANonFiniteValue) {
  TinyNet m;
  m.val_script = {3, 2, std::nan(""), 1, 1};
  auto stopper = std::make_shared<EarlyStopping>(EarlyStoppingOptions{.monitor = "val_loss", .patience = 5});
  TrainerOptions o = quiet_options();
  o.max_epochs = 5;
  o.callbacks = {stopper};
  Trainer t(o);
  t.fit(m, tiny_loader(8, 4), tiny_loader(8, 4));
  EXPECT_EQ(t.current_epoch(), 3);
}

TEST(Trainer, LogsStepAndEpochValuesWithoutMixingThem) {
  TinyNet m;
  TrainerOptions o = quiet_options();
  o.max_epochs = 1;
  Trainer t(o);
  t.fit(m, tiny_loader(12, 4), tiny_loader(8, 4));
  const Metrics& cm = t.callback_metrics();
  for (const char* name : {"train_loss_step", "train_loss_epoch", "train_loss", "val_loss"})
    EXPECT_TRUE(cm.contains(name)) << name;
  EXPECT_EQ(cm.at("train_loss").item<double>(), cm.at("train_loss_epoch").item<double>());
}

TEST(Trainer, DefaultLoggerCheckpointsAndPlainProgressLines) {
  testing::TempDir dir;
  TinyNet m;
  std::ostringstream progress;
  TrainerOptions o = quiet_options();
  o.max_epochs = 2;
  o.log_every_n_steps = 2;
  o.default_root_dir = dir.path().string();
  o.logger = true;
  o.enable_checkpointing = true;
  o.callbacks = {std::make_shared<ProgressBar>(0, &progress, false), std::make_shared<LearningRateMonitor>()};
  Trainer(o).fit(m, tiny_loader(12, 4), tiny_loader(8, 4));  // 3 steps an epoch
  const fs::path run = dir.path() / "lightning_logs" / "version_0";
  EXPECT_TRUE(fs::exists(run / "hparams.json"));
  // The default ModelCheckpoint: every epoch, the newest kept.
  EXPECT_EQ(fs::read_symlink(run / "checkpoints" / "last"), "epoch=1-step=6.ckpt");
  EXPECT_FALSE(fs::exists(run / "checkpoints" / "epoch=0-step=3.ckpt"));
  std::ifstream csv(run / "metrics.csv");
  std::string header;
  std::getline(csv, header);
  EXPECT_EQ(header, "step,epoch,lr-SGD,train_loss_epoch,train_loss_step,val_loss");
  std::vector<std::string> steps;  // step values logged: 2, 4, 6 and each epoch's end (3, 6)
  for (std::string line; std::getline(csv, line);)
    steps.push_back(line.substr(0, line.find(',')));
  EXPECT_EQ(steps, (std::vector<std::string>{"2", "2", "3", "3", "4", "4", "6", "6", "6", "6"}));
  const std::string text = progress.str();
  EXPECT_NE(text.find("epoch 0: 3 batches, step 3  train_loss_epoch "), std::string::npos) << text;
  EXPECT_NE(text.find("epoch 1: 3 batches, step 6"), std::string::npos) << text;
}

// strategy dp: each batch cut over two CPU replicas (5 samples: parts of 3 and 2; the last batch
// of 2: 1 and 1) trains as the module on one device does, up to the order of the gradients' sum;
// the replicas' logged losses come back as the batch's mean.
TEST(Trainer, DataParallelOverTwoCpuReplicasTrainsAsOneDevice) {
  TinyNet one(0.0), two(0.0);
  TrainerOptions a = quiet_options();
  a.max_epochs = 2;
  Trainer ta(a);
  ta.fit(one, tiny_loader(12, 5), tiny_loader(8, 4));
  TrainerOptions b = a;
  b.strategy = "dp";
  b.devices = std::vector<Device>{Device::cpu(), Device::cpu()};
  Trainer tb(b);
  tb.fit(two, tiny_loader(12, 5), tiny_loader(8, 4));
  EXPECT_EQ(tb.global_step(), 6);
  EXPECT_EQ(two.training_steps, 0);  // the replicas ran every step, each batch having two parts
  EXPECT_NE(testing::weight_bytes(two), testing::weight_bytes(TinyNet(0.0)));  // it trained
  for (const auto& [name, t] : one.state_dict())
    EXPECT_TRUE(allclose(two.state_dict().at(name), t, 1e-5, 1e-6)) << name;
  for (const char* name : {"train_loss_step", "train_loss_epoch", "val_loss"})
    EXPECT_NEAR(tb.callback_metrics().at(name).item<double>(), ta.callback_metrics().at(name).item<double>(), 1e-5)
        << name;
}

TEST(Trainer, DataParallelWithOneDeviceRunsTheModuleAndCountsMeanNDevices) {
  TinyNet m(0.0);
  TrainerOptions o = quiet_options();
  o.max_epochs = 1;
  o.strategy = "dp";  // devices = 1: the module itself, no replica
  Trainer(o).fit(m, tiny_loader(12, 4));
  EXPECT_EQ(m.training_steps, 3);
  o.devices = 3;  // three CPU replicas
  Trainer t(o);
  TinyNet r(0.0);
  t.fit(r, tiny_loader(12, 4));
  EXPECT_EQ(r.training_steps, 0);
  EXPECT_EQ(t.global_step(), 3);
}

TEST(Trainer, DataParallelRefusesAModuleWithoutClone) {
  LinearLoss m;
  TrainerOptions o = quiet_options();
  o.max_epochs = 1;
  o.strategy = "dp";
  o.devices = 2;
  testing::expect_error([&] { Trainer(o).fit(m, tiny_loader(4, 4)); }, {"does not implement clone()"});
}

TEST(Trainer, RefusesOptionsItDoesNotHave) {
  testing::expect_error([] { Trainer({.precision = "8-true"}); }, {"precision", "8-true"});
  testing::expect_error([] { Trainer({.devices = 2}); }, {"devices = 2", "except under strategy dp"});
  testing::expect_error([] { Trainer({.devices = 0}); }, {"devices must be at least 1, got 0"});
  testing::expect_error([] { Trainer({.num_nodes = 2}); }, {"num_nodes = 2 needs strategy ddp"});
  testing::expect_error(
      [] {
        TrainerOptions o = quiet_options();
        o.devices = std::vector<Device>{Device::cuda(0)};
        LinearLoss m;
        Trainer(o).fit(m, tiny_loader(4, 4));
      },
      {"names cuda:0, which is not a device of accelerator cpu"});
  testing::expect_error([] { Trainer({.strategy = "fsdp"}); }, {"strategy 'fsdp'"});
  testing::expect_error(
      [] {
        TrainerOptions o;
        o.limit_train_batches = 1.5;
      },
      {"[0, 1]"});
}

}  // namespace
}  // namespace volt::train
