// EarlyStopping (Lightning's): after each validation (or, with check_on_train_epoch_end, each
// training epoch) reads `monitor` from callback_metrics; an improvement is beating the best by
// more than min_delta (below it in mode min, above in max). After `patience` checks in a row
// without one, or at once on a NaN or infinite value (check_finite), it sets
// trainer.should_stop; the Trainer then stops at the epoch's end, once min_epochs are done.
#pragma once

#include <cstdint>
#include <string>

#include "volt/train/callback.h"

namespace volt::train {

struct EarlyStoppingOptions {
  std::string monitor{};
  double min_delta = 0.0;
  int64_t patience = 3;
  std::string mode = "min";
  bool check_finite = true;
  bool check_on_train_epoch_end = false;
};

class EarlyStopping : public Callback {
 public:
  explicit EarlyStopping(EarlyStoppingOptions options);

  std::string state_key() const override;
  nlohmann::json state_dict() const override;
  void load_state_dict(const nlohmann::json& state) override;
  bool runs_in_fast_dev_run() const override { return false; }

  void on_validation_end(Trainer& trainer, LightningModule& module) override;
  void on_train_epoch_end(Trainer& trainer, LightningModule& module) override;

  double best_score() const { return best_; }
  int64_t wait_count() const { return wait_; }
  int64_t stopped_epoch() const { return stopped_epoch_; }  // -1 while it has not stopped
  const std::string& reason() const { return reason_; }     // why it stopped, for the log

 private:
  void check(Trainer& trainer);

  EarlyStoppingOptions options_;
  double best_;
  int64_t wait_ = 0, stopped_epoch_ = -1;
  std::string reason_;
};

}  // namespace volt::train
