#include "volt/train/early_stopping.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "volt/train/checkpoint.h"
#include "volt/train/trainer.h"

namespace volt::train {

EarlyStopping::EarlyStopping(EarlyStoppingOptions options) : options_(std::move(options)) {
  VOLT_CHECK(!options_.monitor.empty(), "EarlyStopping: monitor must name a logged metric");
  VOLT_CHECK(options_.mode == "min" || options_.mode == "max", "EarlyStopping: mode must be min or max, got '",
             options_.mode, "'");
  VOLT_CHECK(options_.patience >= 0, "EarlyStopping: patience must be 0 or more, got ", options_.patience);
  options_.min_delta = std::abs(options_.min_delta);
  best_ = options_.mode == "min" ? INFINITY : -INFINITY;
}

std::string EarlyStopping::state_key() const {
  return "EarlyStopping{monitor=" + options_.monitor + ",mode=" + options_.mode + "}";
}

void EarlyStopping::on_validation_end(Trainer& trainer, LightningModule& /*module*/) {
  if (!options_.check_on_train_epoch_end && !trainer.sanity_checking() && trainer.stage() == Stage::fitting)
    check(trainer);
}

void EarlyStopping::on_train_epoch_end(Trainer& trainer, LightningModule& /*module*/) {
  if (options_.check_on_train_epoch_end) check(trainer);
}

void EarlyStopping::check(Trainer& trainer) {
  const auto it = trainer.callback_metrics().find(options_.monitor);
  VOLT_CHECK(it != trainer.callback_metrics().end(), "EarlyStopping: monitor '", options_.monitor,
             "' is not among the logged metrics; log it in validation_step (or set check_on_train_epoch_end)");
  const double current = it->second.item<double>();
  const bool min = options_.mode == "min";
  bool stop = false;
  if (options_.check_finite && !std::isfinite(current)) {
    stop = true;
    reason_ = "monitor " + options_.monitor + " = " + std::to_string(current) + " is not finite";
  } else if (min ? current < best_ - options_.min_delta : current > best_ + options_.min_delta) {
    best_ = current;
    wait_ = 0;
  } else if (++wait_ >= options_.patience) {
    stop = true;
    reason_ = "monitor " + options_.monitor + " did not improve in the last " + std::to_string(wait_) +
              " checks; best " + std::to_string(best_);
  }
  if (stop) {
    trainer.should_stop = true;
    stopped_epoch_ = trainer.current_epoch();
  }
}

nlohmann::json EarlyStopping::state_dict() const {
  return {{"wait_count", wait_},
          {"stopped_epoch", stopped_epoch_},
          {"best_score", std::isfinite(best_) ? nlohmann::json(best_) : nlohmann::json()},
          {"patience", options_.patience}};
}

void EarlyStopping::load_state_dict(const nlohmann::json& state) {
  using T = nlohmann::json::value_t;
  const std::string what = "EarlyStopping state";
  const auto wait = json_field(state, "wait_count", T::number_integer, what).get<int64_t>();
  const auto stopped = json_field(state, "stopped_epoch", T::number_integer, what).get<int64_t>();
  auto best = state.find("best_score");
  VOLT_CHECK(best != state.end() && (best->is_number() || best->is_null()), what,
             ": field 'best_score' is missing or not a number");
  wait_ = wait;
  stopped_epoch_ = stopped;
  best_ = best->is_null() ? (options_.mode == "min" ? INFINITY : -INFINITY) : best->get<double>();
}

}  // namespace volt::train
