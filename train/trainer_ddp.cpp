// What strategy "ddp" adds to the Trainer: the collectives callbacks decide with, the loaders'
// shards, and the module inside DistributedDataParallel.
#include "volt/autograd/ops.h"
#include "volt/parallel/distributed_sampler.h"
#include "volt/train/trainer.h"

namespace volt::train {

bool Trainer::broadcast_decision(bool decision) const {
  if (process_group_ == nullptr || process_group_->size() == 1) return decision;
  Tensor t = full({}, decision ? 1.0 : 0.0, TensorOptions(DType::i64).device(process_group_->device()));
  process_group_->broadcast(t, 0)->wait();
  return t.item<int64_t>() != 0;
}

bool Trainer::reduce_any(bool decision) const {
  if (process_group_ == nullptr || process_group_->size() == 1) return decision;
  Tensor t = full({}, decision ? 1.0 : 0.0, TensorOptions(DType::i64).device(process_group_->device()));
  process_group_->all_reduce(t, parallel::ReduceOp::max)->wait();
  return t.item<int64_t>() != 0;
}

void Trainer::barrier() const {
  if (process_group_ != nullptr && process_group_->size() > 1) process_group_->barrier()->wait();
}

// DistributedDataParallel runs a module's forward(Tensor) and keeps its per-iteration books
// there (and finds unused parameters from that output). Under ddp the trainer hands it this
// module, whose forward is the LightningModule's training_step on the batch set beside it.
class TrainingStepModule : public nn::Module {
 public:
  explicit TrainingStepModule(LightningModule& module) : module_(module) {
    // Not owned: the trainer's caller holds the module, and this lives only during fit.
    register_module("module", std::shared_ptr<nn::Module>(&module, [](nn::Module*) {}));
  }
  void set_batch(const Batch& batch, int64_t batch_idx) {
    batch_ = &batch;
    batch_idx_ = batch_idx;
  }
  Tensor forward(const Tensor& /*images: batch_'s*/) override { return module_.training_step(*batch_, batch_idx_); }

 private:
  LightningModule& module_;
  const Batch* batch_ = nullptr;
  int64_t batch_idx_ = 0;
};

data::DataLoader Trainer::shard(const data::DataLoader& loader) const {
  if (process_group_ == nullptr) return loader;
  const data::DataLoaderOptions& o = loader.options();
  return data::DataLoader(loader.dataset(), o,
                          std::make_shared<parallel::DistributedSampler>(loader.dataset_size(), world_size_,
                                                                         global_rank_, o.shuffle, o.seed));
}

void Trainer::wrap_for_ddp(LightningModule& module) {
  step_module_ = std::make_shared<TrainingStepModule>(module);
  ddp_ = std::make_shared<parallel::DistributedDataParallel>(step_module_, process_group_);
}

Tensor Trainer::ddp_training_step(const Batch& batch, int64_t batch_idx) {
  step_module_->set_batch(batch, batch_idx);
  return ddp_->forward(batch.images);
}

}  // namespace volt::train
