#include "volt/train/lightning_module.h"

#include <nlohmann/json.hpp>

#include "volt/autograd/ops.h"
#include "volt/train/trainer.h"

namespace volt::train {

Tensor LightningModule::predict_step(const Batch& batch, int64_t /*batch_idx*/) { return forward(batch.images); }

nlohmann::json LightningModule::hparams() const { return nlohmann::json::object(); }

void LightningModule::log(const std::string& name, const Tensor& value, const LogOptions& options) {
  VOLT_CHECK(log_context_.metrics != nullptr, "LightningModule::log('", name,
             "'): called outside a Trainer's step or epoch hook");
  LogOptions resolved = options;
  if (!resolved.on_step) resolved.on_step = log_context_.on_step;
  if (!resolved.on_epoch) resolved.on_epoch = log_context_.on_epoch;
  VOLT_CHECK(*resolved.on_step || *resolved.on_epoch, "LightningModule::log('", name,
             "'): on_step and on_epoch are both false, so the value would go nowhere");
  log_context_.metrics->log(name, value, resolved, options.batch_size.value_or(log_context_.batch_size));
}

void LightningModule::log(const std::string& name, double value, const LogOptions& options) {
  log(name, scalar_tensor(value), options);
}

void LightningModule::register_generator(const std::string& name, Generator& gen) {
  VOLT_CHECK(name != "default", "register_generator: 'default' names the process-wide generator");
  for (const auto& [n, g] : generators_)
    VOLT_CHECK(n != name, "register_generator: a generator named '", name, "' is registered already");
  generators_.emplace_back(name, &gen);
}

int64_t LightningModule::current_epoch() const { return trainer_ ? trainer_->current_epoch() : 0; }
int64_t LightningModule::global_step() const { return trainer_ ? trainer_->global_step() : 0; }

}  // namespace volt::train
