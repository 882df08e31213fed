#include "volt/train/sweep.h"

#include <fcntl.h>
#include <mpi.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "volt/core/error.h"
#include "volt/core/thread_pool.h"
#include "volt/train/checkpoint.h"

extern char** environ;

namespace volt::train {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

volatile std::sig_atomic_t interrupted = 0;
void on_interrupt(int) { interrupted = 1; }

// SIGINT and SIGTERM set the flag while the sweep runs; the previous handlers come back after.
class InterruptGuard {
 public:
  InterruptGuard() {
    interrupted = 0;
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~InterruptGuard() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

 private:
  struct sigaction old_int_ {
  }, old_term_{};
};

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool better(double a, double b, const std::string& mode) { return mode == "max" ? a > b : a < b; }

std::string trial_name(int64_t id) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "trial-%03lld", static_cast<long long>(id));
  return buf;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s)
    q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string number_text(double x) {
  if (std::isnan(x)) return "nan";
  std::ostringstream s;
  s << std::setprecision(6) << x;
  return s.str();
}

std::string last_line(const fs::path& file) {
  std::ifstream in(file);
  std::string line, last;
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  return last;
}

std::string signal_name(int sig) {
  const char* n = sigabbrev_np(sig);
  return n ? std::string("SIG") + n : "signal " + std::to_string(sig);
}

// A running trial's metrics file, read as it grows: complete lines only. Each row with a value
// in the metric's column is one result; the results are counted (Ray's training_iteration):
// the main job writes one a epoch, a Trainer run one a validation. Empty cells (a CSVLogger row
// logging other metrics) are no result.
struct MetricReader {
  MetricReader() = default;
  MetricReader(fs::path f, std::string m) : file(std::move(f)), metric(std::move(m)) {}
  fs::path file;
  std::string metric;
  std::size_t consumed = 0;  // bytes of complete lines taken
  int metric_col = -1;
  int64_t results = 0;
  bool header = false;
  std::string error;  // the header lacks the metric

  // The new results: (how many so far, value).
  std::vector<std::pair<int64_t, double>> poll() {
    std::vector<std::pair<int64_t, double>> rows;
    std::ifstream in(file, std::ios::binary);
    if (!in) return rows;
    in.seekg(static_cast<std::streamoff>(consumed));
    std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::size_t at = 0;
    for (std::size_t nl; (nl = chunk.find('\n', at)) != std::string::npos; at = nl + 1) {
      std::string line = chunk.substr(at, nl - at);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      std::vector<std::string> cells;
      std::stringstream s(line);
      for (std::string c; std::getline(s, c, ',');)
        cells.push_back(c);
      if (!header) {
        header = true;
        for (std::size_t i = 0; i < cells.size(); ++i)
          if (cells[i] == metric) metric_col = static_cast<int>(i);
        if (metric_col < 0)
          error = "its " + file.filename().string() + " has no column '" + metric + "' (its columns: " + line + ")";
        continue;
      }
      if (!error.empty() || static_cast<int>(cells.size()) <= metric_col) continue;
      const std::string& v = cells[static_cast<std::size_t>(metric_col)];
      if (v.empty()) continue;
      double value = kNaN;
      if (std::from_chars(v.data(), v.data() + v.size(), value).ec != std::errc()) value = kNaN;
      rows.emplace_back(++results, value);
    }
    consumed += at;
    return rows;
  }
};

Json result_json(const TrialResult& r) {
  Json params = Json::object();
  for (const auto& [k, v] : r.config)
    params[k] = v;
  return {{"id", r.id},
          {"params", params},
          {"status", r.status},
          {"reason", r.reason},
          {"best", std::isnan(r.best) ? Json(nullptr) : Json(r.best)},
          {"last", std::isnan(r.last) ? Json(nullptr) : Json(r.last)},
          {"epochs", r.epochs},
          {"seconds", r.seconds},
          {"command", r.command}};
}

// The outcome fields of result_json's object.
void read_outcome(const Json& j, TrialResult& r) {
  r.status = j.at("status").get<std::string>();
  r.reason = j.at("reason").get<std::string>();
  r.best = j.at("best").is_null() ? kNaN : j.at("best").get<double>();
  r.last = j.at("last").is_null() ? kNaN : j.at("last").get<double>();
  r.epochs = j.at("epochs").get<int64_t>();
  r.seconds = j.at("seconds").get<double>();
}

