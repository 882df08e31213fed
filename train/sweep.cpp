#include "volt/train/sweep.h"

#include <fcntl.h>
#include <sched.h>
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
#include <iomanip>
#include <iostream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "volt/core/error.h"

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

void write_atomically(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    out.flush();
    VOLT_CHECK(out, "sweep: cannot write ", tmp.string());
  }
  fs::rename(tmp, path);
}

int64_t available_cpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
  return std::max(1u, std::thread::hardware_concurrency());
}

// A running trial's metrics.csv, read as it grows: complete lines only.
struct MetricReader {
  MetricReader() = default;
  MetricReader(fs::path f, std::string m) : file(std::move(f)), metric(std::move(m)) {}
  fs::path file;
  std::string metric;
  std::size_t consumed = 0;  // bytes of complete lines taken
  int epoch_col = -1, metric_col = -1;
  bool header = false;
  std::string error;  // the header lacks a column

  // The new rows: (epoch, value).
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
        for (std::size_t i = 0; i < cells.size(); ++i) {
          if (cells[i] == "epoch") epoch_col = static_cast<int>(i);
          if (cells[i] == metric) metric_col = static_cast<int>(i);
        }
        if (epoch_col < 0 || metric_col < 0)
          error = "its metrics.csv has no column '" + std::string(epoch_col < 0 ? "epoch" : metric) +
                  "' (its columns: " + line + ")";
        continue;
      }
      if (!error.empty() || static_cast<int>(cells.size()) <= std::max(epoch_col, metric_col)) continue;
      int64_t epoch = 0;
      double value = kNaN;
      const std::string& e = cells[static_cast<std::size_t>(epoch_col)];
      const std::string& v = cells[static_cast<std::size_t>(metric_col)];
      std::from_chars(e.data(), e.data() + e.size(), epoch);
      if (std::from_chars(v.data(), v.data() + v.size(), value).ec != std::errc()) value = kNaN;
      rows.emplace_back(epoch, value);
    }
    consumed += at;
    return rows;
  }
};

