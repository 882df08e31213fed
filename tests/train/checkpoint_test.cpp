// Trainer checkpoints: ModelCheckpoint's top k, exact resume (the resumed run ends with the
// uninterrupted run's weights, byte for byte) and refusing malformed checkpoints.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_support.h"
#include "tiny_net.h"

namespace volt::train {
namespace {

namespace fs = std::filesystem;
using testing::CrashAfterStep;
using testing::quiet_options;
using testing::tiny_loader;
using testing::TinyNet;

std::vector<std::string> checkpoint_folders(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && !e.is_symlink()) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(ModelCheckpoint, SaveTopKKeepsExactlyTheKBest) {
  testing::TempDir dir;
  TinyNet m;
  m.val_script = {3, 1, 2, 0.5, 4};
  auto ckpt = std::make_shared<ModelCheckpoint>(ModelCheckpointOptions{
      .dirpath = dir.path().string(), .filename = "{epoch}-{val_loss:.2f}", .monitor = "val_loss", .save_top_k = 2});
  TrainerOptions o = quiet_options();
  o.max_epochs = 5;
  o.callbacks = {ckpt};
  Trainer(o).fit(m, tiny_loader(8, 4), tiny_loader(8, 4));
  EXPECT_EQ(checkpoint_folders(dir.path()),
            (std::vector<std::string>{"epoch=1-val_loss=1.00.ckpt", "epoch=3-val_loss=0.50.ckpt"}));
  EXPECT_EQ(ckpt->best_model_path(), (dir.path() / "epoch=3-val_loss=0.50.ckpt").string());
  // Epoch 4's 4.0 was not kept: last names the newest kept one.
  EXPECT_EQ(fs::read_symlink(dir.path() / "last"), "epoch=3-val_loss=0.50.ckpt");
  for (const char* file : {"model.safetensors", "optimizer.safetensors", "trainer_state.json"})
    EXPECT_TRUE(fs::exists(dir.path() / "epoch=1-val_loss=1.00.ckpt" / file)) << file;
}

// Dropout drawing from the module's generator, shuffled batches, Adam and a per-step schedule:
// everything a resume must put back.
void configure_for_resume(TinyNet& m, const std::string& interval = "step") {
  m.make_optimizers = [interval](TinyNet& net) {
    net.optimizer = std::make_shared<optim::Adam>(net.parameters(), optim::AdamOptions(0.01));
    LRSchedulerConfig s{.scheduler = std::make_shared<optim::StepLR>(*net.optimizer, interval == "step" ? 4 : 1, 0.7),
                        .interval = interval};
    return OptimizerLRScheduler{net.optimizer, s};
  };
}

TrainerOptions resume_options(const std::string& dir, int64_t every_n_train_steps,
                              const std::string& precision = "32-true", const std::string& strategy = "auto") {
  TrainerOptions o = quiet_options();
  o.precision = precision;
  if (strategy == "dp") {  // two CPU replicas, whose dropout streams come from the module's generator
    o.strategy = "dp";
    o.devices = std::vector<Device>{Device::cpu(), Device::cpu()};
  }
  o.max_epochs = 3;
  o.num_sanity_val_steps = 1;
  o.callbacks = {std::make_shared<ModelCheckpoint>(
      ModelCheckpointOptions{.dirpath = dir, .save_top_k = -1, .every_n_train_steps = every_n_train_steps})};
  return o;
}

data::DataLoader shuffled() { return tiny_loader(40, 4, true, 7); }  // 10 batches an epoch

std::vector<uint8_t> uninterrupted_weights(const std::string& precision = "32-true",
                                           const std::string& strategy = "auto") {
  TinyNet m(0.3);
  configure_for_resume(m);
  testing::TempDir dir;
  Trainer t(resume_options(dir.path().string(), 0, precision, strategy));
  t.fit(m, shuffled(), tiny_loader(8, 4));
  EXPECT_EQ(t.global_step(), 30);
  return testing::weight_bytes(m);
}

// Crashes after step 17 with checkpoints every 13 steps, resumes from "last" (step 13, inside
// epoch 1) into a module made with other seeds, and expects the uninterrupted run's weights.
void expect_exact_resume_after_crash(const std::string& precision, const std::string& strategy = "auto") {
  const std::vector<uint8_t> expected = uninterrupted_weights(precision, strategy);
  testing::TempDir dir;
  {
    TinyNet m(0.3);
    configure_for_resume(m);
    TrainerOptions o = resume_options(dir.path().string(), 13, precision, strategy);
    o.callbacks.push_back(std::make_shared<CrashAfterStep>(17));
    Trainer t(o);
    EXPECT_THROW(t.fit(m, shuffled(), tiny_loader(8, 4)), std::runtime_error);
    EXPECT_NE(testing::weight_bytes(m), expected);
  }
  EXPECT_EQ(fs::read_symlink(dir.path() / "last"), "epoch=1-step=13.ckpt");
  EXPECT_EQ(fs::exists(dir.path() / "epoch=1-step=13.ckpt" / "grad_scaler.safetensors"), precision == "16-mixed");
  TinyNet m(0.3, /*seed=*/99);  // other initial weights and dropout stream: the checkpoint's win
  configure_for_resume(m);
  Trainer t(resume_options(dir.path().string(), 13, precision, strategy));
  t.fit(m, shuffled(), tiny_loader(8, 4), "last");
  EXPECT_EQ(t.global_step(), 30);
  EXPECT_EQ(m.training_steps, strategy == "dp" ? 0 : 30 - 13);  // under dp the replicas ran the steps
  EXPECT_EQ(testing::weight_bytes(m), expected);
}

TEST(Resume, AfterACrashInsideAnEpochEndsWithTheSameWeightsBitForBit) { expect_exact_resume_after_crash("32-true"); }
TEST(Resume, UnderSixteenMixedWithTheGradScalersState) { expect_exact_resume_after_crash("16-mixed"); }
TEST(Resume, UnderBf16Mixed) { expect_exact_resume_after_crash("bf16-mixed"); }
TEST(Resume, UnderDataParallelOverTwoReplicas) { expect_exact_resume_after_crash("32-true", "dp"); }

// A SIGTERM at step 17 (raised by a callback, as a scheduler would send it) ends fit with an
// error after that batch; OnExceptionCheckpoint saves the state, from which the run resumes.
struct SigtermAtStep : Callback {
  std::string state_key() const override { return "SigtermAtStep"; }
  void on_train_batch_end(Trainer& t, LightningModule&, const Tensor&, const Batch&, int64_t) override {
    if (t.global_step() == 17) std::raise(SIGTERM);
  }
};

TEST(Resume, AfterASigtermFromTheOnExceptionCheckpoint) {
  const std::vector<uint8_t> expected = uninterrupted_weights();
  testing::TempDir dir;
  {
    TinyNet m(0.3);
    configure_for_resume(m);
    TrainerOptions o = resume_options(dir.path().string(), 0);
    o.callbacks = {std::make_shared<SigtermAtStep>(), std::make_shared<OnExceptionCheckpoint>(dir.path().string())};
    Trainer t(o);
    testing::expect_error([&] { t.fit(m, shuffled(), tiny_loader(8, 4)); }, {"SIGTERM", "global step 17"});
    EXPECT_TRUE(t.received_sigterm());
  }
  EXPECT_EQ(fs::read_symlink(dir.path() / "last"), "on_exception.ckpt");
  TinyNet m(0.3, 99);
  configure_for_resume(m);
  Trainer t(resume_options(dir.path().string(), 0));
  t.fit(m, shuffled(), tiny_loader(8, 4), (dir.path() / "on_exception.ckpt").string());
  EXPECT_EQ(m.training_steps, 30 - 17);
  EXPECT_EQ(testing::weight_bytes(m), expected);
  EXPECT_FALSE(t.received_sigterm());
}

TEST(Resume, FromTheEndOfAnEpochStoppedByMaxSteps) {
  const std::vector<uint8_t> expected = uninterrupted_weights();
  testing::TempDir dir;
  {
    TinyNet m(0.3);
    configure_for_resume(m);
    TrainerOptions o = resume_options(dir.path().string(), 10);
    o.max_steps = 20;
    Trainer t(o);
    t.fit(m, shuffled(), tiny_loader(8, 4));
    EXPECT_EQ(t.global_step(), 20);
  }
  TinyNet m(0.3, 99);
  configure_for_resume(m);
  Trainer t(resume_options(dir.path().string(), 10));
  t.fit(m, shuffled(), tiny_loader(8, 4), (dir.path() / "epoch=1-step=20.ckpt").string());
  EXPECT_EQ(m.training_steps, 10);
  EXPECT_EQ(testing::weight_bytes(m), expected);
}

// A checkpoint written at an epoch's end (on_train_epoch_end) comes before that epoch's
// scheduler step, which the resume then takes: the lr of epoch 1 is 0.7 × that of epoch 0.
TEST(Resume, FromAnEpochEndCheckpointTakesThatEpochsSchedulerStep) {
  auto epoch_end_options = [](const std::string& dir) {
    TrainerOptions o = quiet_options();
    o.max_epochs = 3;
    o.callbacks = {std::make_shared<ModelCheckpoint>(ModelCheckpointOptions{.dirpath = dir, .save_top_k = -1})};
    return o;
  };
  std::vector<uint8_t> expected;
  {
    testing::TempDir dir;
    TinyNet m(0.3);
    configure_for_resume(m, "epoch");
    Trainer(epoch_end_options(dir.path().string())).fit(m, shuffled());
    expected = testing::weight_bytes(m);
    EXPECT_NEAR(m.optimizer->lr(), 0.01 * 0.7 * 0.7 * 0.7, 1e-12);
  }
  testing::TempDir dir;
  {
    TinyNet m(0.3);
    configure_for_resume(m, "epoch");
    TrainerOptions o = epoch_end_options(dir.path().string());
    o.callbacks.push_back(std::make_shared<CrashAfterStep>(11));  // the first batch of epoch 1
    EXPECT_THROW(Trainer(o).fit(m, shuffled()), std::runtime_error);
  }
  EXPECT_EQ(fs::read_symlink(dir.path() / "last"), "epoch=0-step=10.ckpt");
  TinyNet m(0.3, 99);
  configure_for_resume(m, "epoch");
  Trainer t(epoch_end_options(dir.path().string()));
  t.fit(m, shuffled(), std::nullopt, "last");
  EXPECT_EQ(m.training_steps, 20);
  EXPECT_EQ(testing::weight_bytes(m), expected);
}

// A checkpoint of TinyNet after 2 steps, in `dir`/good.
std::string make_checkpoint(const fs::path& dir) {
  TinyNet m;
  TrainerOptions o = quiet_options();
  o.max_steps = 2;
  o.callbacks = {std::make_shared<ModelCheckpoint>(
      ModelCheckpointOptions{.dirpath = dir.string(), .filename = "good", .every_n_train_steps = 2})};
  Trainer(o).fit(m, tiny_loader(16, 4));
  return (dir / "good.ckpt").string();
}

std::string copy_of(const std::string& good, const fs::path& dir, const std::string& name) {
  const fs::path copy = dir / name;
  fs::copy(good, copy, fs::copy_options::recursive);
  return copy.string();
}

// Resuming from `path` fails with every one of `parts` in the message and leaves the module's
// weights and its optimizer as they were.
void expect_refused(const std::string& path, const std::vector<std::string>& parts, int64_t hidden = 8,
                    bool deterministic = false) {
  TinyNet m(0.0, 1, hidden);
  const std::vector<uint8_t> before = testing::weight_bytes(m);
  TrainerOptions o = quiet_options();
  o.max_steps = 4;
  o.deterministic = deterministic;
  Trainer t(o);
  testing::expect_error([&] { t.fit(m, tiny_loader(16, 4), std::nullopt, path); }, parts);
  EXPECT_EQ(testing::weight_bytes(m), before) << path;
  ASSERT_NE(m.optimizer, nullptr);
  EXPECT_EQ(m.optimizer->step_count(), 0) << path;
  EXPECT_EQ(m.training_steps, 0);
}

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}
void write_json(const fs::path& p, const nlohmann::json& j) { std::ofstream(p) << j.dump(); }

TEST(Resume, RefusesMalformedCheckpointsAndChangesNothing) {
  testing::TempDir dir;
  const std::string good = make_checkpoint(dir.path());

  const std::string truncated = copy_of(good, dir.path(), "truncated");
  {
    const fs::path p = fs::path(truncated) / "trainer_state.json";
    const std::string text = [&] {
      std::ifstream in(p);
      return std::string(std::istreambuf_iterator<char>(in), {});
    }();
    std::ofstream(p) << text.substr(0, text.size() / 2);
  }
  expect_refused(truncated, {"truncated/trainer_state.json", "not valid JSON"});

  const std::string no_step = copy_of(good, dir.path(), "no_step");
  nlohmann::json state = read_json(fs::path(no_step) / "trainer_state.json");
  state.erase("global_step");
  write_json(fs::path(no_step) / "trainer_state.json", state);
  expect_refused(no_step, {"no_step/trainer_state.json", "'global_step' is missing"});

  const std::string two_ranks = copy_of(good, dir.path(), "two_ranks");
  state = read_json(fs::path(two_ranks) / "trainer_state.json");
  state["world_size"] = 2;
  write_json(fs::path(two_ranks) / "trainer_state.json", state);
  expect_refused(two_ranks, {"trainer_state.json", "'world_size' is 2", "1 process"});

  const std::string missing = copy_of(good, dir.path(), "missing_tensor");
  nn::StateDict model = nn::load_safetensors(missing + "/model.safetensors");
  model.erase("fc1.bias");
  nn::save_safetensors(missing + "/model.safetensors", model);
  expect_refused(missing, {"missing_tensor/model.safetensors", "'fc1.bias' is missing"});

  expect_refused(good, {"good.ckpt/model.safetensors", "'fc1.weight' has shape [8, 4]", "[5, 4]"}, /*hidden=*/5);

  const std::string bad_optimizer = copy_of(good, dir.path(), "bad_optimizer");
  nn::StateDict opt = nn::load_safetensors(bad_optimizer + "/optimizer.safetensors");
  opt.erase("step");
  nn::save_safetensors(bad_optimizer + "/optimizer.safetensors", opt);
  expect_refused(bad_optimizer, {"bad_optimizer/optimizer.safetensors", "'step'"});

  const std::string no_model = copy_of(good, dir.path(), "no_model");
  fs::remove(fs::path(no_model) / "model.safetensors");
  expect_refused(no_model, {"no_model", "model.safetensors is missing"});

  // The untouched one loads.
  TinyNet m;
  TrainerOptions o = quiet_options();
  o.max_steps = 4;
  Trainer t(o);
  t.fit(m, tiny_loader(16, 4), std::nullopt, good);
  EXPECT_EQ(m.training_steps, 2);
}

// deterministic: a resume that would not give the same bits (another CPU thread count, other
// dp replicas) is refused; without it the thread count is not checked.
TEST(Resume, DeterministicRefusesAnotherThreadCountOrOtherReplicas) {
  testing::TempDir dir;
  const std::string good = make_checkpoint(dir.path());
  const int threads = get_num_threads();
  const std::string other_threads = copy_of(good, dir.path(), "other_threads");
  nlohmann::json state = read_json(fs::path(other_threads) / "trainer_state.json");
  EXPECT_EQ(state.at("num_threads"), threads);
  state["num_threads"] = threads + 1;
  write_json(fs::path(other_threads) / "trainer_state.json", state);
  expect_refused(other_threads,
                 {"'num_threads' is " + std::to_string(threads + 1), "VOLT_NUM_THREADS=" + std::to_string(threads + 1)},
                 8, /*deterministic=*/true);
  const std::string replicas = copy_of(good, dir.path(), "replicas");
  state = read_json(fs::path(replicas) / "trainer_state.json");
  EXPECT_EQ(state.at("dp_devices"), "");
  state["dp_devices"] = "cpu,cpu";
  write_json(fs::path(replicas) / "trainer_state.json", state);
  expect_refused(replicas, {"'dp_devices' is \"cpu,cpu\"", "same replicas"}, 8, /*deterministic=*/true);

  TinyNet m;
  TrainerOptions o = quiet_options();
  o.max_steps = 4;
  Trainer(o).fit(m, tiny_loader(16, 4), std::nullopt, other_threads);
  EXPECT_EQ(m.training_steps, 2);
}

TEST(Resume, MaxTimeCountsTheTimeOfTheRunBeforeTheCheckpoint) {
  testing::TempDir dir;
  auto options = [&](int64_t max_steps) {
    TrainerOptions o = quiet_options();
    o.max_epochs = 5;
    o.max_steps = max_steps;
    o.max_time = std::chrono::hours(1);
    o.callbacks = {std::make_shared<ModelCheckpoint>(
        ModelCheckpointOptions{.dirpath = dir.path().string(), .filename = "c", .every_n_train_steps = 2})};
    return o;
  };
  {
    TinyNet m;
    Trainer(options(2)).fit(m, tiny_loader(16, 4));
  }
  // As if the run before had taken two hours: the resumed one stops after its first batch.
  const fs::path state_file = dir.path() / "c.ckpt" / "trainer_state.json";
  nlohmann::json state = read_json(state_file);
  ASSERT_TRUE(state["callbacks"].contains("Timer"));
  state["callbacks"]["Timer"]["time_elapsed"]["train"] = 7200.0;
  write_json(state_file, state);
  TinyNet m;
  Trainer t(options(-1));
  t.fit(m, tiny_loader(16, 4), std::nullopt, "last");
  EXPECT_EQ(t.global_step(), 3);
  EXPECT_EQ(m.training_steps, 1);
}

TEST(CSVLogger, WritesARowPerLogCallAndWidensTheHeader) {
  testing::TempDir dir;
  CSVLogger logger(dir.path().string(), "runs");
  EXPECT_EQ(logger.log_dir(), (dir.path() / "runs" / "version_0").string());
  logger.log_metrics({{"a", 1.5}}, 1);
  logger.log_metrics({{"a", 2.0}, {"b", 0.25}}, 2);
  logger.save();
  std::ifstream in(dir.path() / "runs/version_0/metrics.csv");
  const std::string text(std::istreambuf_iterator<char>(in), {});
  EXPECT_EQ(text, "step,a,b\n1,1.5,\n2,2,0.25\n");
  EXPECT_EQ(CSVLogger(dir.path().string(), "runs").version(), "version_1");
}

}  // namespace
}  // namespace volt::train