TrialResult result_from_json(const fs::path& file, const TrialResult& planned) {
  std::ifstream in(file);
  Json j;
  try {
    j = Json::parse(in);
    TrialResult r = planned;
    read_outcome(j, r);
    VOLT_CHECK(r.status == "completed" || r.status == "stopped" || r.status == "failed", "status '", r.status, "'");
    return r;
  } catch (const std::exception& e) {
    VOLT_FAIL("sweep: ", file.string(), " is not a trial result (", e.what(),
              "); delete that trial's folder to run it again");
  }
}

void write_results_csv(const fs::path& out, const SweepOptions& o, const std::vector<TrialResult>& results) {
  std::ostringstream csv;
  csv << "trial,status";
  for (const auto& [name, d] : o.space.params())
    csv << ',' << csv_field(name);
  csv << ",best_" << o.metric << ",last_" << o.metric << ",epochs_run,seconds,reason\n";
  for (const TrialResult& r : results) {
    csv << r.id << ',' << r.status;
    for (const auto& [k, v] : r.config)
      csv << ',' << csv_field(v);
    csv << ',' << number_text(r.best) << ',' << number_text(r.last) << ',' << r.epochs << ',' << std::fixed
        << std::setprecision(2) << r.seconds << std::defaultfloat << ',' << csv_field(r.reason) << '\n';
  }
  write_file_atomically(out / "results.csv", csv.str());
}

std::string describe(const Config& c) {
  std::string s;
  for (const auto& [k, v] : c)
    s += (s.empty() ? "" : " ") + k + "=" + v;
  return s;
}

// The sweep's plan and its books: every trial's command, the queue of those to run, ASHA, and
// the files (result.json per trial, results.csv). One per sweep: in an MPI job, on rank 0.
class Scheduler {
 public:
  explicit Scheduler(const SweepOptions& o) : o_(o), out_(o.out) {
    if (o.asha) {
      AshaOptions a = *o.asha;
      a.mode = o.mode;
      asha_.emplace(a);
    }
    const std::vector<Config> configs = o.search == "grid" ? o.space.grid() : o.space.random(o.trials, o.seed);
    check_record(configs.size());
    // Trials that ended in an earlier run are kept (and teach ASHA their rows); the rest rerun.
    for (int64_t id = 0; id < static_cast<int64_t>(configs.size()); ++id) {
      TrialResult r;
      r.id = id;
      r.config = configs[static_cast<std::size_t>(id)];
      const fs::path dir = out_ / trial_name(id);
      r.command = o.command;
      r.command.insert(r.command.end(), {"--out", dir.string()});
      for (const auto& [k, v] : r.config)
        r.command.insert(r.command.end(), {flag_for(k), v});
      r.best = r.last = kNaN;
      if (fs::exists(dir / "result.json")) {
        r = result_from_json(dir / "result.json", r);
        if (asha_) {
          MetricReader reader(dir / o.metrics_file, o.metric);
          for (const auto& [epoch, value] : reader.poll())
            asha_->on_result(id, epoch, value);
        }
      } else {
        fs::remove_all(dir);
        queue_.push_back(id);
      }
      results_.push_back(std::move(r));
    }
  }

  int64_t total() const { return static_cast<int64_t>(results_.size()); }
  bool done() const { return queue_.empty(); }
  std::optional<TrialResult> next() {
    if (queue_.empty()) return std::nullopt;
    const int64_t id = queue_.front();
    queue_.pop_front();
    started_.insert(id);
    return results_[static_cast<std::size_t>(id)];
  }
  // A running trial's row: true when ASHA stops it.
  bool judge(int64_t id, int64_t epoch, double value) { return asha_ && asha_->on_result(id, epoch, value); }

  void end(const TrialResult& r) {
    started_.erase(r.id);
    results_[static_cast<std::size_t>(r.id)] = r;
    const fs::path dir = out_ / trial_name(r.id);
    fs::create_directories(dir);
    write_file_atomically(dir / "result.json", result_json(r).dump(2) + "\n");
    if (!o_.verbose) return;
    std::ostringstream line;
    line << "trial " << r.id << " of " << total() << " " << r.status;
    if (std::isfinite(r.best))
      line << ": best " << o_.metric << " " << number_text(r.best) << " over " << r.epochs << " epoch"
           << (r.epochs == 1 ? "" : "s");
    if (!r.reason.empty()) line << " (" << r.reason << ")";
    line << ", " << std::fixed << std::setprecision(1) << r.seconds << " s";
    std::cout << line.str() << std::endl;
  }

