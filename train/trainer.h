// Trainer: PyTorch Lightning's training loop for a LightningModule, with Lightning's option
// names and documented meanings (see docs/trainer.md for what is built and what differs).
//
//   train::Trainer trainer({.max_epochs = 10, .precision = "16-mixed", .gradient_clip_val = 1.0});
//   trainer.fit(net, train_loader, val_loader);
//   trainer.fit(net, train_loader, val_loader, "last");  // resumes at the exact batch
//
// One step: training_step under autocast (mixed precision), the loss divided by
// accumulate_grad_batches and backward (through the GradScaler under "16-mixed"); every
// accumulate_grad_batches batches, and at the epoch's last, the gradients are unscaled,
// clipped, the optimizer steps, the gradients are dropped, global_step counts one, and a
// scheduler with interval "step" steps. Nothing in a step reads the device: logged metrics
// are read at log_every_n_steps boundaries and epoch ends. On a CUDA device the step is
// captured as one CUDA graph after a warm-up batch and replayed for every later batch of the
// same shape (cuda_graph below; docs/trainer.md). Under strategy "ddp" (one process
// per device, under mpirun) the loaders are sharded and the step runs inside
// DistributedDataParallel; under "dp" (one process) each batch is cut over replicas of the
// module on `devices` (docs/trainer.md).
#pragma once

#include <chrono>
#include <csignal>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "volt/core/device_graph.h"
#include "volt/data/data_loader.h"
#include "volt/nn/optim/grad_scaler.h"
#include "volt/parallel/data_parallel.h"
#include "volt/parallel/distributed_data_parallel.h"
#include "volt/train/callback.h"
#include "volt/train/data_module.h"
#include "volt/train/device_batches.h"
#include "volt/train/lightning_module.h"
#include "volt/train/logged_metrics.h"
#include "volt/train/logger.h"

namespace volt::train {

class ModelCheckpoint;
class TrainingStepModule;  // trainer_ddp.cpp
class ReplicaStepModule;   // trainer_dp.cpp
class SigtermScope;        // trainer.cpp

// Lightning's int-or-float batch counts: a whole number is a count of batches, a fraction of
// 1.0 the part of the loader (limit_train_batches = 10, or = 0.25).
class BatchCount {
 public:
  BatchCount(int count) : BatchCount(static_cast<int64_t>(count)) {}  // NOLINT: 10 reads as a count
  BatchCount(int64_t count);                                          // NOLINT
  BatchCount(double fraction);                                        // NOLINT
  // Of a loader of `size` batches; `what` names the option in errors.
  int64_t of(int64_t size, const char* what) const;
  const std::optional<int64_t>& count() const { return count_; }  // unset for a fraction

 private:
  std::optional<int64_t> count_;
  std::optional<double> fraction_;
};

// Lightning's devices: a count, or the devices themselves. Under strategy dp a list may repeat
// a device (cpu,cpu runs two replicas on the CPU); a count there means cuda:0 .. cuda:N-1 on a
// GPU accelerator and N CPU replicas on the CPU one.
class Devices {
 public:
  Devices(int count) : Devices(static_cast<int64_t>(count)) {}  // NOLINT: 2 reads as a count
  Devices(int64_t count);                                       // NOLINT
  Devices(std::vector<Device> list);                            // NOLINT
  int64_t size() const { return list_.empty() ? count_ : static_cast<int64_t>(list_.size()); }
  const std::vector<Device>& list() const { return list_; }  // empty for a count
  std::string str() const;                                   // "2" or "cpu,cpu"

