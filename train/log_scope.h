// LogScope (the trainer's own): where LightningModule::log writes for a scope, cleared after it,
// thrown or not. The trainer opens one around each step and epoch hook it runs.
#pragma once

#include <cstdint>

#include "volt/train/lightning_module.h"

namespace volt::train {

class LogScope {
 public:
  LogScope(LightningModule& module, LoggedMetrics& metrics, bool on_step, bool on_epoch, int64_t batch_size)
      : module_(module) {
    module_.log_context_ = {&metrics, on_step, on_epoch, batch_size};
  }
  ~LogScope() { module_.log_context_.metrics = nullptr; }
  LogScope(const LogScope&) = delete;
  LogScope& operator=(const LogScope&) = delete;

 private:
  LightningModule& module_;
};

}  // namespace volt::train
