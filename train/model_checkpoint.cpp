#include "volt/train/model_checkpoint.h"

#include <charconv>
#include <cmath>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

#include "volt/train/checkpoint.h"
#include "volt/train/trainer.h"

namespace volt::train {

namespace fs = std::filesystem;

namespace {

// One value of a filename template: "" (an integer as itself, a float in its shortest form),
// "d" (an integer) or ".Nf" (N decimals).
std::string format_value(double value, bool integral, const std::string& spec, const std::string& tmpl) {
  char buffer[64];
  if (spec.empty() && integral) return std::to_string(static_cast<int64_t>(value));
  if (spec.empty()) {
    const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
    return std::string(buffer, end);
  }
  if (spec == "d") return std::to_string(static_cast<int64_t>(std::llround(value)));
  int decimals = -1;
  if (spec.size() >= 3 && spec.front() == '.' && spec.back() == 'f') {
    const auto [ptr, ec] = std::from_chars(spec.data() + 1, spec.data() + spec.size() - 1, decimals);
    if (ec != std::errc() || ptr != spec.data() + spec.size() - 1 || decimals > 20) decimals = -1;
  }
  VOLT_CHECK(decimals >= 0, "ModelCheckpoint: filename '", tmpl, "': format '", spec,
             "' is not one of '', 'd' or '.Nf' (N up to 20)");
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

}  // namespace

ModelCheckpoint::ModelCheckpoint(ModelCheckpointOptions options) : options_(std::move(options)) {
  const ModelCheckpointOptions& o = options_;
  VOLT_CHECK(o.mode == "min" || o.mode == "max", "ModelCheckpoint: mode must be min or max, got '", o.mode, "'");
  VOLT_CHECK(o.save_top_k >= -1, "ModelCheckpoint: save_top_k must be -1 (all), 0 or more, got ", o.save_top_k);
  VOLT_CHECK(!o.monitor.empty() || o.save_top_k <= 1, "ModelCheckpoint: save_top_k = ", o.save_top_k,
             " needs a monitor to rank the checkpoints by");
  VOLT_CHECK(o.every_n_train_steps >= 0, "ModelCheckpoint: every_n_train_steps must be 0 (off) or more, got ",
             o.every_n_train_steps);
  if (!o.every_n_epochs) options_.every_n_epochs = o.every_n_train_steps > 0 ? 0 : 1;
  VOLT_CHECK(*options_.every_n_epochs >= 0, "ModelCheckpoint: every_n_epochs must be 0 (off) or more, got ",
             *options_.every_n_epochs);
  VOLT_CHECK(!o.filename.empty(), "ModelCheckpoint: filename must not be empty");
  format_checkpoint_name(0, 0, {});  // a malformed template fails here, not at the first save
}

std::string ModelCheckpoint::state_key() const {
  return "ModelCheckpoint{monitor=" + options_.monitor + ",mode=" + options_.mode +
         ",every_n_train_steps=" + std::to_string(options_.every_n_train_steps) +
         ",every_n_epochs=" + std::to_string(*options_.every_n_epochs) + "}";
}

std::string ModelCheckpoint::format_checkpoint_name(int64_t epoch, int64_t step,
                                                    const std::map<std::string, double>& metrics) const {
  const std::string& t = options_.filename;
  std::string out;
  for (std::size_t i = 0; i < t.size();) {
    if (t[i] != '{') {
      out += t[i++];
      continue;
    }
    const std::size_t close = t.find('}', i);
    VOLT_CHECK(close != std::string::npos, "ModelCheckpoint: filename '", t, "': '{' at ", i, " is not closed");
    const std::string field = t.substr(i + 1, close - i - 1);
    const std::size_t colon = field.find(':');
    const std::string name = field.substr(0, colon);
    const std::string spec = colon == std::string::npos ? "" : field.substr(colon + 1);
    VOLT_CHECK(!name.empty(), "ModelCheckpoint: filename '", t, "': an empty {} field");
    std::string value;
    if (name == "epoch" || name == "step") {
      value = format_value(static_cast<double>(name == "epoch" ? epoch : step), true, spec, t);
    } else {
      auto it = metrics.find(name);  // a metric not logged (yet) reads as 0, as in Lightning
      value = format_value(it == metrics.end() ? 0.0 : it->second, false, spec, t);
    }
    out += options_.auto_insert_metric_name ? name + "=" + value : value;
    i = close + 1;
  }
  return out;
}

void ModelCheckpoint::setup(Trainer& trainer, LightningModule& /*module*/, Stage /*stage*/) {
  if (!options_.dirpath.empty())
    dirpath_ = options_.dirpath;
  else if (trainer.logger() != nullptr)
    dirpath_ = (fs::path(trainer.logger()->log_dir()) / "checkpoints").string();
  else
    dirpath_ = (fs::path(trainer.options().default_root_dir) / "checkpoints").string();
}

void ModelCheckpoint::on_train_batch_end(Trainer& trainer, LightningModule& /*module*/, const Tensor& /*loss*/,
                                         const Batch& /*batch*/, int64_t /*batch_idx*/) {
  const int64_t n = options_.every_n_train_steps;
  if (n > 0 && trainer.global_step() % n == 0) save(trainer);
}

void ModelCheckpoint::on_train_epoch_end(Trainer& trainer, LightningModule& /*module*/) {
  const int64_t n = *options_.every_n_epochs;
  if (n > 0 && (trainer.current_epoch() + 1) % n == 0) save(trainer);
}

bool ModelCheckpoint::better(double a, double b) const { return options_.mode == "min" ? a < b : a > b; }

std::string ModelCheckpoint::worst_kept() const {
  std::string worst;
  for (const auto& [path, score] : best_k_models_)
    if (worst.empty() || better(best_k_models_.at(worst), score)) worst = path;
  return worst;
}

void ModelCheckpoint::save(Trainer& trainer) {
  const int64_t step = trainer.global_step();
  if (step == last_saved_step_) return;  // this state is saved already
  std::map<std::string, double> metrics;
  for (const auto& [name, t] : trainer.callback_metrics())
    metrics[name] = t.item<double>();
  double score = 0.0;
  if (!options_.monitor.empty()) {
    auto it = metrics.find(options_.monitor);
    if (it == metrics.end()) {
      std::string names;
      for (const auto& [name, v] : metrics)
        names += (names.empty() ? "" : ", ") + name;
      VOLT_FAIL("ModelCheckpoint: monitor '", options_.monitor, "' is not among the logged metrics (",
                names.empty() ? "none" : names, ")");
    }
    score = it->second;
    // NaN ranks last, as in Lightning.
    if (std::isnan(score)) score = options_.mode == "min" ? INFINITY : -INFINITY;
  }
  const std::string name = format_checkpoint_name(trainer.current_epoch(), step, metrics) + ".ckpt";
  const std::string path = (fs::path(dirpath_) / name).string();
  const int64_t k = options_.save_top_k;
  // Under ddp rank 0 decides for all, which then save together (save_checkpoint is collective).
  const bool keep = trainer.broadcast_decision(
      k == -1 || (k > 0 && (options_.monitor.empty() || static_cast<int64_t>(best_k_models_.size()) < k ||
                            best_k_models_.contains(path) || better(score, best_k_models_.at(worst_kept())))));
  if (!keep && !options_.save_last) return;
  last_saved_step_ = step;
  if (!keep) {
    last_model_path_ = (fs::path(dirpath_) / "last.ckpt").string();
    trainer.save_checkpoint(last_model_path_);
    if (trainer.is_global_zero()) update_last_link(dirpath_, "last.ckpt");
    return;
  }
  // Without a monitor the newest is the best; with one, the worst beyond k goes.
  std::vector<std::string> dropped;
  if (options_.monitor.empty() && k == 1) {
    for (const auto& [p, s] : best_k_models_)
      if (p != path) dropped.push_back(p);
    best_k_models_.clear();
  }
  best_k_models_[path] = score;
  if (k > 0 && static_cast<int64_t>(best_k_models_.size()) > k) {
    dropped.push_back(worst_kept());
    best_k_models_.erase(dropped.back());
  }
  best_model_path_ = path;
  for (const auto& [p, s] : best_k_models_)
    if (better(s, best_k_models_.at(best_model_path_))) best_model_path_ = p;
  last_model_path_ = path;
  trainer.save_checkpoint(path);
  if (!trainer.is_global_zero()) return;  // the files are rank 0's
  update_last_link(dirpath_, name);
  for (const std::string& p : dropped)
    if (p != path) fs::remove_all(p);
}

nlohmann::json ModelCheckpoint::state_dict() const {
  nlohmann::json best = nlohmann::json::object();
  for (const auto& [path, score] : best_k_models_)
    best[path] = std::isfinite(score) ? nlohmann::json(score) : nlohmann::json();  // JSON has no inf
  return {{"dirpath", dirpath_},
          {"best_k_models", best},
          {"best_model_path", best_model_path_},
          {"last_model_path", last_model_path_},
          {"last_saved_step", last_saved_step_}};
}

void ModelCheckpoint::load_state_dict(const nlohmann::json& state) {
  using T = nlohmann::json::value_t;
  const std::string what = "ModelCheckpoint state";
  const std::string dirpath = json_field(state, "dirpath", T::string, what).get<std::string>();
  const nlohmann::json& best = json_field(state, "best_k_models", T::object, what);
  std::map<std::string, double> loaded;
  const double worst = options_.mode == "min" ? INFINITY : -INFINITY;
  for (const auto& [path, score] : best.items()) {
    VOLT_CHECK(score.is_number() || score.is_null(), what, ": best_k_models['", path, "'] is ", score.dump(),
               ", expected a number");
    loaded[path] = score.is_null() ? worst : score.get<double>();
  }
  const auto best_path = json_field(state, "best_model_path", T::string, what).get<std::string>();
  const auto last_path = json_field(state, "last_model_path", T::string, what).get<std::string>();
  const auto last_step = json_field(state, "last_saved_step", T::number_integer, what).get<int64_t>();
  if (dirpath != dirpath_) return;  // another folder: its rankings say nothing about this one (Lightning's rule)
  best_k_models_ = std::move(loaded);
  best_model_path_ = best_path;
  last_model_path_ = last_path;
  last_saved_step_ = last_step;
}

}  // namespace volt::train