 private:
  int64_t count_ = 1;
  std::vector<Device> list_;
};

struct TrainerOptions {
  // Unset: 1000, or unlimited when max_steps is set (Lightning's rule); -1: unlimited.
  std::optional<int64_t> max_epochs{};
  int64_t max_steps = -1;  // optimizer steps; -1: unlimited
  std::optional<int64_t> min_epochs{};
  // Wall time of fitting, over resumes too: a Timer (timer.h) checked after each batch.
  std::optional<std::chrono::duration<double>> max_time{};
  std::string accelerator = "auto";  // cpu, cuda (gpu) or auto
  // One a process, except under dp; a list of one device picks it (cuda:1). Under ddp, with
  // num_nodes, a count says how many processes a node runs (Lightning's devices per node).
  Devices devices = 1;
  // Under ddp: machines of the job. Set, or with devices > 1, the world mpirun started must be
  // num_nodes × devices (Lightning's); left at 1 and 1, the world is what mpirun started.
  int64_t num_nodes = 1;
  // auto: one process. ddp: one process per device, launched by mpirun (or srun): each rank
  // trains on its DistributedSampler shard, DistributedDataParallel averaging the gradients.
  // dp: one process, DataParallel over `devices`: each batch cut along its samples, a replica
  // of the module (its clone()) running training_step on each part, one thread each.
  std::string strategy = "auto";
  std::string precision = "32-true";  // 32-true, 16-mixed or bf16-mixed (32, 16, bf16)
  int64_t accumulate_grad_batches = 1;
  std::optional<double> gradient_clip_val{};
  std::string gradient_clip_algorithm = "norm";  // norm (2-norm of all gradients) or value
  // Validation within an epoch: every that many batches, or that fraction of the epoch.
  // Unset: at the epoch's end.
  std::optional<BatchCount> val_check_interval{};
  int64_t check_val_every_n_epoch = 1;
  BatchCount limit_train_batches = 1.0;
  BatchCount limit_val_batches = 1.0;
  BatchCount limit_test_batches = 1.0;
  BatchCount limit_predict_batches = 1.0;
  // n > 0: n batches of train, val, test and predict, one epoch, no sanity check, loggers,
  // checkpoints, early stopping or lr monitoring (true reads as 1).
  int64_t fast_dev_run = 0;
  int64_t num_sanity_val_steps = 2;  // -1: the whole val loader
  int64_t log_every_n_steps = 50;
  bool enable_progress_bar = true;   // a ProgressBar unless callbacks holds one
  bool enable_checkpointing = true;  // a ModelCheckpoint unless callbacks holds one
  // volt's kernels are deterministic always (no float atomics, fixed reduction orders), so the
  // bits of a run depend only on the seed, the CPU thread count and (dp) the devices. true also
  // refuses a resume whose thread count or dp devices differ from the checkpoint's.
  bool deterministic = false;
  // volt's, not Lightning's: on a CUDA device the step (training_step, backward, the GradScaler,
  // the optimizer, the logged metrics' sums) is captured as one CUDA graph on an epoch's second
  // batch, the first having warmed up, and each later batch of that shape replays it: one launch
  // a step. Unset: wherever the run allows it (one CUDA device, SGD, Adam or AdamW, no gradient
  // accumulation or clipping; a step that cannot be captured falls back to eager with a
  // warning); true: an error where it cannot; false: never. Replays run no host code of
  // training_step: a module whose step must run host code every batch wants false.
  std::optional<bool> cuda_graph{};
  // volt's: the train loader's dataset kept on the training device (uploaded once, u8) and each
  // batch gathered there (DeviceBatches, device_batches.h): no host copy a step. The batches are
  // the loader's, bit for bit. Not under ddp or dp.
  bool data_on_device = false;
  std::string default_root_dir = ".";
  std::vector<std::shared_ptr<Callback>> callbacks{};
  // true: a CSVLogger under default_root_dir; false: none; or the logger to use.
  std::variant<bool, std::shared_ptr<Logger>> logger = true;
};

class Trainer {
 public:
  explicit Trainer(TrainerOptions options = {});

  // ckpt_path: a checkpoint folder to resume from, or "last" (the newest one of the run's
  // ModelCheckpoint folder); empty: start afresh.
  void fit(LightningModule& module, LightningDataModule& data, const std::string& ckpt_path = "");
  void fit(LightningModule& module, data::DataLoader train_dataloaders,
           std::optional<data::DataLoader> val_dataloaders = std::nullopt, const std::string& ckpt_path = "");
  // The loop's metrics at its end, read on the host.
  std::map<std::string, double> validate(LightningModule& module, LightningDataModule& data);
  std::map<std::string, double> validate(LightningModule& module, data::DataLoader dataloaders);
  std::map<std::string, double> test(LightningModule& module, LightningDataModule& data);
  std::map<std::string, double> test(LightningModule& module, data::DataLoader dataloaders);
  // predict_step's result of every batch.
  std::vector<Tensor> predict(LightningModule& module, LightningDataModule& data);
  std::vector<Tensor> predict(LightningModule& module, data::DataLoader dataloaders);

