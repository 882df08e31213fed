// Logger: where the Trainer sends metrics (read on the host at log_every_n_steps boundaries and
// epoch ends) and the run's hyperparameters. Only rank 0 logs.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace volt::train {

class Logger {
 public:
  virtual ~Logger() = default;
  virtual std::string name() const = 0;
  virtual std::string version() const = 0;
  // The run's folder (checkpoints go under it by default).
  virtual std::string log_dir() const = 0;
  virtual void log_hyperparams(const nlohmann::json& params) = 0;
  // step: the optimizer steps taken so far.
  virtual void log_metrics(const std::map<std::string, double>& metrics, int64_t step) = 0;
  virtual void save() {}
  // status: "success" or "failed".
  virtual void finalize(const std::string& /*status*/) { save(); }
};

}  // namespace volt::train
