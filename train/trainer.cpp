#include "volt/train/trainer.h"

#include <algorithm>
#include <csignal>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "volt/autograd/autocast.h"
#include "volt/autograd/grad_mode.h"
#include "volt/autograd/ops.h"
#include "volt/core/device_backend.h"
#include "volt/nn/clip_grad.h"
#include "volt/train/csv_logger.h"
#include "volt/train/log_scope.h"
#include "volt/train/model_checkpoint.h"
#include "volt/train/progress_bar.h"
#include "volt/train/timer.h"

namespace volt::train {

namespace {

std::string canonical_precision(const std::string& p) {
  if (p == "32" || p == "32-true") return "32-true";
  if (p == "16" || p == "16-mixed") return "16-mixed";
  if (p == "bf16" || p == "bf16-mixed") return "bf16-mixed";
  VOLT_FAIL("Trainer: precision must be 32-true, 16-mixed or bf16-mixed (or 32, 16, bf16), got '", p, "'");
}

// The dtype autocast runs the mixed precisions in.
std::optional<DType> autocast_dtype(const std::string& precision) {
  if (precision == "16-mixed") return DType::f16;
  if (precision == "bf16-mixed") return DType::bf16;
  return std::nullopt;
}

std::map<std::string, double> read_all(const Metrics& metrics) {
  std::map<std::string, double> out;
  for (const auto& [name, t] : metrics)
    out[name] = t.item<double>();
  return out;
}

}  // namespace

// --- BatchCount -------------------------------------------------------------------------------

BatchCount::BatchCount(int64_t count) : count_(count) {
  VOLT_CHECK(count >= 0, "Trainer: a batch count must be 0 or more, got ", count);
}

BatchCount::BatchCount(double fraction) : fraction_(fraction) {
  VOLT_CHECK(fraction >= 0.0 && fraction <= 1.0, "Trainer: a batch fraction must be in [0, 1], got ", fraction,
             " (a whole number of batches is written without a decimal point)");
}

int64_t BatchCount::of(int64_t size, const char* what) const {
  if (count_) return std::min(*count_, size);
  const auto n = static_cast<int64_t>(static_cast<double>(size) * *fraction_);
  VOLT_CHECK(n > 0 || *fraction_ == 0.0, "Trainer: ", what, " = ", *fraction_, " of ", size,
             " batches is 0 batches; ask for at least ", 1.0 / static_cast<double>(size), " or a count");
  return n;
}

// --- Devices ---------------------------------------------------------------------------------

Devices::Devices(int64_t count) : count_(count) {
  VOLT_CHECK(count >= 1, "Trainer: devices must be at least 1, got ", count);
}

Devices::Devices(std::vector<Device> list) : list_(std::move(list)) {
  VOLT_CHECK(!list_.empty(), "Trainer: devices is an empty list; give at least one device");
}

std::string Devices::str() const {
  if (list_.empty()) return std::to_string(count_);
  std::ostringstream out;
  for (std::size_t i = 0; i < list_.size(); ++i)
    out << (i > 0 ? "," : "") << list_[i];
  return out.str();
}

// --- construction -----------------------------------------------------------------------------

Trainer::Trainer(TrainerOptions options) : options_(std::move(options)) {
  TrainerOptions& o = options_;
  o.precision = canonical_precision(o.precision);
  VOLT_CHECK(o.accelerator == "auto" || o.accelerator == "cpu" || o.accelerator == "cuda" || o.accelerator == "gpu",
             "Trainer: accelerator must be auto, cpu, cuda or gpu, got '", o.accelerator, "'");
  VOLT_CHECK(o.strategy == "auto" || o.strategy == "single_device" || o.strategy == "ddp" || o.strategy == "dp",
             "Trainer: strategy '", o.strategy, "' is not built; auto (one process, one device), ddp and dp are");
  VOLT_CHECK(o.strategy == "dp" || o.devices.size() == 1 || (o.strategy == "ddp" && o.devices.list().empty()),
             "Trainer: devices = ", o.devices.str(),
             ": a process runs one device, except under strategy dp; for more, strategy ddp with one process per "
             "device (mpirun -np N) or dp");
  VOLT_CHECK(o.num_nodes >= 1, "Trainer: num_nodes must be at least 1, got ", o.num_nodes);
  VOLT_CHECK(o.num_nodes == 1 || o.strategy == "ddp", "Trainer: num_nodes = ", o.num_nodes,
             " needs strategy ddp (one process per device on every node, under mpirun)");
  VOLT_CHECK(o.max_steps >= -1, "Trainer: max_steps must be -1 (unlimited) or more, got ", o.max_steps);
  VOLT_CHECK(!o.max_epochs || *o.max_epochs >= -1, "Trainer: max_epochs must be -1 (unlimited) or more, got ",
             *o.max_epochs);
  VOLT_CHECK(!o.min_epochs || *o.min_epochs >= 0, "Trainer: min_epochs must be 0 or more, got ", *o.min_epochs);
  VOLT_CHECK(o.accumulate_grad_batches >= 1, "Trainer: accumulate_grad_batches must be at least 1, got ",
             o.accumulate_grad_batches);
  VOLT_CHECK(!o.gradient_clip_val || *o.gradient_clip_val >= 0, "Trainer: gradient_clip_val must be 0 or more, got ",
             *o.gradient_clip_val);
  VOLT_CHECK(o.gradient_clip_algorithm == "norm" || o.gradient_clip_algorithm == "value",
             "Trainer: gradient_clip_algorithm must be norm or value, got '", o.gradient_clip_algorithm, "'");
  VOLT_CHECK(o.check_val_every_n_epoch >= 1, "Trainer: check_val_every_n_epoch must be at least 1, got ",
             o.check_val_every_n_epoch);
  VOLT_CHECK(o.num_sanity_val_steps >= -1, "Trainer: num_sanity_val_steps must be -1 (all) or more, got ",
             o.num_sanity_val_steps);
  VOLT_CHECK(o.log_every_n_steps >= 1, "Trainer: log_every_n_steps must be at least 1, got ", o.log_every_n_steps);
  VOLT_CHECK(o.fast_dev_run >= 0, "Trainer: fast_dev_run must be 0 (off) or a number of batches, got ", o.fast_dev_run);
  VOLT_CHECK(!o.max_time || o.max_time->count() >= 0, "Trainer: max_time must not be negative");

  if (o.fast_dev_run > 0) {  // Lightning's: N batches of everything, one epoch, nothing kept
    o.limit_train_batches = o.limit_val_batches = o.limit_test_batches = o.limit_predict_batches = o.fast_dev_run;
    o.max_steps = o.fast_dev_run;
    o.max_epochs = 1;
    o.num_sanity_val_steps = 0;
    o.val_check_interval.reset();
    o.check_val_every_n_epoch = 1;
    o.log_every_n_steps = 1;
  }
  max_epochs_ = o.max_epochs ? *o.max_epochs : o.max_steps == -1 ? 1000 : -1;

  if (o.fast_dev_run == 0) {
    if (const auto* given = std::get_if<std::shared_ptr<Logger>>(&o.logger))
      logger_ = *given;
    else if (std::get<bool>(o.logger))
      logger_ = std::make_shared<CSVLogger>(o.default_root_dir);
  }
  bool has_checkpoint = false, has_progress_bar = false, has_timer = false;
  std::set<std::string> keys;
  for (const auto& cb : o.callbacks) {
    VOLT_CHECK(cb != nullptr, "Trainer: callbacks holds a null callback");
    VOLT_CHECK(keys.insert(cb->state_key()).second, "Trainer: two callbacks share the state_key '", cb->state_key(),
               "'; give them different options");
    has_checkpoint |= dynamic_cast<ModelCheckpoint*>(cb.get()) != nullptr;
    has_progress_bar |= dynamic_cast<ProgressBar*>(cb.get()) != nullptr;
    has_timer |= dynamic_cast<Timer*>(cb.get()) != nullptr;
    if (o.fast_dev_run == 0 || cb->runs_in_fast_dev_run()) callbacks_.push_back(cb);
  }
  if (o.enable_checkpointing && !has_checkpoint && o.fast_dev_run == 0)
    callbacks_.push_back(std::make_shared<ModelCheckpoint>());
  if (o.enable_progress_bar && !has_progress_bar) callbacks_.push_back(std::make_shared<ProgressBar>());
  // max_time is a Timer (Lightning's), whose state carries the time over a resume; a Timer of the
  // caller's own takes precedence.
  if (o.max_time && !has_timer) callbacks_.push_back(std::make_shared<Timer>(*o.max_time, "step"));
}

ModelCheckpoint* Trainer::checkpoint_callback() const {
  for (const auto& cb : callbacks_)
    if (auto* mc = dynamic_cast<ModelCheckpoint*>(cb.get())) return mc;
  return nullptr;
}

template <class F>
void Trainer::for_callbacks(F&& f) {
  for (const auto& cb : callbacks_)
    f(*cb);
}

std::map<std::string, double> Trainer::progress_bar_metrics() const {
  std::map<std::string, double> out;
  for (const auto& [name, t] : callback_metrics_) {
    const LogOptions* o = train_metrics_.options_of(name);
    if (o == nullptr) o = eval_metrics_.options_of(name);
    if (o == nullptr || !o->prog_bar) continue;
    // Logged on_step and on_epoch: x_step and x_epoch, as Lightning's bar; not the alias x.
    const bool alias = *o->on_step && *o->on_epoch && !name.ends_with("_step") && !name.ends_with("_epoch");
    if (!alias) out[name] = t.item<double>();
  }
  return out;
}

bool Trainer::should_update_logs() const {
  return stepped_this_batch_ && global_step_ % options_.log_every_n_steps == 0;
}

// --- the stages -------------------------------------------------------------------------------

void Trainer::setup(LightningModule& module, Stage stage) {
  const bool ddp = options_.strategy == "ddp";
  const std::string& a = options_.accelerator;
  const bool gpu_accelerator = a == "cuda" || a == "gpu" || (a == "auto" && cuda::is_available());
  // Under ddp a rank uses the GPU of its local rank (its index on its machine).
  const int gpu = ddp ? parallel::get_local_rank() : 0;
  std::vector<Device> devices = options_.devices.list();
  if (devices.empty())
    for (int64_t i = 0; i < (ddp ? 1 : options_.devices.size()); ++i)  // under ddp: this process's one
      devices.push_back(!gpu_accelerator ? Device::cpu() : Device::cuda(options_.strategy == "dp" ? int(i) : gpu));
  for (const Device& d : devices) {
    VOLT_CHECK(a == "auto" || d.is_cuda() == gpu_accelerator, "Trainer: devices = ", options_.devices.str(), " names ",
               d, ", which is not a device of accelerator ", a);
    check_device_usable("Trainer devices", d);
  }
  device_ = devices[0];
  dp_devices_ = options_.strategy == "dp" ? std::move(devices) : std::vector<Device>{};
  if (ddp) {
    if (!parallel::is_initialized()) parallel::init_process_group(device_.is_cuda() ? "nccl" : "mpi");
    process_group_ = &parallel::get_default_group();
    global_rank_ = process_group_->rank();
    world_size_ = process_group_->size();
    const int64_t expected = options_.num_nodes * options_.devices.size();
    VOLT_CHECK(expected == 1 || expected == world_size_, "Trainer: num_nodes = ", options_.num_nodes,
               " and devices = ", options_.devices.size(), " make a world of ", expected,
               " processes, but the job has ", world_size_, "; launch num_nodes x devices processes (mpirun -np ",
               expected, ")");
    barrier();  // every rank has made its Trainer (and its logger's version folder name) by now
  }
  module.to(device_);
  module.trainer_ = this;
  module_ = &module;
  stage_ = stage;
  for_callbacks([&](Callback& cb) { cb.setup(*this, module, stage); });
}

void Trainer::teardown(LightningModule& module) {
  module.trainer_ = nullptr;
  module.log_context_.metrics = nullptr;
  module_ = nullptr;
  ddp_.reset();
  step_module_.reset();
  dp_.reset();
  replica_step_.reset();
  drop_graph();
  device_batches_.reset();
}

Batch Trainer::to_device(const Batch& batch) const { return {batch.images.to(device_), batch.labels.to(device_)}; }

void Trainer::fit(LightningModule& module, data::DataLoader train_dataloaders,
                  std::optional<data::DataLoader> val_dataloaders, const std::string& ckpt_path) {
  DataLoaders data(std::move(train_dataloaders), std::move(val_dataloaders));
  fit(module, data, ckpt_path);
}

volatile std::sig_atomic_t Trainer::sigterm_received_ = 0;

// Installs the SIGTERM handler for a fit and puts the one before back after it.
class SigtermScope {
 public:
  SigtermScope() : previous_(std::signal(SIGTERM, [](int) { Trainer::sigterm_received_ = 1; })) {
    Trainer::sigterm_received_ = 0;
  }
  ~SigtermScope() { std::signal(SIGTERM, previous_); }
  SigtermScope(const SigtermScope&) = delete;
  SigtermScope& operator=(const SigtermScope&) = delete;