  // Writes a checkpoint folder of the run's present state (checkpoint.h), as Lightning's
  // trainer.save_checkpoint. During fit only.
  void save_checkpoint(const std::string& path);

  // --- state, for callbacks -----------------------------------------------------------------
  const TrainerOptions& options() const { return options_; }
  int64_t current_epoch() const { return current_epoch_; }
  int64_t global_step() const { return global_step_; }
  // Batches of the current epoch done so far.
  int64_t batches_done() const { return batch_in_epoch_; }
  int64_t num_training_batches() const { return num_training_batches_; }
  int64_t max_epochs() const { return max_epochs_; }  // resolved; -1: unlimited
  bool sanity_checking() const { return sanity_checking_; }
  Stage stage() const { return stage_; }
  bool is_global_zero() const { return global_rank_ == 0; }
  int global_rank() const { return global_rank_; }
  int world_size() const { return world_size_; }
  Device device() const { return device_; }
  // Set to end fit after the current batch or epoch (EarlyStopping), not before min_epochs.
  bool should_stop = false;
  // The last logged values by name, as tensors (read them with item()): the step values of the
  // latest batch ("x_step" and, when only on_step, "x") and the epoch values ("x_epoch" and "x").
  const Metrics& callback_metrics() const { return callback_metrics_; }
  // Those marked prog_bar, read on the host (a device read: at refresh points only).
  std::map<std::string, double> progress_bar_metrics() const;
  Logger* logger() const { return logger_.get(); }
  // Whether this step's metrics go to the logger (log_every_n_steps).
  bool should_update_logs() const;
  // Under ddp, collectives over the ranks for callbacks' decisions (in one process, identities):
  // rank 0's decision on every rank; whether any rank's is true; a barrier. Every rank must call.
  bool broadcast_decision(bool decision) const;
  bool reduce_any(bool decision) const;
  void barrier() const;
  const std::vector<std::shared_ptr<Callback>>& callbacks() const { return callbacks_; }
  // Whether the last fit ended on a SIGTERM (fit then throws a volt::Error after the batch it
  // came in, which OnExceptionCheckpoint can save from).
  bool received_sigterm() const { return received_sigterm_; }
  ModelCheckpoint* checkpoint_callback() const;
  optim::Optimizer* optimizer() const { return config_.optimizer.get(); }
  // Whether the training step is being replayed from a CUDA graph (see cuda_graph).
  bool cuda_graph_active() const;
  // Why the step of this fit is not graphed ("" when it is or will be, after the warm-up).
  const std::string& cuda_graph_off_reason() const { return graph_off_reason_; }
  const std::optional<LRSchedulerConfig>& lr_scheduler_config() const { return config_.lr_scheduler; }