struct Running {
  TrialResult result;
  pid_t pid = -1;
  MetricReader reader;
  Clock::time_point started;
  std::optional<Clock::time_point> killed;  // when SIGTERM went to it
  std::string verdict;                      // stopped or failed, decided by the sweep
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

TrialResult result_from_json(const fs::path& file, const TrialResult& planned) {
  std::ifstream in(file);
  Json j;
  try {
    j = Json::parse(in);
    TrialResult r = planned;
    r.status = j.at("status").get<std::string>();
    r.reason = j.at("reason").get<std::string>();
    r.best = j.at("best").is_null() ? kNaN : j.at("best").get<double>();
    r.last = j.at("last").is_null() ? kNaN : j.at("last").get<double>();
    r.epochs = j.at("epochs").get<int64_t>();
    r.seconds = j.at("seconds").get<double>();
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
  write_atomically(out / "results.csv", csv.str());
}

std::string describe(const Config& c) {
  std::string s;
  for (const auto& [k, v] : c)
    s += (s.empty() ? "" : " ") + k + "=" + v;
  return s;
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
  VOLT_CHECK(!o.out.empty(), "sweep: no output folder");
  VOLT_CHECK(!o.command.empty(), "sweep: no trial command");
  VOLT_CHECK(!o.space.empty(), "sweep: the search space is empty; give parameters (--param name=domain)");
  VOLT_CHECK(o.search == "grid" || o.search == "random", "sweep: search must be grid or random, got '", o.search, "'");
  VOLT_CHECK(o.mode == "max" || o.mode == "min", "sweep: mode must be max or min, got '", o.mode, "'");
  VOLT_CHECK(o.parallel >= 1, "sweep: --parallel must be at least 1, got ", o.parallel);
  VOLT_CHECK(!o.metric.empty() && o.metric.find(',') == std::string::npos, "sweep: '", o.metric,
             "' is not a metric column name");
  std::optional<AshaScheduler> asha;
  if (o.asha) {
    AshaOptions a = *o.asha;
    a.mode = o.mode;
    asha.emplace(a);
  }
  const std::vector<Config> configs = o.search == "grid" ? o.space.grid() : o.space.random(o.trials, o.seed);

  // The search, recorded: a folder holds one sweep, resumed only with the same search.
  const fs::path out = o.out;
  fs::create_directories(out);
  Json record = {{"search", o.search}, {"space", o.space.specs()}, {"metric", o.metric},
                 {"mode", o.mode},     {"command", o.command},     {"trials", configs.size()}};
  if (o.search == "random") record["seed"] = o.seed;
  if (o.asha) record["asha"] = {{"grace_period", o.asha->grace_period}, {"reduction_factor", o.asha->reduction_factor}};
  const fs::path record_file = out / "sweep.json";
  if (fs::exists(record_file)) {
    Json old;
    try {
      std::ifstream in(record_file);
      old = Json::parse(in);
    } catch (const std::exception& e) {
      VOLT_FAIL("sweep: ", record_file.string(), " is not JSON (", e.what(), ")");
    }
    for (const auto& [key, value] : record.items())
      VOLT_CHECK(old.contains(key) && old[key] == value, "sweep: ", o.out, " holds another sweep: its ", key, " is ",
                 old.contains(key) ? old[key].dump() : "missing", ", this one's ", value.dump(),
                 "; use a new --out folder, or the same search to resume");
  } else {
    write_atomically(record_file, record.dump(2) + "\n");
  }

  const int64_t cpus = o.cpus > 0 ? o.cpus : available_cpus();
  const int64_t threads = std::max<int64_t>(1, cpus / o.parallel);
  const int64_t total = static_cast<int64_t>(configs.size());

  // Trials that ended in an earlier run are kept (and teach ASHA their rows); the rest rerun.
  std::vector<TrialResult> results(configs.size());
  std::deque<int64_t> queue;
  for (int64_t id = 0; id < total; ++id) {
    TrialResult& r = results[static_cast<std::size_t>(id)];
    r.id = id;
    r.config = configs[static_cast<std::size_t>(id)];
    const fs::path dir = out / trial_name(id);
    r.command = o.command;
    r.command.insert(r.command.end(), {"--out", dir.string()});
    for (const auto& [k, v] : r.config)
      r.command.insert(r.command.end(), {flag_for(k), v});
    r.best = r.last = kNaN;
    if (fs::exists(dir / "result.json")) {
      r = result_from_json(dir / "result.json", r);
      if (asha) {
        MetricReader reader(dir / "metrics.csv", o.metric);
        for (const auto& [epoch, value] : reader.poll())
          asha->on_result(id, epoch, value);
      }
      continue;
    }
    fs::remove_all(dir);
    queue.push_back(id);
  }

  const InterruptGuard guard;
  std::map<pid_t, Running> running;
  int64_t slot = 0;

  const auto start = [&](int64_t id) {
    Running t;
    t.result = results[static_cast<std::size_t>(id)];
    const fs::path dir = out / trial_name(id);
    fs::create_directories(dir);
    Json config = {{"id", id}, {"command", t.result.command}, {"shell", shell_line(t.result.command)}};
    for (const auto& [k, v] : t.result.config)
      config["params"][k] = v;
    write_atomically(dir / "config.json", config.dump(2) + "\n");

    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) {
      const std::string kv = *e;
      if (kv.rfind("VOLT_NUM_THREADS=", 0) == 0 || (!o.gpus.empty() && kv.rfind("CUDA_VISIBLE_DEVICES=", 0) == 0))
        continue;
      env.push_back(kv);
    }
    env.push_back("VOLT_NUM_THREADS=" + std::to_string(threads));
    if (!o.gpus.empty())
      env.push_back("CUDA_VISIBLE_DEVICES=" + o.gpus[static_cast<std::size_t>(slot) % o.gpus.size()]);
    ++slot;
    std::vector<char*> envp, argv;
    for (std::string& kv : env)
      envp.push_back(kv.data());
    envp.push_back(nullptr);
    std::vector<std::string> args = t.result.command;
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
    t.started = Clock::now();
    t.reader = MetricReader(dir / "metrics.csv", o.metric);
    if (rc != 0) {  // the program cannot start: every trial would fail the same way
      VOLT_FAIL("sweep: cannot start ", argv[0], ": ", std::strerror(rc));
    }
    t.pid = pid;
    if (o.verbose)
      std::cout << "trial " << id << " of " << total << " started: " << describe(t.result.config) << std::endl;
    running.emplace(pid, std::move(t));
  };

  const auto stop = [](Running& t, std::string status, std::string reason) {
    if (!t.verdict.empty()) return;
    t.verdict = std::move(status);
    t.result.reason = std::move(reason);
    kill(-t.pid, SIGTERM);
    t.killed = Clock::now();
  };

  const auto take_rows = [&](Running& t) {
    for (const auto& [epoch, value] : t.reader.poll()) {
      if (!t.verdict.empty()) break;
      t.result.epochs = epoch;
      t.result.last = value;
      if (!std::isfinite(value)) {
        stop(t, "failed", "diverged: " + o.metric + " is " + number_text(value) + " at epoch " + std::to_string(epoch));
        break;
      }
      if (std::isnan(t.result.best) || better(value, t.result.best, o.mode)) t.result.best = value;
      if (asha && asha->on_result(t.result.id, epoch, value))
        stop(t, "stopped", "ASHA stopped it after epoch " + std::to_string(epoch));
    }
  };

  const auto finish = [&](Running& t, int wstatus) {
    take_rows(t);
    TrialResult& r = t.result;
    r.seconds = std::chrono::duration<double>(Clock::now() - t.started).count();
    const fs::path dir = out / trial_name(r.id);
    if (!t.verdict.empty()) {
      r.status = t.verdict;
    } else if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) {
      r.status = "completed";
      if (!t.reader.error.empty()) {
        r.status = "failed";
        r.reason = t.reader.error;
      } else if (t.reader.consumed == 0 || std::isnan(r.last)) {
        r.status = "failed";
        r.reason = "it wrote no " + o.metric + " to " + (dir / "metrics.csv").string();
      }
    } else {
      r.status = "failed";
      r.reason = WIFEXITED(wstatus) ? "exit " + std::to_string(WEXITSTATUS(wstatus))
                                    : "killed by " + signal_name(WTERMSIG(wstatus));
      const std::string line = last_line(dir / "stderr.log");
      if (!line.empty()) r.reason += ": " + line;
    }
    write_atomically(dir / "result.json", result_json(r).dump(2) + "\n");
    if (o.verbose) {
      std::ostringstream line;
      line << "trial " << r.id << " of " << total << " " << r.status;
      if (std::isfinite(r.best))
        line << ": best " << o.metric << " " << number_text(r.best) << " over " << r.epochs << " epoch"
             << (r.epochs == 1 ? "" : "s");
      if (!r.reason.empty()) line << " (" << r.reason << ")";
      line << ", " << std::fixed << std::setprecision(1) << r.seconds << " s";
      std::cout << line.str() << std::endl;
    }
    results[static_cast<std::size_t>(r.id)] = r;
  };