  void started(const TrialResult& r, int rank) const {
    if (!o_.verbose) return;
    std::cout << "trial " << r.id << " of " << total() << " started";
    if (rank >= 0) std::cout << " on rank " << rank;
    std::cout << ": " << describe(r.config) << std::endl;
  }

  // The interrupted trials (running or never started) are marked so; the others are final.
  [[noreturn]] void interrupted(const std::vector<TrialResult>& running) {
    for (const TrialResult& r : running) {
      started_.erase(r.id);
      results_[static_cast<std::size_t>(r.id)] = r;
      results_[static_cast<std::size_t>(r.id)].status = "interrupted";
    }
    for (int64_t id : started_)  // assigned to a worker that did not report back
      results_[static_cast<std::size_t>(id)].status = "interrupted";
    for (int64_t id : queue_)
      results_[static_cast<std::size_t>(id)].status = "interrupted";
    write_results_csv(out_, o_, results_);
    throw SweepInterrupted("sweep: interrupted; the trials that ended are kept in " + o_.out +
                           ": run the same command again to finish the rest");
  }

  std::vector<TrialResult> finish() {
    write_results_csv(out_, o_, results_);
    return results_;
  }

 private:
  // The search, recorded: a folder holds one sweep, resumed only with the same search.
  void check_record(std::size_t trials) {
    fs::create_directories(out_);
    Json record = {{"search", o_.search},
                   {"space", o_.space.specs()},
                   {"metric", o_.metric},
                   {"mode", o_.mode},
                   {"command", o_.command},
                   {"trials", trials},
                   {"metrics_file", o_.metrics_file}};
    if (o_.search == "random") record["seed"] = o_.seed;
    if (o_.asha)
      record["asha"] = {{"grace_period", o_.asha->grace_period}, {"reduction_factor", o_.asha->reduction_factor}};
    const fs::path file = out_ / "sweep.json";
    if (!fs::exists(file)) return write_file_atomically(file, record.dump(2) + "\n");
    Json old;
    try {
      std::ifstream in(file);
      old = Json::parse(in);
    } catch (const std::exception& e) {
      VOLT_FAIL("sweep: ", file.string(), " is not JSON (", e.what(), ")");
    }
    for (const auto& [key, value] : record.items())
      VOLT_CHECK(old.contains(key) && old[key] == value, "sweep: ", o_.out, " holds another sweep: its ", key, " is ",
                 old.contains(key) ? old[key].dump() : "missing", ", this one's ", value.dump(),
                 "; use a new --out folder, or the same search to resume");
  }

  const SweepOptions& o_;
  fs::path out_;
  std::optional<AshaScheduler> asha_;
  std::vector<TrialResult> results_;
  std::deque<int64_t> queue_;
  std::set<int64_t> started_;
};

// The trials running on this process: each a child in its own process group, its stdout and
// stderr in its folder, its metrics.csv read as it grows.
class Runner {
 public:
  using Judge = std::function<bool(int64_t id, int64_t epoch, double value)>;
  using End = std::function<void(const TrialResult&)>;