 private:
  std::map<std::string, double> evaluate(LightningModule& module, std::optional<data::DataLoader> loader, Stage stage);
  void setup(LightningModule& module, Stage stage);
  void teardown(LightningModule& module);
  void fit_loop(LightningModule& module);
  // One epoch from batch_in_epoch_; false when fit stopped inside it.
  bool train_epoch(LightningModule& module);
  void train_batch(LightningModule& module, const Batch& batch);
  // The device work of a batch: training_step, backward and, when the batch `steps`, the
  // optimizer step (unscale, clip, step, zero_grad). What a CUDA graph captures.
  Tensor step_on_device(LightningModule& module, const Batch& batch, int64_t batch_idx, bool steps);
  void optimizer_step();
  // The host side of an optimizer step: global_step, the "step" schedulers.
  void count_optimizer_step();
  // The graphed step (trainer_graph.cpp): why this fit cannot graph it ("" if it can); the
  // batch replayed (true) or captured and replayed, else false (run it eagerly).
  std::string graph_unsuitable_reason() const;
  bool graphed_step(LightningModule& module, const Batch& batch, int64_t batch_idx, Tensor& loss);
  void drop_graph();
  void finish_epoch(LightningModule& module);  // what follows an epoch's last batch
  void step_schedulers(const std::string& interval, int64_t count);
  // Runs the val loader (or test) over its first `batches` batches; returns the epoch metrics.
  Metrics run_loop(LightningModule& module, data::DataLoader& loader, int64_t batches, Stage stage);
  void validation_during_fit(LightningModule& module);
  // max_steps reached, or should_stop (at an epoch boundary under ddp: any rank's).
  bool stop_requested(bool epoch_boundary);
  // Reads `metrics` (those of `source` marked for the logger) and sends them, on rank 0.
  void log_to_logger(const Metrics& metrics, const LoggedMetrics& source);
  void merge_epoch_metrics(const Metrics& epoch, const LoggedMetrics& source);
  void restore(LightningModule& module, const std::string& path);
  std::string resolve_ckpt_path(const std::string& ckpt_path) const;
  Batch to_device(const Batch& batch) const;
  // Under ddp (trainer_ddp.cpp): the loader on this rank's DistributedSampler shard; the module
  // inside DistributedDataParallel; training_step run through it.
  data::DataLoader shard(const data::DataLoader& loader) const;
  void wrap_for_ddp(LightningModule& module);
  Tensor ddp_training_step(const Batch& batch, int64_t batch_idx);
  // Under dp (trainer_dp.cpp): the module inside DataParallel; training_step on its replicas,
  // their losses and logged values combined (weighted by their part of the batch).
  void wrap_for_dp(LightningModule& module);
  Tensor dp_training_step(const Batch& batch, int64_t batch_idx);
  template <class F>
  void for_callbacks(F&& f);

  TrainerOptions options_;
  int64_t max_epochs_ = 1000;
  std::vector<std::shared_ptr<Callback>> callbacks_;  // the options' and the defaults, in order
  std::shared_ptr<Logger> logger_;
  Device device_ = Device::cpu();
  int global_rank_ = 0, world_size_ = 1;
  parallel::ProcessGroup* process_group_ = nullptr;  // ddp's; null: one process
  // Under ddp: DistributedDataParallel around a module whose forward is training_step.
  std::shared_ptr<TrainingStepModule> step_module_;
  std::shared_ptr<parallel::DistributedDataParallel> ddp_;
  // Under dp: the devices (the first holds the module), and DataParallel around a module whose
  // replicas run training_step.
  std::vector<Device> dp_devices_;
  std::shared_ptr<ReplicaStepModule> replica_step_;
  std::shared_ptr<parallel::DataParallel> dp_;

  // The run.
  LightningModule* module_ = nullptr;
  Stage stage_ = Stage::fitting;
  OptimizerLRScheduler config_;
  std::unique_ptr<optim::GradScaler> scaler_;
  std::optional<data::DataLoader> train_loader_, val_loader_;
  int64_t num_training_batches_ = 0, num_val_batches_ = 0, val_check_batch_ = 0;
  int64_t current_epoch_ = 0, global_step_ = 0, batch_in_epoch_ = 0;
  bool sanity_checking_ = false;
  bool stepped_this_batch_ = false;
  bool received_sigterm_ = false;
  friend class SigtermScope;
  static volatile std::sig_atomic_t sigterm_received_;  // set by the handler fit installs
  LoggedMetrics train_metrics_, eval_metrics_;
  Metrics callback_metrics_;
  // The graphed step: wanted for this fit, warmed up this epoch, the graph, its static inputs
  // (the batch is copied in) and output (the loss, rewritten by every replay).
  std::string graph_off_reason_ = "no fit has run";
  bool graph_warmed_ = false;
  std::optional<DeviceGraph> graph_;
  std::optional<DeviceBatches> device_batches_;  // data_on_device: the train loader's, on device_
  Batch graph_batch_;
  Tensor graph_loss_;
};

}  // namespace volt::train
