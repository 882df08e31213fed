// ProgressBar: on rank 0, the epoch's progress and the prog_bar metrics. On a terminal, one line
// redrawn every refresh_rate batches (0: at the trainer's log_every_n_steps); otherwise a plain
// line at each epoch's end and after each validation. Reading the metrics is a device read,
// which is why it happens at refresh points only.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "volt/train/callback.h"

namespace volt::train {

class ProgressBar : public Callback {
 public:
  // out: where it writes (std::cout by default); terminal: whether it redraws a line (by default,
  // whether stdout is a terminal).
  explicit ProgressBar(int64_t refresh_rate = 0, std::ostream* out = nullptr, std::optional<bool> terminal = {});

  std::string state_key() const override { return "ProgressBar"; }

  void on_train_epoch_start(Trainer& trainer, LightningModule& module) override;
  void on_train_batch_end(Trainer& trainer, LightningModule& module, const Tensor& loss, const Batch& batch,
                          int64_t batch_idx) override;
  void on_train_epoch_end(Trainer& trainer, LightningModule& module) override;
  void on_validation_end(Trainer& trainer, LightningModule& module) override;

 private:
  std::string metrics_text(const Trainer& trainer) const;

  int64_t refresh_rate_;
  std::ostream* out_;
  bool terminal_;
  bool line_open_ = false;
};

}  // namespace volt::train
