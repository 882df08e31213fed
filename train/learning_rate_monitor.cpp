#include "volt/train/learning_rate_monitor.h"

#include "volt/train/trainer.h"

namespace volt::train {

namespace {

// The class name, as Lightning's default "lr-Adam" has it (AdamW before Adam: it derives from it).
const char* optimizer_type(const optim::Optimizer& opt) {
  if (dynamic_cast<const optim::AdamW*>(&opt)) return "AdamW";
  if (dynamic_cast<const optim::Adam*>(&opt)) return "Adam";
  if (dynamic_cast<const optim::SGD*>(&opt)) return "SGD";
  if (dynamic_cast<const optim::RMSprop*>(&opt)) return "RMSprop";
  if (dynamic_cast<const optim::Adagrad*>(&opt)) return "Adagrad";
  return "Optimizer";
}

}  // namespace

LearningRateMonitor::LearningRateMonitor(std::string logging_interval, std::string optimizer_name)
    : interval_(std::move(logging_interval)), optimizer_name_(std::move(optimizer_name)) {
  VOLT_CHECK(interval_ == "step" || interval_ == "epoch",
             "LearningRateMonitor: logging_interval must be step or epoch, got '", interval_, "'");
}

std::map<std::string, double> LearningRateMonitor::rates(const Trainer& trainer) const {
  std::map<std::string, double> out;
  const optim::Optimizer* opt = trainer.optimizer();
  if (opt == nullptr) return out;
  std::string name = optimizer_name_;
  if (const auto& s = trainer.lr_scheduler_config(); s && !s->name.empty()) name = s->name;
  if (name.empty()) name = std::string("lr-") + optimizer_type(*opt);
  const auto& groups = opt->param_groups();
  for (std::size_t g = 0; g < groups.size(); ++g)
    out[groups.size() == 1 ? name : name + "/pg" + std::to_string(g + 1)] = groups[g].lr.value();
  return out;
}

void LearningRateMonitor::on_train_epoch_start(Trainer& trainer, LightningModule& /*module*/) {
  if (interval_ == "epoch" && trainer.logger() != nullptr && trainer.is_global_zero())
    trainer.logger()->log_metrics(rates(trainer), trainer.global_step());
}

void LearningRateMonitor::on_train_batch_start(Trainer& trainer, LightningModule& /*module*/, const Batch& /*batch*/,
                                               int64_t /*batch_idx*/) {
  if (interval_ == "step") step_rates_ = rates(trainer);  // host values: no device read
}

void LearningRateMonitor::on_train_batch_end(Trainer& trainer, LightningModule& /*module*/, const Tensor& /*loss*/,
                                             const Batch& /*batch*/, int64_t /*batch_idx*/) {
  if (interval_ == "step" && trainer.should_update_logs() && trainer.logger() != nullptr && trainer.is_global_zero())
    trainer.logger()->log_metrics(step_rates_, trainer.global_step());
}

}  // namespace volt::train
