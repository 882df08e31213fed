#include "volt/train/progress_bar.h"

#include <unistd.h>

#include <iomanip>
#include <iostream>
#include <sstream>

#include "volt/train/trainer.h"

namespace volt::train {

ProgressBar::ProgressBar(int64_t refresh_rate, std::ostream* out, std::optional<bool> terminal)
    : refresh_rate_(refresh_rate),
      out_(out != nullptr ? out : &std::cout),
      terminal_(terminal.value_or(isatty(STDOUT_FILENO) != 0)) {
  VOLT_CHECK(refresh_rate >= 0, "ProgressBar: refresh_rate must be 0 (the trainer's log_every_n_steps) or more, got ",
             refresh_rate);
}

std::string ProgressBar::metrics_text(const Trainer& trainer) const {
  std::ostringstream text;
  text << std::setprecision(4) << std::fixed;
  for (const auto& [name, value] : trainer.progress_bar_metrics())
    text << "  " << name << ' ' << value;
  return text.str();
}

void ProgressBar::on_train_epoch_start(Trainer& /*trainer*/, LightningModule& /*module*/) { line_open_ = false; }

void ProgressBar::on_train_batch_end(Trainer& trainer, LightningModule& /*module*/, const Tensor& /*loss*/,
                                     const Batch& /*batch*/, int64_t /*batch_idx*/) {
  if (!terminal_ || !trainer.is_global_zero()) return;
  const int64_t rate = refresh_rate_ > 0 ? refresh_rate_ : trainer.options().log_every_n_steps;
  const int64_t done = trainer.batches_done(), total = trainer.num_training_batches();
  if (done % rate != 0 && done != total) return;
  constexpr int64_t kWidth = 30;
  const int64_t filled = total > 0 ? kWidth * done / total : kWidth;
  const int64_t max_epochs = trainer.max_epochs();
  *out_ << "\r\033[Kepoch " << trainer.current_epoch();
  if (max_epochs != -1) *out_ << '/' << max_epochs;
  *out_ << " [" << std::string(filled, '=') << std::string(kWidth - filled, ' ') << "] " << done << '/' << total
        << metrics_text(trainer) << std::flush;
  line_open_ = true;
}

void ProgressBar::on_train_epoch_end(Trainer& trainer, LightningModule& /*module*/) {
  if (!trainer.is_global_zero()) return;
  if (line_open_) *out_ << "\r\033[K";
  *out_ << "epoch " << trainer.current_epoch() << ": " << trainer.batches_done() << " batches, step "
        << trainer.global_step() << metrics_text(trainer) << std::endl;
  line_open_ = false;
}

void ProgressBar::on_validation_end(Trainer& trainer, LightningModule& /*module*/) {
  if (!trainer.is_global_zero() || trainer.sanity_checking() || trainer.stage() != Stage::fitting) return;
  if (line_open_) *out_ << "\r\033[K";
  *out_ << "validation at step " << trainer.global_step() << metrics_text(trainer) << std::endl;
  line_open_ = false;
}

}  // namespace volt::train