  Runner(const SweepOptions& o, int rank) : o_(o), rank_(rank) {
    const int64_t cpus = o.cpus > 0 ? o.cpus : cpus_available();
    threads_ = std::max<int64_t>(1, cpus / o.parallel);
  }
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;
  ~Runner() {
    for (auto& [pid, t] : running_) {
      kill(-pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }

  std::size_t size() const { return running_.size(); }
  bool full() const { return static_cast<int64_t>(running_.size()) >= o_.parallel; }

  void start(const TrialResult& planned) {
    Running t;
    t.result = planned;
    const fs::path dir = fs::path(o_.out) / trial_name(planned.id);
    fs::create_directories(dir);
    Json config = {{"id", planned.id}, {"command", planned.command}, {"shell", shell_line(planned.command)}};
    for (const auto& [k, v] : planned.config)
      config["params"][k] = v;
    write_file_atomically(dir / "config.json", config.dump(2) + "\n");

    // The environment: this one's, less an MPI job's own variables (a trial is not a rank of
    // it, and may start a job of its own), with the trial's threads, GPU and the rank running it.
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) {
      const std::string kv = *e;
      const bool mpi = kv.rfind("OMPI_", 0) == 0 || kv.rfind("PMIX_", 0) == 0 || kv.rfind("PMI_", 0) == 0;
      if (mpi || kv.rfind("VOLT_NUM_THREADS=", 0) == 0 || kv.rfind("VOLT_SWEEP_RANK=", 0) == 0 ||
          (!o_.gpus.empty() && kv.rfind("CUDA_VISIBLE_DEVICES=", 0) == 0))
        continue;
      env.push_back(kv);
    }
    env.push_back("VOLT_NUM_THREADS=" + std::to_string(threads_));
    env.push_back("VOLT_SWEEP_RANK=" + std::to_string(rank_));
    if (!o_.gpus.empty()) env.push_back("CUDA_VISIBLE_DEVICES=" + o_.gpus[slot_ % o_.gpus.size()]);
    ++slot_;
    std::vector<char*> envp, argv;
    for (std::string& kv : env)
      envp.push_back(kv.data());
    envp.push_back(nullptr);
    std::vector<std::string> args = planned.command;
    for (std::string& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    const std::string out_log = (dir / "stdout.log").string(), err_log = (dir / "stderr.log").string();
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setpgroup(&attr, 0);  // its own process group: a stop reaches what it starts
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = -1;
    const int rc = posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    // The program cannot start: every trial would fail the same way.
    VOLT_CHECK(rc == 0, "sweep: cannot start ", argv[0], ": ", std::strerror(rc));
    t.pid = pid;
    t.started = Clock::now();
    t.reader = MetricReader(dir / o_.metrics_file, o_.metric);
    running_.emplace(pid, std::move(t));
  }

  // Reads every running trial's new rows (judge decides on each) and ends those that exited.
  void poll(const Judge& judge, const End& end) {
    for (auto it = running_.begin(); it != running_.end();) {
      Running& t = it->second;
      int wstatus = 0;
      if (waitpid(t.pid, &wstatus, WNOHANG) == t.pid) {
        kill(-t.pid, SIGKILL);  // whatever it left behind in its group
        take_rows(t, judge);
        end(finished(t, wstatus));
        it = running_.erase(it);
        continue;
      }
      take_rows(t, judge);
      if (t.killed && Clock::now() - *t.killed > std::chrono::seconds(10)) kill(-t.pid, SIGKILL);
      ++it;
    }
  }

  // Stops every trial (SIGTERM, SIGKILL after `grace`) and returns them, marked interrupted.
  std::vector<TrialResult> stop_all(std::chrono::milliseconds grace) {
    for (auto& [pid, t] : running_)
      kill(-pid, SIGTERM);
    const auto deadline = Clock::now() + grace;
    std::vector<TrialResult> stopped;
    for (auto& [pid, t] : running_) {
      while (waitpid(pid, nullptr, WNOHANG) == 0) {
        if (Clock::now() > deadline) kill(-pid, SIGKILL);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      kill(-pid, SIGKILL);
      t.result.status = "interrupted";
      t.result.seconds = std::chrono::duration<double>(Clock::now() - t.started).count();
      stopped.push_back(t.result);
    }
    running_.clear();
    return stopped;
  }

 private:
  struct Running {
    TrialResult result;
    pid_t pid = -1;
    MetricReader reader;
    Clock::time_point started;
    std::optional<Clock::time_point> killed;  // when SIGTERM went to it
    std::string verdict;                      // stopped or failed, decided by the sweep
  };

  void stop(Running& t, std::string status, std::string reason) {
    if (!t.verdict.empty()) return;
    t.verdict = std::move(status);
    t.result.reason = std::move(reason);
    kill(-t.pid, SIGTERM);
    t.killed = Clock::now();
  }

  void take_rows(Running& t, const Judge& judge) {
    for (const auto& [epoch, value] : t.reader.poll()) {
      if (!t.verdict.empty()) break;
      t.result.epochs = epoch;
      t.result.last = value;
      if (!std::isfinite(value)) {
        stop(t, "failed",
             "diverged: " + o_.metric + " is " + number_text(value) + " at result " + std::to_string(epoch));
        break;
      }
      if (std::isnan(t.result.best) || better(value, t.result.best, o_.mode)) t.result.best = value;
      if (judge(t.result.id, epoch, value)) stop(t, "stopped", "ASHA stopped it at result " + std::to_string(epoch));
    }
  }

  TrialResult finished(Running& t, int wstatus) {
    TrialResult r = t.result;
    r.seconds = std::chrono::duration<double>(Clock::now() - t.started).count();
    const fs::path dir = fs::path(o_.out) / trial_name(r.id);
    if (!t.verdict.empty()) {
      r.status = t.verdict;
    } else if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) {
      r.status = "completed";
      if (!t.reader.error.empty()) {
        r.status = "failed";
        r.reason = t.reader.error;
      } else if (std::isnan(r.last)) {
        r.status = "failed";
        r.reason = "it wrote no " + o_.metric + " to " + (dir / o_.metrics_file).string();
      }
    } else {
      r.status = "failed";
      r.reason = WIFEXITED(wstatus) ? "exit " + std::to_string(WEXITSTATUS(wstatus))
                                    : "killed by " + signal_name(WTERMSIG(wstatus));
      const std::string line = last_line(dir / "stderr.log");
      if (!line.empty()) r.reason += ": " + line;
    }
    return r;
  }

  const SweepOptions& o_;
  int rank_;
  int64_t threads_ = 1;
  std::size_t slot_ = 0;
  std::map<pid_t, Running> running_;
};

void check_options(const SweepOptions& o) {
  VOLT_CHECK(!o.out.empty(), "sweep: no output folder");
  VOLT_CHECK(!o.command.empty(), "sweep: no trial command");
  VOLT_CHECK(!o.space.empty(), "sweep: the search space is empty; give parameters (--param name=domain)");
  VOLT_CHECK(o.search == "grid" || o.search == "random", "sweep: search must be grid or random, got '", o.search, "'");
  VOLT_CHECK(o.mode == "max" || o.mode == "min", "sweep: mode must be max or min, got '", o.mode, "'");
  VOLT_CHECK(o.parallel >= 1, "sweep: --parallel must be at least 1, got ", o.parallel);
  VOLT_CHECK(!o.metric.empty() && o.metric.find(',') == std::string::npos, "sweep: '", o.metric,
             "' is not a metric column name");
  VOLT_CHECK(!o.metrics_file.empty() && fs::path(o.metrics_file).is_relative() &&
                 o.metrics_file.find("..") == std::string::npos,
             "sweep: the metrics file '", o.metrics_file, "' must be a path inside the trial's folder");
}

constexpr auto kTick = std::chrono::milliseconds(50);

// One process: scheduler and runner together.
std::vector<TrialResult> run_here(const SweepOptions& o) {
  Scheduler plan(o);
  Runner runner(o, 0);
  while (!plan.done() || runner.size() > 0) {
    while (!interrupted && !runner.full()) {
      std::optional<TrialResult> t = plan.next();
      if (!t) break;
      runner.start(*t);
      plan.started(*t, -1);
    }
    if (interrupted) plan.interrupted(runner.stop_all(std::chrono::seconds(10)));
    runner.poll([&](int64_t id, int64_t epoch, double v) { return plan.judge(id, epoch, v); },
                [&](const TrialResult& r) { plan.end(r); });
    std::this_thread::sleep_for(kTick);
  }
  return plan.finish();
}

// An MPI job: rank 0 schedules, the others run trials. Messages on a duplicate of the world.
enum Tag : int { kAsk = 1, kRow, kResult, kBye, kAssign, kVerdict };

void send_text(const std::string& s, int to, int tag, MPI_Comm comm) {
  MPI_Send(s.data(), static_cast<int>(s.size()), MPI_CHAR, to, tag, comm);
}

std::string receive_text(int from, int tag, MPI_Comm comm, MPI_Status* status = nullptr) {
  MPI_Status st;
  MPI_Probe(from, tag, comm, &st);
  int n = 0;
  MPI_Get_count(&st, MPI_CHAR, &n);
  std::string s(static_cast<std::size_t>(n), '\0');
  MPI_Recv(s.data(), n, MPI_CHAR, st.MPI_SOURCE, tag, comm, MPI_STATUS_IGNORE);
  if (status) *status = st;
  return s;
}

Json trial_json(const TrialResult& r) {
  Json j = result_json(r);
  j["config"] = Json::array();
  for (const auto& [k, v] : r.config)
    j["config"].push_back({k, v});
  return j;
}

TrialResult trial_from_json(const Json& j) {
  TrialResult r;
  r.id = j.at("id").get<int64_t>();
  for (const auto& kv : j.at("config"))
    r.config.emplace_back(kv.at(0).get<std::string>(), kv.at(1).get<std::string>());
  read_outcome(j, r);
  r.command = j.at("command").get<std::vector<std::string>>();
  return r;
}

std::vector<TrialResult> schedule(const SweepOptions& o, MPI_Comm comm, int world) {
  Scheduler plan(o);
  int working = world - 1;
  std::vector<TrialResult> stopped;  // interrupted trials reported by the workers
  while (working > 0) {
    int flag = 0;
    MPI_Status st;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm, &flag, &st);
    if (!flag) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      continue;
    }
    const int from = st.MPI_SOURCE;
    if (st.MPI_TAG == kAsk) {
      MPI_Recv(nullptr, 0, MPI_CHAR, from, kAsk, comm, MPI_STATUS_IGNORE);
      std::optional<TrialResult> t = interrupted ? std::nullopt : plan.next();
      send_text(t ? trial_json(*t).dump() : std::string(), from, kAssign, comm);
      if (t) plan.started(*t, from);
    } else if (st.MPI_TAG == kRow) {
      double row[3];
      MPI_Recv(row, 3, MPI_DOUBLE, from, kRow, comm, MPI_STATUS_IGNORE);
      int stop = plan.judge(static_cast<int64_t>(row[0]), static_cast<int64_t>(row[1]), row[2]) ? 1 : 0;
      MPI_Send(&stop, 1, MPI_INT, from, kVerdict, comm);
    } else if (st.MPI_TAG == kResult) {
      TrialResult r = trial_from_json(Json::parse(receive_text(from, kResult, comm)));
      if (r.status == "interrupted")
        stopped.push_back(r);
      else
        plan.end(r);
    } else if (st.MPI_TAG == kBye) {
      MPI_Recv(nullptr, 0, MPI_CHAR, from, kBye, comm, MPI_STATUS_IGNORE);
      --working;
    }
  }
  if (interrupted || !stopped.empty()) plan.interrupted(stopped);
  return plan.finish();
}

