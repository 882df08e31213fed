// Callback: code the Trainer calls at fixed points of a run, with Lightning's hook names. Each
// hook gets the Trainer (its counters, should_stop, callback_metrics(), logger) and the module.
// A callback with state that a resume needs (ModelCheckpoint's best scores, EarlyStopping's
// wait count) returns it from state_dict(); checkpoints keep it under state_key().
#pragma once

#include <cstdint>
#include <exception>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "volt/core/tensor.h"
#include "volt/train/lightning_module.h"

namespace volt::train {

class Trainer;

// What a Trainer is doing (Lightning's TrainerFn).
enum class Stage { fitting, validating, testing, predicting };

class Callback {
 public:
  virtual ~Callback() = default;

  // Where the trainer keeps this callback's state in a checkpoint; unique among its callbacks.
  virtual std::string state_key() const = 0;
  virtual nlohmann::json state_dict() const;  // default: {}
  virtual void load_state_dict(const nlohmann::json& /*state*/) {}
  // Lightning's fast_dev_run turns off checkpointing, early stopping and lr monitoring.
  virtual bool runs_in_fast_dev_run() const { return true; }

  virtual void setup(Trainer& /*trainer*/, LightningModule& /*module*/, Stage /*stage*/) {}
  virtual void on_fit_start(Trainer&, LightningModule&) {}
  virtual void on_fit_end(Trainer&, LightningModule&) {}
  virtual void on_sanity_check_start(Trainer&, LightningModule&) {}
  virtual void on_sanity_check_end(Trainer&, LightningModule&) {}
  virtual void on_train_start(Trainer&, LightningModule&) {}
  virtual void on_train_end(Trainer&, LightningModule&) {}
  virtual void on_train_epoch_start(Trainer&, LightningModule&) {}
  // After the module's on_train_epoch_end: the epoch's metrics are in callback_metrics().
  virtual void on_train_epoch_end(Trainer&, LightningModule&) {}
  virtual void on_train_batch_start(Trainer&, LightningModule&, const Batch& /*batch*/, int64_t /*batch_idx*/) {}
  // loss: training_step's result; global_step() already counts this batch's optimizer step.
  virtual void on_train_batch_end(Trainer&, LightningModule&, const Tensor& /*loss*/, const Batch& /*batch*/,
                                  int64_t /*batch_idx*/) {}
  virtual void on_validation_start(Trainer&, LightningModule&) {}
  virtual void on_validation_epoch_start(Trainer&, LightningModule&) {}
  virtual void on_validation_batch_end(Trainer&, LightningModule&, const Batch& /*batch*/, int64_t /*batch_idx*/) {}
  virtual void on_validation_epoch_end(Trainer&, LightningModule&) {}
  // The validation metrics are in callback_metrics() (not during the sanity check).
  virtual void on_validation_end(Trainer&, LightningModule&) {}
  virtual void on_test_epoch_start(Trainer&, LightningModule&) {}
  virtual void on_test_epoch_end(Trainer&, LightningModule&) {}
  // A step, hook or the trainer itself threw; the exception is rethrown after these hooks.
  virtual void on_exception(Trainer&, LightningModule&, const std::exception& /*error*/) {}
};

}  // namespace volt::train
