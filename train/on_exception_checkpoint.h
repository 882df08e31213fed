// OnExceptionCheckpoint (Lightning's): when fit ends in an exception, saves a checkpoint to
// <dirpath>/<filename>.ckpt and points <dirpath>/last at it, so that fit(..., "last") (with a
// ModelCheckpoint of the same dirpath) or fit(..., that path) resumes. The state saved is the
// trainer's at the exception: exact when it came between batches (a SIGTERM, which the Trainer
// turns into an exception after the batch it came in, or a callback's after-batch hook); an
// exception inside a step leaves that batch's random draws and any accumulated gradients
// behind, so the resumed run repeats the batch with other draws. Under ddp the save is a
// collective: it happens when every rank fails together (a SIGTERM, which the ranks agree on).
#pragma once

#include <string>

#include "volt/train/callback.h"

namespace volt::train {

class OnExceptionCheckpoint : public Callback {
 public:
  explicit OnExceptionCheckpoint(std::string dirpath, std::string filename = "on_exception");

  std::string state_key() const override { return "OnExceptionCheckpoint{dirpath=" + dirpath_ + "}"; }
  bool runs_in_fast_dev_run() const override { return false; }
  void on_train_start(Trainer& trainer, LightningModule& module) override;
  void on_train_end(Trainer& trainer, LightningModule& module) override;
  void on_exception(Trainer& trainer, LightningModule& module, const std::exception& error) override;
  const std::string& ckpt_path() const { return path_; }

 private:
  std::string dirpath_, filename_, path_;
  bool training_ = false;  // between on_train_start and on_train_end: there is a state to save
};

}  // namespace volt::train
