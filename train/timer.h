// Timer (Lightning's): measures the time spent fitting, validating and testing, and with a
// duration sets trainer.should_stop once fitting has taken that long, checked after each batch
// (interval "step") or each epoch ("epoch"). Its state is the time elapsed per stage, so a
// resumed run counts what the run before it took: Trainer's max_time is a Timer.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "volt/train/callback.h"

namespace volt::train {

class Timer : public Callback {
 public:
  using Seconds = std::chrono::duration<double>;
  explicit Timer(std::optional<Seconds> duration = std::nullopt, std::string interval = "step");

  std::string state_key() const override { return "Timer"; }
  nlohmann::json state_dict() const override;
  void load_state_dict(const nlohmann::json& state) override;

  // Seconds spent in `stage` (fitting counts the training loop), including what a restored
  // state brought, and those left of the duration (unset without one).
  double time_elapsed(Stage stage = Stage::fitting) const;
  std::optional<double> time_remaining(Stage stage = Stage::fitting) const;

  void on_train_start(Trainer& trainer, LightningModule& module) override;
  void on_train_end(Trainer& trainer, LightningModule& module) override;
  void on_validation_start(Trainer& trainer, LightningModule& module) override;
  void on_validation_end(Trainer& trainer, LightningModule& module) override;
  void on_test_epoch_start(Trainer& trainer, LightningModule& module) override;
  void on_test_epoch_end(Trainer& trainer, LightningModule& module) override;
  void on_train_batch_end(Trainer& trainer, LightningModule& module, const Tensor& loss, const Batch& batch,
                          int64_t batch_idx) override;
  void on_train_epoch_end(Trainer& trainer, LightningModule& module) override;

 private:
  using Clock = std::chrono::steady_clock;
  struct Span {
    double before = 0;  // seconds of earlier spans (and of a restored state)
    std::optional<Clock::time_point> started;
  };
  void start(Stage stage);
  void stop(Stage stage);
  void check(Trainer& trainer);

  std::optional<Seconds> duration_;
  std::string interval_;
  std::map<Stage, Span> spans_;
};

}  // namespace volt::train
