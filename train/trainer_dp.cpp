// What strategy "dp" adds to the Trainer: the module inside DataParallel, training_step run on
// each replica with its part of the batch, and the replicas' losses and logged values combined.
#include "volt/autograd/grad_mode.h"
#include "volt/autograd/ops.h"
#include "volt/train/log_scope.h"
#include "volt/train/trainer.h"

namespace volt::train {

// DataParallel replicates a module and cuts one input tensor along dim 0. The trainer hands it
// this module, whose input is the batch's images: a replica (a clone, made by the
// LightningModule's own clone()) takes the labels of its part of the batch beside them and runs
// training_step on that part, logging into a LoggedMetrics of its own. When DataParallel runs
// one part only, it calls this module itself, which runs the whole batch on the module.
class ReplicaStepModule : public nn::Module {
 public:
  // What every replica of one step shares.
  struct Step {
    const Batch* batch = nullptr;
    int64_t batch_idx = 0;
    int64_t per_replica = 0;          // samples a replica (the last may take fewer)
    std::vector<LoggedMetrics> logs;  // one a replica, in replica order
  };

  ReplicaStepModule(LightningModule& module, std::shared_ptr<Step> step) : module_(&module), step_(std::move(step)) {
    // Not owned: the trainer's caller holds the module, and this lives only during fit.
    register_module("module", std::shared_ptr<nn::Module>(&module, [](nn::Module*) {}));
  }

  Step& step() const { return *step_; }  // the replicas' copies share it

  // Made on the trainer's thread, in replica order, before any replica runs.
  std::shared_ptr<nn::Module> clone(const TensorMap& map = {}) const override {
    auto copy = clone_as(*this, map);
    const auto replica = std::dynamic_pointer_cast<LightningModule>(copy->registered_module<nn::Module>("module"));
    VOLT_CHECK(replica != nullptr,
               "Trainer (strategy dp): the clone() of the LightningModule is not a LightningModule");
    copy->module_ = replica.get();
    copy->index_ = static_cast<int64_t>(step_->logs.size());
    step_->logs.emplace_back();
    return copy;
  }

  Tensor forward(const Tensor& images) override {
    const Batch& b = *step_->batch;
    if (index_ < 0) return module_->training_step(b, step_->batch_idx);  // one part: the module itself
    const int64_t n = images.size(0);
    const Batch part{images, b.labels.narrow(0, index_ * step_->per_replica, n).to(images.device())};
    const LogScope scope(*module_, step_->logs[static_cast<std::size_t>(index_)], true, false, n);
    const Tensor loss = module_->training_step(part, step_->batch_idx);
    VOLT_CHECK(loss.defined() && loss.numel() == 1, "Trainer (strategy dp): training_step on replica ", index_,
               " returned ", loss.defined() ? shape_str(loss.shape()) : std::string("an undefined tensor"),
               "; expected the loss, a one-element tensor");
    // Weighted by its part of the batch, so that the replicas' sum is the batch's mean loss.
    return loss.reshape({}) * (static_cast<double>(n) / static_cast<double>(b.labels.size(0)));
  }

 private:
  LightningModule* module_;
  std::shared_ptr<Step> step_;
  int64_t index_ = -1;  // the replica's; -1: the module itself
};

void Trainer::wrap_for_dp(LightningModule& module) {
  replica_step_ = std::make_shared<ReplicaStepModule>(module, std::make_shared<ReplicaStepModule::Step>());
  // The replicas' streams come from the module's first registered generator (the default one if
  // it has none): seeded by the module, saved in checkpoints with it.
  Generator* parent = module.generators().empty() ? nullptr : module.generators().front().second;
  dp_ = std::make_shared<parallel::DataParallel>(replica_step_, dp_devices_, device_, parent);
}

Tensor Trainer::dp_training_step(const Batch& batch, int64_t batch_idx) {
  ReplicaStepModule::Step& step = replica_step_->step();
  const int64_t n = batch.labels.size(0), devices = static_cast<int64_t>(dp_devices_.size());
  step.batch = &batch;
  step.batch_idx = batch_idx;
  step.per_replica = std::max<int64_t>(1, (n + devices - 1) / devices);  // Tensor.chunk's cut, as DataParallel's
  step.logs.clear();
  // A replica's weighted loss each (the module's own loss when it ran alone), gathered on device_.
  const Tensor losses = dp_->forward(batch.images);
  if (!step.logs.empty()) train_metrics_.log_replicas(step.logs, device_);  // else the module logged itself
  return sum(losses);
}

}  // namespace volt::train
