// A hyperparameter sweep: trials of a training program, each its own process, K at a time.
//
// A trial is `command... --out DIR/trial-NNN --name value ...` (a parameter batch_size becomes
// --batch-size). It writes a CSV (DIR/trial-NNN/metrics.csv unless metrics_file says where
// below its folder, e.g. lightning_logs/version_0/metrics.csv for a Trainer run whose
// default_root_dir is --out) with a header naming its columns, the metric among them, and a row
// with a value in that column for each result (the main job: one an epoch), flushed as it goes;
// rows with that cell empty are no result. The sweep reads the results while the trial runs:
// ASHA, when asked for, stops poor trials at its rungs, counted in results (SIGTERM to the
// trial's process group), and a metric that is not finite ends the trial as diverged. A trial
// that exits non-zero or dies of a signal is recorded as failed with the reason and the last
// line of its stderr; the sweep goes on.
//
// Each trial's folder holds config.json (its parameters and command line), stdout.log,
// stderr.log, metrics.csv and, once it has ended, result.json. DIR/sweep.json records the
// search; run again on the same folder (same search), a sweep keeps the trials that ended and
// reruns the rest. DIR/results.csv holds one row per trial (parameters, status, best and final
// metric, epochs, seconds, reason). SIGINT or SIGTERM to the sweep stops its trials and writes
// results.csv with the unfinished ones marked interrupted; the sweep then throws
// SweepInterrupted (the main job exits 130), and running it again resumes.
//
// In an MPI job (MPI initialised, more than one rank; every rank calls run_sweep) rank 0
// schedules and keeps the books and the other ranks run the trials, `parallel` at a time each,
// asking rank 0 for the next trial, for ASHA's verdict on each row and handing it each result.
// Trials stay children of their rank, so a crashing trial never takes a rank down, and they do
// not inherit the job's MPI variables (a trial may start an MPI job of its own). The folder must
// be one every rank sees (a shared file system). A trial learns the rank that runs it from
// VOLT_SWEEP_RANK.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "volt/train/asha.h"
#include "volt/train/search_space.h"

namespace volt::train {

struct SweepOptions {
  std::string out;                   // the sweep's folder
  std::vector<std::string> command;  // the trial program and its fixed arguments
  SearchSpace space;
  std::string search = "random";  // grid or random
  int64_t trials = 10;            // random search: how many
  uint64_t seed = 0;              // random search: the draws
  int64_t parallel = 1;           // trials at once
  std::string metric = "test_accuracy";
  std::string metrics_file = "metrics.csv";  // where a trial writes its results, below its folder
  std::string mode = "max";                  // max or min: which way the metric is better
  std::optional<AshaOptions> asha;           // early stopping at rungs (its mode is the sweep's)
  // Each trial runs with VOLT_NUM_THREADS = cpus / parallel (at least 1; cpus 0: this process's
  // CPUs), and, where gpus is not empty, CUDA_VISIBLE_DEVICES = one of them, round-robin.
  int64_t cpus = 0;
  std::vector<std::string> gpus;
  bool verbose = true;  // a line per trial started and ended, on stdout
};

struct TrialResult {
  int64_t id = 0;
  Config config;
  std::string status;         // completed, stopped (by ASHA), failed, interrupted
  std::string reason;         // failed: why; stopped: the rung
  double best = 0, last = 0;  // the metric: best over epochs and at the last epoch (NaN: none)
  int64_t epochs = 0;         // results reported (the main job: epochs)
  double seconds = 0;
  std::vector<std::string> command;  // the trial's whole command line
};

struct SweepInterrupted : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Runs (or resumes) the sweep; returns every trial's result in id order (in an MPI job, on rank
// 0; the other ranks return nothing).
std::vector<TrialResult> run_sweep(const SweepOptions& options);

// The best of `results` by the metric (completed or stopped trials with a finite metric), or
// nullptr when there is none.
const TrialResult* best_trial(const std::vector<TrialResult>& results, const std::string& mode);

// A command line as a shell would take it back (arguments quoted where needed).
std::string shell_line(const std::vector<std::string>& args);

}  // namespace volt::train