void work(const SweepOptions& o, MPI_Comm comm, int rank) {
  Runner runner(o, rank);
  bool more = true;
  const auto judge = [&](int64_t id, int64_t epoch, double v) {
    double row[3] = {static_cast<double>(id), static_cast<double>(epoch), v};
    MPI_Send(row, 3, MPI_DOUBLE, 0, kRow, comm);
    int stop = 0;
    MPI_Recv(&stop, 1, MPI_INT, 0, kVerdict, comm, MPI_STATUS_IGNORE);
    return stop != 0;
  };
  const auto end = [&](const TrialResult& r) { send_text(trial_json(r).dump(), 0, kResult, comm); };
  while (more || runner.size() > 0) {
    while (more && !interrupted && !runner.full()) {
      MPI_Send(nullptr, 0, MPI_CHAR, 0, kAsk, comm);
      const std::string text = receive_text(0, kAssign, comm);
      if (text.empty()) {
        more = false;
        break;
      }
      runner.start(trial_from_json(Json::parse(text)));
    }
    if (interrupted) {
      for (const TrialResult& r : runner.stop_all(std::chrono::seconds(2)))
        end(r);
      break;
    }
    runner.poll(judge, end);
    std::this_thread::sleep_for(kTick);
  }
  MPI_Send(nullptr, 0, MPI_CHAR, 0, kBye, comm);
}

}  // namespace

