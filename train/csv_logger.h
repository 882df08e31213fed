// CSVLogger (Lightning's): metrics as rows of <save_dir>/<name>/version_<N>/metrics.csv, one row
// per log_metrics call with a "step" column and one column per metric name (empty where a row
// has no value), and the hyperparameters in hparams.json beside it. version unset: one more than
// the highest version_<N> folder there. When a new metric name appears the file is written again
// whole (to a temporary file renamed over it) with the wider header; otherwise rows are appended.
#pragma once

#include <cstdint>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "volt/train/logger.h"

namespace volt::train {

class CSVLogger : public Logger {
 public:
  explicit CSVLogger(std::string save_dir, std::string name = "lightning_logs",
                     std::optional<int64_t> version = std::nullopt);
  std::string name() const override { return name_; }
  std::string version() const override { return "version_" + std::to_string(version_); }
  std::string log_dir() const override;
  void log_hyperparams(const nlohmann::json& params) override;
  void log_metrics(const std::map<std::string, double>& metrics, int64_t step) override;
  void save() override;

 private:
  void rewrite();
  void write_row(std::ostream& out, int64_t step, const std::map<std::string, double>& metrics) const;

  std::string save_dir_, name_;
  int64_t version_;
  std::set<std::string> columns_;  // the metric names, sorted; "step" comes first
  std::vector<std::pair<int64_t, std::map<std::string, double>>> rows_;
  std::ofstream file_;
};

}  // namespace volt::train