 private:
  void (*previous_)(int);
};

void Trainer::fit(LightningModule& module, LightningDataModule& data, const std::string& ckpt_path) {
  const SigtermScope sigterm;
  received_sigterm_ = false;
  setup(module, Stage::fitting);
  try {
    train_loader_ = data.train_dataloader();
    VOLT_CHECK(train_loader_.has_value(), "Trainer::fit: the data module has no train_dataloader");
    val_loader_ = data.val_dataloader();
    train_loader_ = shard(*train_loader_);
    if (val_loader_) val_loader_ = shard(*val_loader_);
    config_ = module.configure_optimizers();
    VOLT_CHECK(config_.optimizer != nullptr, "Trainer::fit: configure_optimizers returned no optimizer");
    if (const auto& s = config_.lr_scheduler) {
      VOLT_CHECK(s->scheduler != nullptr,
                 "Trainer::fit: configure_optimizers returned an lr_scheduler config without a scheduler");
      VOLT_CHECK(s->interval == "step" || s->interval == "epoch",
                 "Trainer::fit: lr_scheduler interval must be step or epoch, got '", s->interval, "'");
      VOLT_CHECK(s->frequency >= 1, "Trainer::fit: lr_scheduler frequency must be at least 1, got ", s->frequency);
    }
    // f16's narrow range needs loss scaling; bf16 has f32's range and goes without (as Lightning).
    scaler_ = options_.precision == "16-mixed" ? std::make_unique<optim::GradScaler>() : nullptr;
    num_training_batches_ = options_.limit_train_batches.of(train_loader_->size(), "limit_train_batches");
    num_val_batches_ = val_loader_ ? options_.limit_val_batches.of(val_loader_->size(), "limit_val_batches") : 0;
    val_check_batch_ = num_training_batches_;
    if (const auto& v = options_.val_check_interval; v && num_training_batches_ > 0) {
      val_check_batch_ = std::max<int64_t>(1, v->of(num_training_batches_, "val_check_interval"));
      VOLT_CHECK(!v->count() || *v->count() <= num_training_batches_, "Trainer: val_check_interval = ", *v->count(),
                 " is more than the ", num_training_batches_, " training batches of an epoch");
    }
    current_epoch_ = global_step_ = batch_in_epoch_ = 0;
    should_stop = false;
    callback_metrics_.clear();
    if (!ckpt_path.empty()) restore(module, resolve_ckpt_path(ckpt_path));
    if (process_group_ != nullptr) wrap_for_ddp(module);  // after the restore: its broadcast changes nothing then
    if (!dp_devices_.empty()) wrap_for_dp(module);
    if (options_.data_on_device) {
      VOLT_CHECK(process_group_ == nullptr && dp_devices_.empty(),
                 "Trainer: data_on_device is for one device; under ddp and dp each batch is cut on the host");
      device_batches_.emplace(*train_loader_, device_);
    }
    graph_off_reason_ = graph_unsuitable_reason();
    VOLT_CHECK(options_.cuda_graph != true || graph_off_reason_.empty(),
               "Trainer: cuda_graph = true, but this fit's step cannot be captured: ", graph_off_reason_);
    if (logger_ && is_global_zero()) logger_->log_hyperparams(module.hparams());

    for_callbacks([&](Callback& cb) { cb.on_fit_start(*this, module); });
    module.on_fit_start();
    if (num_val_batches_ > 0 && options_.num_sanity_val_steps != 0) {
      const int64_t n = options_.num_sanity_val_steps == -1 ? num_val_batches_
                                                            : std::min(num_val_batches_, options_.num_sanity_val_steps);
      sanity_checking_ = true;
      for_callbacks([&](Callback& cb) { cb.on_sanity_check_start(*this, module); });
      run_loop(module, *val_loader_, n, Stage::validating);
      for_callbacks([&](Callback& cb) { cb.on_sanity_check_end(*this, module); });
      sanity_checking_ = false;
    }
    for_callbacks([&](Callback& cb) { cb.on_train_start(*this, module); });
    fit_loop(module);
    for_callbacks([&](Callback& cb) { cb.on_train_end(*this, module); });
    for_callbacks([&](Callback& cb) { cb.on_fit_end(*this, module); });
    module.on_fit_end();
  } catch (const std::exception& e) {
    sanity_checking_ = false;
    // The first error is the one fit throws; one of a hook here (a checkpoint that could not be
    // written) is reported, not lost, and does not replace it.
    for_callbacks([&](Callback& cb) {
      try {
        cb.on_exception(*this, module, e);
      } catch (const std::exception& hook_error) {
        std::cerr << "Trainer: " << cb.state_key() << ".on_exception failed: " << hook_error.what() << '\n';
      }
    });
    if (logger_ && is_global_zero()) logger_->finalize("failed");
    teardown(module);
    throw;
  }
  if (logger_ && is_global_zero()) logger_->finalize("success");
  teardown(module);
}

std::map<std::string, double> Trainer::evaluate(LightningModule& module, std::optional<data::DataLoader> loader,
                                                Stage stage) {
  const bool testing = stage == Stage::testing;
  setup(module, stage);
  try {
    VOLT_CHECK(loader.has_value(), "Trainer::", testing ? "test" : "validate", ": the data module has no ",
               testing ? "test" : "val", "_dataloader");
    const BatchCount& limit = testing ? options_.limit_test_batches : options_.limit_val_batches;
    data::DataLoader sharded = shard(*loader);
    const int64_t n = limit.of(sharded.size(), testing ? "limit_test_batches" : "limit_val_batches");
    const Metrics m = run_loop(module, sharded, n, stage);
    std::map<std::string, double> out = read_all(m);
    teardown(module);
    return out;
  } catch (...) {
    teardown(module);
    throw;
  }
}

std::map<std::string, double> Trainer::validate(LightningModule& module, LightningDataModule& data) {
  return evaluate(module, data.val_dataloader(), Stage::validating);
}
std::map<std::string, double> Trainer::validate(LightningModule& module, data::DataLoader dataloaders) {
  return evaluate(module, std::move(dataloaders), Stage::validating);
}
std::map<std::string, double> Trainer::test(LightningModule& module, LightningDataModule& data) {
  return evaluate(module, data.test_dataloader(), Stage::testing);
}
std::map<std::string, double> Trainer::test(LightningModule& module, data::DataLoader dataloaders) {
  return evaluate(module, std::move(dataloaders), Stage::testing);
}

std::vector<Tensor> Trainer::predict(LightningModule& module, LightningDataModule& data) {
  auto loader = data.predict_dataloader();
  VOLT_CHECK(loader.has_value(), "Trainer::predict: the data module has no predict_dataloader");
  return predict(module, std::move(*loader));
}

std::vector<Tensor> Trainer::predict(LightningModule& module, data::DataLoader dataloaders) {
  setup(module, Stage::predicting);
  dataloaders = shard(dataloaders);
  std::vector<Tensor> outputs;
  try {
    NoGradGuard no_grad;
    module.eval();
    const std::optional<DType> half = autocast_dtype(options_.precision);
    const int64_t n = options_.limit_predict_batches.of(dataloaders.size(), "limit_predict_batches");
    auto it = dataloaders.begin();
    for (int64_t i = 0; i < n; ++i, ++it) {
      const AutocastGuard autocast(device_.type, half, half.has_value());
      outputs.push_back(module.predict_step(to_device(*it), i));
    }
  } catch (...) {
    teardown(module);
    throw;
  }
  teardown(module);
  return outputs;
}

// --- the fit loop -----------------------------------------------------------------------------

bool Trainer::stop_requested(bool epoch_boundary) {
  if (options_.max_steps != -1 && global_step_ >= options_.max_steps) return true;
  // Under ddp the ranks agree on should_stop at epoch boundaries only: one collective an epoch,
  // not one a batch.
  if (process_group_ != nullptr && !epoch_boundary) return false;
  // Lightning's rule: a stop asked for (EarlyStopping, the Timer of max_time) before min_epochs
  // waits until they are done.
  const bool stop = should_stop && current_epoch_ >= options_.min_epochs.value_or(0);
  return process_group_ != nullptr ? reduce_any(stop) : stop;
}

void Trainer::fit_loop(LightningModule& module) {
  if (num_training_batches_ == 0) return;  // limit_train_batches = 0: no training (Lightning's rule)
  while ((max_epochs_ == -1 || current_epoch_ < max_epochs_) && !stop_requested(true))
    if (!train_epoch(module)) break;
}

bool Trainer::train_epoch(LightningModule& module) {
  train_loader_->set_epoch(static_cast<uint64_t>(current_epoch_));  // fixes the shuffle order
  module.train();
  if (batch_in_epoch_ == 0) {
    graph_warmed_ = false;
    if (graph_)
      train_metrics_.restart_epoch();  // the graph adds into the sums it was captured with
    else
      train_metrics_.clear();
    for_callbacks([&](Callback& cb) { cb.on_train_epoch_start(*this, module); });
    module.on_train_epoch_start();
  }
  const bool validate_this_epoch = num_val_batches_ > 0 && (current_epoch_ + 1) % options_.check_val_every_n_epoch == 0;
  // data_on_device: the batches are gathered on the device; the loader only gives the order.
  if (device_batches_) device_batches_->start_epoch(*train_loader_);
  auto it = device_batches_ ? data::DataLoader::Iterator() : train_loader_->begin(batch_in_epoch_);
  while (batch_in_epoch_ < num_training_batches_) {
    train_batch(module, device_batches_ ? device_batches_->batch(batch_in_epoch_) : to_device(*it));
    if (batch_in_epoch_ == num_training_batches_) break;  // the epoch's end validates, below
    if (validate_this_epoch && batch_in_epoch_ % val_check_batch_ == 0) validation_during_fit(module);
    if (stop_requested(false)) return false;
    if (!device_batches_) ++it;
  }
  if (validate_this_epoch && batch_in_epoch_ % val_check_batch_ == 0) validation_during_fit(module);
  finish_epoch(module);
  return true;
}

void Trainer::train_batch(LightningModule& module, const Batch& batch) {
  const int64_t batch_idx = batch_in_epoch_;
  stepped_this_batch_ = false;
  for_callbacks([&](Callback& cb) { cb.on_train_batch_start(*this, module, batch, batch_idx); });
  module.on_train_batch_start(batch, batch_idx);
  const int64_t accumulate = options_.accumulate_grad_batches;
  const bool steps = (batch_idx + 1) % accumulate == 0 || batch_idx + 1 == num_training_batches_;
  Tensor loss;
  if (!graphed_step(module, batch, batch_idx, loss)) loss = step_on_device(module, batch, batch_idx, steps);
  ++batch_in_epoch_;
  if (steps) count_optimizer_step();
  for (const auto& [name, value] : train_metrics_.step_metrics())
    callback_metrics_[name] = value;
  const Tensor detached = loss.detach();
  for_callbacks([&](Callback& cb) { cb.on_train_batch_end(*this, module, detached, batch, batch_idx); });
  module.on_train_batch_end(detached, batch, batch_idx);
  if (should_update_logs()) log_to_logger(train_metrics_.step_metrics(), train_metrics_);
  // A SIGTERM (a scheduler preempting the job) ends fit here, between batches, where the state
  // is whole: OnExceptionCheckpoint can save it. Under ddp the ranks agree at logged steps.
  bool sigterm = sigterm_received_ != 0;
  if (process_group_ != nullptr) sigterm = should_update_logs() && reduce_any(sigterm);
  if (sigterm) {
    received_sigterm_ = true;
    VOLT_FAIL("Trainer: SIGTERM received; fit stopped after batch ", batch_idx, " of epoch ", current_epoch_,
              " (global step ", global_step_, ")");
  }
}

Tensor Trainer::step_on_device(LightningModule& module, const Batch& batch, int64_t batch_idx, bool steps) {
  const int64_t accumulate = options_.accumulate_grad_batches;
  // Under ddp the batches before a step keep their gradients local; the step's backward
  // reduces their sum.
  std::optional<parallel::DistributedDataParallel::NoSync> no_sync;
  if (ddp_ && !steps) no_sync.emplace(*ddp_);
  Tensor loss;
  {
    const std::optional<DType> half = autocast_dtype(options_.precision);
    const AutocastGuard autocast(device_.type, half, half.has_value());
    const LogScope scope(module, train_metrics_, true, false, batch.labels.size(0));
    loss = ddp_  ? ddp_training_step(batch, batch_idx)
           : dp_ ? dp_training_step(batch, batch_idx)
                 : module.training_step(batch, batch_idx);
  }
  VOLT_CHECK(loss.defined() && loss.numel() == 1, "training_step (batch ", batch_idx, " of epoch ", current_epoch_,
             "): expected the loss, a one-element tensor, got ",
             loss.defined() ? shape_str(loss.shape()) : std::string("an undefined tensor"));
  VOLT_CHECK(loss.requires_grad(), "training_step (batch ", batch_idx, " of epoch ", current_epoch_,
             "): the loss does not require grad, so backward would reach no parameter");
  // The mean over the accumulated batches, as Lightning: each backward adds loss / accumulate.
  const Tensor scaled = accumulate > 1 ? loss / static_cast<double>(accumulate) : loss;
  if (scaler_)
    scaler_->scale(scaled).backward();
  else
    scaled.backward();
  no_sync.reset();
  if (steps) optimizer_step();
  return loss;
}

void Trainer::optimizer_step() {
  optim::Optimizer& opt = *config_.optimizer;
  if (options_.gradient_clip_val) {
    if (scaler_) scaler_->unscale_(opt);  // clip the true gradients
    if (options_.gradient_clip_algorithm == "norm")
      nn::utils::clip_grad_norm_(opt.params(), *options_.gradient_clip_val);
    else
      nn::utils::clip_grad_value_(opt.params(), *options_.gradient_clip_val);
  }
  if (scaler_) {
    scaler_->step(opt);
    scaler_->update();
  } else {
    opt.step();
  }
  opt.zero_grad();
}

void Trainer::count_optimizer_step() {
  ++global_step_;
  stepped_this_batch_ = true;
  step_schedulers("step", global_step_);
}

void Trainer::step_schedulers(const std::string& interval, int64_t count) {
  const auto& s = config_.lr_scheduler;
  if (s && s->interval == interval && count % s->frequency == 0) s->scheduler->step();
}

void Trainer::finish_epoch(LightningModule& module) {
  {
    const LogScope scope(module, train_metrics_, false, true, 1);
    module.on_train_epoch_end();
  }
  const Metrics epoch = train_metrics_.epoch_metrics(process_group_);
  merge_epoch_metrics(epoch, train_metrics_);
  log_to_logger(epoch, train_metrics_);
  for_callbacks([&](Callback& cb) { cb.on_train_epoch_end(*this, module); });
  step_schedulers("epoch", current_epoch_ + 1);
  ++current_epoch_;
  batch_in_epoch_ = 0;
}

void Trainer::validation_during_fit(LightningModule& module) {
  run_loop(module, *val_loader_, num_val_batches_, Stage::validating);
  module.train();
}

Metrics Trainer::run_loop(LightningModule& module, data::DataLoader& loader, int64_t batches, Stage stage) {
  const bool validating = stage == Stage::validating;
  NoGradGuard no_grad;
  module.eval();
  eval_metrics_.clear();
  if (validating) {
    for_callbacks([&](Callback& cb) { cb.on_validation_start(*this, module); });
    for_callbacks([&](Callback& cb) { cb.on_validation_epoch_start(*this, module); });
    module.on_validation_epoch_start();
  } else {
    for_callbacks([&](Callback& cb) { cb.on_test_epoch_start(*this, module); });
    module.on_test_epoch_start();
  }
  const std::optional<DType> half = autocast_dtype(options_.precision);
  auto it = loader.begin();
  for (int64_t i = 0; i < batches; ++i, ++it) {
    const Batch batch = to_device(*it);
    {
      const AutocastGuard autocast(device_.type, half, half.has_value());
      const LogScope scope(module, eval_metrics_, false, true, batch.labels.size(0));
      if (validating)
        module.validation_step(batch, i);
      else
        module.test_step(batch, i);
    }
    if (validating) for_callbacks([&](Callback& cb) { cb.on_validation_batch_end(*this, module, batch, i); });
  }
  {
    const LogScope scope(module, eval_metrics_, false, true, 1);
    if (validating)
      module.on_validation_epoch_end();
    else
      module.on_test_epoch_end();
  }
  const Metrics epoch = eval_metrics_.epoch_metrics(process_group_);
  if (!sanity_checking_) {
    merge_epoch_metrics(epoch, eval_metrics_);
    log_to_logger(epoch, eval_metrics_);
  }
  if (validating) {
    for_callbacks([&](Callback& cb) { cb.on_validation_epoch_end(*this, module); });
    for_callbacks([&](Callback& cb) { cb.on_validation_end(*this, module); });
  } else {
    for_callbacks([&](Callback& cb) { cb.on_test_epoch_end(*this, module); });
  }
  return epoch;
}

void Trainer::merge_epoch_metrics(const Metrics& epoch, const LoggedMetrics& source) {
  for (const auto& [name, value] : epoch) {
    callback_metrics_[name] = value;
    const LogOptions* o = source.options_of(name);
    // Lightning's callback_metrics name an epoch value "x" too when it was also logged on_step.
    if (o != nullptr && *o->on_step && name.ends_with("_epoch"))
      callback_metrics_[name.substr(0, name.size() - 6)] = value;
  }
}

void Trainer::log_to_logger(const Metrics& metrics, const LoggedMetrics& source) {
  if (!logger_ || !is_global_zero() || sanity_checking_) return;
  std::map<std::string, double> host;
  for (const auto& [name, t] : metrics)
    if (const LogOptions* o = source.options_of(name); o == nullptr || o->logger) host[name] = t.item<double>();
  if (host.empty()) return;
  host["epoch"] = static_cast<double>(current_epoch_);
  logger_->log_metrics(host, global_step_);
}

}  // namespace volt::train