std::string shell_line(const std::vector<std::string>& args) {
  std::string s;
  for (const std::string& a : args) {
    if (!s.empty()) s += ' ';
    if (!a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=/.,:@%") ==
                          std::string::npos) {
      s += a;
    } else {
      s += '\'';
      for (char c : a)
        s += c == '\'' ? std::string("'\\''") : std::string(1, c);
      s += '\'';
    }
  }
  return s;
}

const TrialResult* best_trial(const std::vector<TrialResult>& results, const std::string& mode) {
  const TrialResult* best = nullptr;
  for (const TrialResult& r : results)
    if ((r.status == "completed" || r.status == "stopped") && std::isfinite(r.best) &&
        (!best || better(r.best, best->best, mode)))
      best = &r;
  return best;
}

std::vector<TrialResult> run_sweep(const SweepOptions& o) {
  check_options(o);
  const InterruptGuard guard;
  int initialised = 0, finalised = 0, world = 1, rank = 0;
  MPI_Initialized(&initialised);
  MPI_Finalized(&finalised);
  if (initialised && !finalised) {
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  }
  if (world == 1) return run_here(o);

  MPI_Comm comm;
  MPI_Comm_dup(MPI_COMM_WORLD, &comm);
  struct Free {
    MPI_Comm* c;
    ~Free() { MPI_Comm_free(c); }
  } free_comm{&comm};
  // Rank 0's checks (the search, the folder) end the job on every rank through its error.
  if (rank == 0) return schedule(o, comm, world);
  work(o, comm, rank);
  return {};
}

}  // namespace volt::train
