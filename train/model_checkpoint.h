// ModelCheckpoint (Lightning's): saves checkpoint folders (checkpoint.h) every_n_train_steps
// optimizer steps (after the batch) or every_n_epochs epochs (at the epoch's end, after
// validation), keeping the save_top_k best by `monitor` (mode min or max; without a monitor,
// the newest). Each save also points the folder's `last` link at the newest checkpoint, which
// is what ckpt_path "last" resumes from.
//
// filename: a template of {epoch}, {step} and logged metric names with an optional format,
// "{epoch}-{step}-{val_loss:.4f}"; with auto_insert_metric_name each becomes name=value
// ("epoch=3-step=120-val_loss=0.2310"). The folder is <dirpath>/<filename>.ckpt. dirpath unset:
// <logger's log_dir>/checkpoints, or <default_root_dir>/checkpoints without a logger.
// save_last: when the top k do not keep this save, write last.ckpt instead (replacing it), so
// that `last` always names the newest state.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "volt/train/callback.h"

namespace volt::train {

struct ModelCheckpointOptions {
  std::string dirpath{};
  std::string filename = "{epoch}-{step}";
  std::string monitor{};
  std::string mode = "min";
  int64_t save_top_k = 1;  // -1: all; 0: none (but last.ckpt with save_last)
  bool save_last = false;
  int64_t every_n_train_steps = 0;
  // Unset: 1, unless every_n_train_steps is set.
  std::optional<int64_t> every_n_epochs{};
  bool auto_insert_metric_name = true;
};

class ModelCheckpoint : public Callback {
 public:
  explicit ModelCheckpoint(ModelCheckpointOptions options = {});

  std::string state_key() const override;
  nlohmann::json state_dict() const override;
  void load_state_dict(const nlohmann::json& state) override;
  bool runs_in_fast_dev_run() const override { return false; }

  void setup(Trainer& trainer, LightningModule& module, Stage stage) override;
  void on_train_batch_end(Trainer& trainer, LightningModule& module, const Tensor& loss, const Batch& batch,
                          int64_t batch_idx) override;
  void on_train_epoch_end(Trainer& trainer, LightningModule& module) override;

  // The folder name (without .ckpt) for these counters and metrics.
  std::string format_checkpoint_name(int64_t epoch, int64_t step, const std::map<std::string, double>& metrics) const;
  const std::string& dirpath() const { return dirpath_; }
  const std::string& best_model_path() const { return best_model_path_; }
  const std::string& last_model_path() const { return last_model_path_; }
  // The kept checkpoints by path, with their scores (0 without a monitor).
  const std::map<std::string, double>& best_k_models() const { return best_k_models_; }

 private:
  void save(Trainer& trainer);
  bool better(double a, double b) const;  // a better than b under mode
  std::string worst_kept() const;

  ModelCheckpointOptions options_;
  std::string dirpath_;
  std::map<std::string, double> best_k_models_;
  std::string best_model_path_, last_model_path_;
  int64_t last_saved_step_ = -1;
};

}  // namespace volt::train
