#include "volt/train/csv_logger.h"

#include <charconv>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>

#include "volt/core/error.h"
#include "volt/train/checkpoint.h"

namespace volt::train {

namespace fs = std::filesystem;

namespace {

int64_t next_version(const fs::path& root) {
  int64_t next = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string folder = entry.path().filename().string();
    if (!entry.is_directory() || folder.rfind("version_", 0) != 0) continue;
    int64_t v = 0;
    const char* begin = folder.data() + 8;
    const char* end = folder.data() + folder.size();
    const auto [ptr, err] = std::from_chars(begin, end, v);
    if (err == std::errc() && ptr == end) next = std::max(next, v + 1);
  }
  return next;
}

// The shortest text that reads back as the same double (Python's repr of a float).
std::string number(double v) {
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
  return std::string(buffer, end);
}

}  // namespace

CSVLogger::CSVLogger(std::string save_dir, std::string name, std::optional<int64_t> version)
    : save_dir_(std::move(save_dir)), name_(std::move(name)) {
  VOLT_CHECK(!version || *version >= 0, "CSVLogger: version must be 0 or more, got ", *version);
  version_ = version ? *version : next_version(fs::path(save_dir_) / name_);
}

std::string CSVLogger::log_dir() const { return (fs::path(save_dir_) / name_ / version()).string(); }

void CSVLogger::log_hyperparams(const nlohmann::json& params) {
  fs::create_directories(log_dir());
  write_file_atomically(log_dir() + "/hparams.json", params.dump(2) + "\n");
}

void CSVLogger::log_metrics(const std::map<std::string, double>& metrics, int64_t step) {
  bool widened = false;
  for (const auto& [name, v] : metrics)
    widened |= columns_.insert(name).second;
  rows_.emplace_back(step, metrics);
  if (widened || !file_.is_open()) return rewrite();
  write_row(file_, step, metrics);
  VOLT_CHECK(file_.good(), "CSVLogger: cannot write ", log_dir(), "/metrics.csv");
}

void CSVLogger::rewrite() {
  fs::create_directories(log_dir());
  const std::string path = log_dir() + "/metrics.csv";
  file_.close();
  std::ostringstream out;
  out << "step";
  for (const std::string& c : columns_)
    out << ',' << c;
  out << '\n';
  for (const auto& [step, metrics] : rows_)
    write_row(out, step, metrics);
  write_file_atomically(path, out.str());
  file_.open(path, std::ios::app);
  VOLT_CHECK(file_.good(), "CSVLogger: cannot open ", path, " to append");
}

void CSVLogger::write_row(std::ostream& out, int64_t step, const std::map<std::string, double>& metrics) const {
  out << step;
  for (const std::string& c : columns_) {
    out << ',';
    if (auto it = metrics.find(c); it != metrics.end()) out << number(it->second);
  }
  out << '\n';
}

void CSVLogger::save() {
  if (file_.is_open()) file_.flush();
}

}  // namespace volt::train