  try {
    while (!queue.empty() || !running.empty()) {
      while (!interrupted && !queue.empty() && static_cast<int64_t>(running.size()) < o.parallel) {
        start(queue.front());
        queue.pop_front();
      }
      if (interrupted) break;
      for (auto it = running.begin(); it != running.end();) {
        Running& t = it->second;
        int wstatus = 0;
        const pid_t done = waitpid(t.pid, &wstatus, WNOHANG);
        if (done == t.pid) {
          kill(-t.pid, SIGKILL);  // whatever it left behind in its group
          finish(t, wstatus);
          it = running.erase(it);
          continue;
        }
        take_rows(t);
        if (t.killed && Clock::now() - *t.killed > std::chrono::seconds(10)) kill(-t.pid, SIGKILL);
        ++it;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  } catch (...) {
    for (auto& [pid, t] : running)
      kill(-pid, SIGKILL);
    for (auto& [pid, t] : running)
      waitpid(pid, nullptr, 0);
    throw;
  }

  if (interrupted) {
    for (auto& [pid, t] : running)
      kill(-pid, SIGTERM);
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    for (auto& [pid, t] : running) {
      while (waitpid(pid, nullptr, WNOHANG) == 0) {
        if (Clock::now() > deadline) kill(-pid, SIGKILL);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      kill(-pid, SIGKILL);
      TrialResult& r = results[static_cast<std::size_t>(t.result.id)];
      r = t.result;
      r.status = "interrupted";
      r.seconds = std::chrono::duration<double>(Clock::now() - t.started).count();
    }
    for (int64_t id : queue)
      results[static_cast<std::size_t>(id)].status = "interrupted";
    write_results_csv(out, o, results);
    throw SweepInterrupted("sweep: interrupted; the trials that ended are kept in " + o.out +
                           ": run the same command again to finish the rest");
  }
  write_results_csv(out, o, results);
  return results;
}

}  // namespace volt::train
