// LearningRateMonitor (Lightning's): sends the optimizer's learning rate to the logger, as
// "lr-<name>" (the scheduler config's name, else lr-<optimizer>; "/pg<g>" per group when there
// are several), at each logged step (logging_interval "step") or each epoch's start ("epoch").
// The rate logged for a step is the one that step used.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "volt/train/callback.h"

namespace volt::train {

class LearningRateMonitor : public Callback {
 public:
  explicit LearningRateMonitor(std::string logging_interval = "step", std::string optimizer_name = "");

  std::string state_key() const override { return "LearningRateMonitor"; }
  bool runs_in_fast_dev_run() const override { return false; }

  void on_train_epoch_start(Trainer& trainer, LightningModule& module) override;
  void on_train_batch_start(Trainer& trainer, LightningModule& module, const Batch& batch, int64_t batch_idx) override;
  void on_train_batch_end(Trainer& trainer, LightningModule& module, const Tensor& loss, const Batch& batch,
                          int64_t batch_idx) override;

 private:
  std::map<std::string, double> rates(const Trainer& trainer) const;

  std::string interval_, optimizer_name_;
  std::map<std::string, double> step_rates_;  // taken before the step
};

}  // namespace volt::train
