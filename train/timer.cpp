#include "volt/train/timer.h"

#include <nlohmann/json.hpp>

#include "volt/train/checkpoint.h"
#include "volt/train/trainer.h"

namespace volt::train {

namespace {

// Lightning's names for the stages in the state.
const std::pair<Stage, const char*> kStageNames[] = {
    {Stage::fitting, "train"}, {Stage::validating, "validate"}, {Stage::testing, "test"}};

}  // namespace

Timer::Timer(std::optional<Seconds> duration, std::string interval)
    : duration_(duration), interval_(std::move(interval)) {
  VOLT_CHECK(interval_ == "step" || interval_ == "epoch", "Timer: interval must be step or epoch, got '", interval_,
             "'");
  VOLT_CHECK(!duration_ || duration_->count() >= 0, "Timer: the duration must not be negative");
}

double Timer::time_elapsed(Stage stage) const {
  auto it = spans_.find(stage);
  if (it == spans_.end()) return 0;
  const Span& s = it->second;
  return s.before + (s.started ? Seconds(Clock::now() - *s.started).count() : 0.0);
}

std::optional<double> Timer::time_remaining(Stage stage) const {
  if (!duration_) return std::nullopt;
  return duration_->count() - time_elapsed(stage);
}

void Timer::start(Stage stage) { spans_[stage].started = Clock::now(); }

void Timer::stop(Stage stage) {
  Span& s = spans_[stage];
  if (!s.started) return;
  s.before += Seconds(Clock::now() - *s.started).count();
  s.started.reset();
}

void Timer::check(Trainer& trainer) {
  if (duration_ && time_elapsed(Stage::fitting) >= duration_->count()) trainer.should_stop = true;
}

void Timer::on_train_start(Trainer&, LightningModule&) { start(Stage::fitting); }
void Timer::on_train_end(Trainer&, LightningModule&) { stop(Stage::fitting); }
void Timer::on_validation_start(Trainer& trainer, LightningModule&) {
  if (!trainer.sanity_checking()) start(Stage::validating);
}
void Timer::on_validation_end(Trainer&, LightningModule&) { stop(Stage::validating); }
void Timer::on_test_epoch_start(Trainer&, LightningModule&) { start(Stage::testing); }
void Timer::on_test_epoch_end(Trainer&, LightningModule&) { stop(Stage::testing); }

void Timer::on_train_batch_end(Trainer& trainer, LightningModule&, const Tensor&, const Batch&, int64_t) {
  if (interval_ == "step") check(trainer);
}

void Timer::on_train_epoch_end(Trainer& trainer, LightningModule&) {
  if (interval_ == "epoch") check(trainer);
}

nlohmann::json Timer::state_dict() const {
  nlohmann::json elapsed = nlohmann::json::object();
  for (const auto& [stage, name] : kStageNames)
    elapsed[name] = time_elapsed(stage);
  return {{"time_elapsed", elapsed}};
}

void Timer::load_state_dict(const nlohmann::json& state) {
  using T = nlohmann::json::value_t;
  const nlohmann::json& elapsed = json_field(state, "time_elapsed", T::object, "Timer state");
  std::map<Stage, double> loaded;
  for (const auto& [stage, name] : kStageNames)
    loaded[stage] = json_field(elapsed, name, T::number_float, "Timer state 'time_elapsed'").get<double>();
  for (const auto& [stage, seconds] : loaded)
    spans_[stage] = Span{seconds, std::nullopt};
}

}  // namespace volt::train
