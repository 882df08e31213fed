#include "volt/train/on_exception_checkpoint.h"

#include <filesystem>

#include "volt/train/checkpoint.h"
#include "volt/train/trainer.h"

namespace volt::train {

OnExceptionCheckpoint::OnExceptionCheckpoint(std::string dirpath, std::string filename)
    : dirpath_(std::move(dirpath)), filename_(std::move(filename)) {
  VOLT_CHECK(!dirpath_.empty() && !filename_.empty(), "OnExceptionCheckpoint: dirpath and filename must not be empty");
  path_ = (std::filesystem::path(dirpath_) / (filename_ + ".ckpt")).string();
}

void OnExceptionCheckpoint::on_train_start(Trainer&, LightningModule&) { training_ = true; }
void OnExceptionCheckpoint::on_train_end(Trainer&, LightningModule&) { training_ = false; }

void OnExceptionCheckpoint::on_exception(Trainer& trainer, LightningModule& /*module*/,
                                         const std::exception& /*error*/) {
  // Before training began (a refused checkpoint, a bad option) there is nothing to save.
  if (!training_) return;
  training_ = false;
  trainer.save_checkpoint(path_);
  if (trainer.is_global_zero()) update_last_link(dirpath_, filename_ + ".ckpt");
}

}  // namespace volt::train
