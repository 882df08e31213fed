// LoggedMetrics: what LightningModule::log() records, kept as tensors on the values' device. A
// step value is the last one logged; an epoch value accumulates over the epoch (a running sum
// weighted by batch size and the total weight for "mean"; a sum, a max or a min). Nothing here
// reads the device: the values stay tensors until the Trainer reads them for the logger (at
// log_every_n_steps boundaries and epoch ends) or a callback reads one it monitors. Under ddp,
// epoch_metrics() first reduces the accumulators of sync_dist entries over the ranks.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "volt/core/tensor.h"
#include "volt/parallel/process_group.h"

namespace volt::train {

enum class Reduce { mean, sum, max, min };

// LightningModule::log's options, with Lightning's names. on_step and on_epoch unset take the
// stage's defaults: on_step in training_step, on_epoch in the validation and test steps.
// batch_size unset: the size of the batch being run (mean is weighted by it, as Lightning's).
struct LogOptions {
  bool prog_bar = false;
  std::optional<bool> on_step{};
  std::optional<bool> on_epoch{};
  Reduce reduce = Reduce::mean;  // Lightning's reduce_fx
  bool sync_dist = false;        // under ddp, reduce the epoch value over the ranks
  bool logger = true;            // sent to the logger; callbacks and the progress bar see it anyway
  std::optional<int64_t> batch_size{};
};

using Metrics = std::map<std::string, Tensor>;

class LoggedMetrics {
 public:
  // value: a one-element tensor, detached and kept as f32 on its own device. `options` must have
  // on_step and on_epoch set. Logging a name again with another reduce is an error.
  void log(const std::string& name, const Tensor& value, const LogOptions& options, int64_t batch_size);

  // Under strategy dp, what the replicas logged in one step (parts[i]: replica i's, cleared
  // before the step), logged here once a name, on `device`: a mean weighted by the replicas'
  // batch sizes, a sum, a max or a min of each replica's last value, with the batch sizes summed.
  void log_replicas(const std::vector<LoggedMetrics>& parts, Device device);

  // The on_step values under their names ("_step" appended to those also on_epoch, as
  // Lightning names them).
  Metrics step_metrics() const;
  // The on_epoch values so far ("_epoch" appended to those also on_step). With a group of more
  // than one rank, the sync_dist ones are reduced over the ranks (mean: the weighted sums and
  // the weights both summed): a collective per entry, which every rank must call alike.
  Metrics epoch_metrics(parallel::ProcessGroup* group) const;
  // The options a metric of step_metrics() or epoch_metrics() was logged with (null: none).
  const LogOptions* options_of(const std::string& metric_name) const;
  void clear() { entries_.clear(); }
  // While a CUDA graph captures the step: the metrics logged then are written by every replay.
  void set_capturing(bool capturing) { capturing_ = capturing; }
  // A new epoch when a step replayed from a CUDA graph adds into the sums it was captured with:
  // the metrics the graph logs keep their tensors, their sums restarting from zero in place (max
  // and min from -inf and +inf); the others are dropped, as clear() does.
  void restart_epoch();

 private:
  struct Entry {
    LogOptions options;
    Tensor step_value;   // the last value logged
    Tensor accumulator;  // weighted sum (mean), sum, max or min
    Tensor weight;       // mean's total batch size, f32 beside the accumulator
    Tensor last_value;   // the last value logged, and its batch size (log_replicas)
    int64_t last_batch_size = 0;
    bool in_graph = false;  // logged by a captured step: every replay writes it
  };
  std::map<std::string, Entry> entries_;
  bool capturing_ = false;
};

}  // namespace volt::train
