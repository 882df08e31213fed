// LightningModule: the module contract of the Trainer, with PyTorch Lightning's names. A
// LightningModule is an nn::Module (its parameters, buffers, children and state_dict are the
// model's) that also says how to train it: training_step returns the loss of a batch,
// configure_optimizers the optimizer and an optional learning-rate scheduler, and log() records
// metrics, which stay tensors on the device until the Trainer reads them.
//
//   struct Net : train::LightningModule {
//     Net() : fc(register_module("fc", std::make_shared<nn::Linear>(784, 10, true, &gen))) {
//       register_generator("gen", gen);  // its state goes into checkpoints
//     }
//     Tensor forward(const Tensor& x) override { return (*fc)(x); }
//     Tensor training_step(const train::Batch& b, int64_t) override {
//       Tensor loss = cross_entropy(forward(b.images), b.labels);
//       log("train_loss", loss, {.prog_bar = true});
//       return loss;
//     }
//     train::OptimizerLRScheduler configure_optimizers() override {
//       return {std::make_shared<optim::Adam>(parameters(), 1e-3)};
//     }
//     Generator gen{0};
//     std::shared_ptr<nn::Linear> fc;
//   };
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "volt/core/generator.h"
#include "volt/core/tensor.h"
#include "volt/data/tensor_dataset.h"
#include "volt/nn/module.h"
#include "volt/nn/optim/optimizer.h"
#include "volt/nn/optim/scheduler.h"
#include "volt/train/logged_metrics.h"

namespace volt::train {

class Trainer;
class LogScope;

// What a DataLoader yields: images and labels, moved to the module's device before a step.
using Batch = data::Batch;

// Lightning's lr_scheduler_config: the scheduler steps every `frequency` optimizer steps
// (interval "step") or epochs (interval "epoch"). name: what LearningRateMonitor calls its lr
// (default "lr-<optimizer>").
struct LRSchedulerConfig {
  std::shared_ptr<optim::LRScheduler> scheduler{};
  std::string interval = "epoch";
  int64_t frequency = 1;
  std::string name{};
};

// configure_optimizers()'s answer (Lightning's OptimizerLRScheduler, one optimizer). The
// scheduler must schedule this optimizer.
struct OptimizerLRScheduler {
  std::shared_ptr<optim::Optimizer> optimizer{};
  std::optional<LRSchedulerConfig> lr_scheduler{};
};

class LightningModule : public nn::Module {
 public:
  // The loss of one batch; the Trainer calls backward on it (divided by accumulate_grad_batches).
  virtual Tensor training_step(const Batch& batch, int64_t batch_idx) = 0;
  // Run without gradients, in eval mode; they report through log().
  virtual void validation_step(const Batch& /*batch*/, int64_t /*batch_idx*/) {}
  virtual void test_step(const Batch& /*batch*/, int64_t /*batch_idx*/) {}
  // By default forward(batch.images).
  virtual Tensor predict_step(const Batch& batch, int64_t batch_idx);
  virtual OptimizerLRScheduler configure_optimizers() = 0;
  // What a logger records as the run's hyperparameters (Lightning's self.hparams); default {}.
  virtual nlohmann::json hparams() const;

  // Hooks, called by the Trainer after the callbacks' hooks of the same name.
  virtual void on_fit_start() {}
  virtual void on_fit_end() {}
  virtual void on_train_epoch_start() {}
  virtual void on_train_epoch_end() {}
  virtual void on_validation_epoch_start() {}
  virtual void on_validation_epoch_end() {}
  virtual void on_test_epoch_start() {}
  virtual void on_test_epoch_end() {}
  virtual void on_train_batch_start(const Batch& /*batch*/, int64_t /*batch_idx*/) {}
  virtual void on_train_batch_end(const Tensor& /*loss*/, const Batch& /*batch*/, int64_t /*batch_idx*/) {}

  // Records a metric of the step being run (or of the epoch hooks above). No host read: the
  // value is kept as a tensor (see LoggedMetrics). Outside a Trainer's run it is an error.
  void log(const std::string& name, const Tensor& value, const LogOptions& options = {});
  void log(const std::string& name, double value, const LogOptions& options = {});

  // Generators whose seed and offset checkpoints save and restore, beside the process-wide
  // default_generator() (a Dropout's or Linear's own, say). `gen` must outlive the module.
  void register_generator(const std::string& name, Generator& gen);
  const std::vector<std::pair<std::string, Generator*>>& generators() const { return generators_; }

  // The Trainer running this module (null outside a run), and its counters.
  Trainer* trainer() const { return trainer_; }
  int64_t current_epoch() const;
  int64_t global_step() const;

 private:
  friend class Trainer;
  friend class LogScope;
  // Where log() writes during a step or an epoch hook, with the stage's defaults.
  struct LogContext {
    LoggedMetrics* metrics = nullptr;
    bool on_step = false, on_epoch = true;
    int64_t batch_size = 1;
  };
  Trainer* trainer_ = nullptr;
  LogContext log_context_;
  std::vector<std::pair<std::string, Generator*>> generators_;
};

}  // namespace volt::train
