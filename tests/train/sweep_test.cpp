#include "volt/train/sweep.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "test_support.h"
#include "train/fake_trial.h"
#include "volt/core/error.h"

using namespace volt;
using namespace volt::train;
namespace fs = std::filesystem;

namespace {

struct Fixture {
  volt::testing::TempDir dir;
  std::string program;
  Fixture() {
    program = dir.file("trial.sh");
    std::ofstream(program) << volt::testing::kFakeTrial;
    fs::permissions(program, fs::perms::owner_all);
  }
  SweepOptions options(std::vector<std::string> params) const {
    SweepOptions o;
    o.out = dir.file("sweep");
    o.command = {program};
    o.space = SearchSpace::parse(params);
    o.search = "grid";
    o.verbose = false;
    return o;
  }
  std::string read(const std::string& rel) const {
    std::ifstream in(dir.path() / rel);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  int lines(const std::string& rel) const {
    const std::string s = read(rel);
    return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
  }
};

}  // namespace

TEST(Sweep, GridOfFourWritesFourRowsAndTheBestReproduces) {
  Fixture f;
  SweepOptions o = f.options({"score=grid(0.25,0.75)", "epochs=grid(1,2)"});
  o.parallel = 2;
  o.cpus = 4;
  o.gpus = {"3"};
  const std::vector<TrialResult> r = run_sweep(o);
  ASSERT_EQ(r.size(), 4u);
  for (const TrialResult& t : r)
    EXPECT_EQ(t.status, "completed") << t.id << ": " << t.reason;
  EXPECT_EQ(r[3].config, (Config{{"score", "0.75"}, {"epochs", "2"}}));
  EXPECT_EQ(r[3].epochs, 2);
  EXPECT_DOUBLE_EQ(r[3].best, 0.75);
  const std::string csv = f.read("sweep/results.csv");
  EXPECT_EQ(f.lines("sweep/results.csv"), 5) << csv;
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "trial,status,score,epochs,best_test_accuracy,last_test_accuracy,epochs_run,seconds,reason");
  EXPECT_NE(csv.find("\n3,completed,0.75,2,0.75,0.75,2,"), std::string::npos) << csv;
  // Each trial had half the CPUs and the one GPU.
  EXPECT_NE(f.read("sweep/runs.log").find("trial-000 threads=2 gpu=3"), std::string::npos) << f.read("sweep/runs.log");

  const TrialResult* best = best_trial(r, "max");
  ASSERT_NE(best, nullptr);
  EXPECT_DOUBLE_EQ(best->best, 0.75);
  EXPECT_EQ(best->config[0].second, "0.75");
  // Its command line, run again by a shell, gives the same metric.
  fs::remove_all(f.dir.path() / "again");
  std::vector<std::string> again = best->command;
  for (std::size_t i = 0; i + 1 < again.size(); ++i)
    if (again[i] == "--out") again[i + 1] = f.dir.file("again");
  ASSERT_EQ(std::system(shell_line(again).c_str()), 0) << shell_line(again);
  const std::string m = f.read("again/metrics.csv");
  EXPECT_NE(m.find("\n1,0.5," + best->config[0].second + "\n"), std::string::npos) << m;
  EXPECT_EQ(best_trial(r, "min")->best, 0.25);
}

TEST(Sweep, AFailingOrDivergingTrialIsRecordedAndTheSweepGoesOn) {
  Fixture f;
  SweepOptions o = f.options({"fail=grid(no,yes)", "nan-at=grid(0,2)", "epochs=3"});
  const std::vector<TrialResult> r = run_sweep(o);
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].status, "completed");
  EXPECT_EQ(r[0].epochs, 3);
  EXPECT_EQ(r[1].status, "failed");
  EXPECT_EQ(r[1].reason, "diverged: test_accuracy is nan at result 2");
  for (int i : {2, 3}) {
    EXPECT_EQ(r[i].status, "failed");
    EXPECT_EQ(r[i].reason, "exit 3: fake trial: told to fail");
  }
  EXPECT_NE(f.read("sweep/results.csv").find(",failed,yes,0,3,nan,nan,0,"), std::string::npos);
  // A metric the trials do not write is named, with the columns they do.
  SweepOptions wrong = f.options({"score=grid(1)"});
  wrong.out = f.dir.file("wrong");
  wrong.metric = "val_loss";
  const std::vector<TrialResult> w = run_sweep(wrong);
  EXPECT_EQ(w[0].status, "failed");
  EXPECT_NE(w[0].reason.find("no column 'val_loss' (its columns: epoch,train_loss,test_accuracy)"), std::string::npos)
      << w[0].reason;
}

TEST(Sweep, ResumeKeepsTheTrialsThatEndedAndRefusesAnotherSearch) {
  Fixture f;
  SweepOptions o = f.options({"score=grid(1,2,3)"});
  run_sweep(o);
  EXPECT_EQ(f.lines("sweep/runs.log"), 3);
  fs::remove(f.dir.path() / "sweep/trial-001/result.json");  // as if it had been running when the sweep died
  const std::vector<TrialResult> r = run_sweep(o);
  EXPECT_EQ(f.lines("sweep/runs.log"), 4);  // trial 1 alone ran again
  EXPECT_NE(f.read("sweep/runs.log").rfind("trial-001"), std::string::npos);
  for (const TrialResult& t : r)
    EXPECT_EQ(t.status, "completed");
  EXPECT_EQ(f.lines("sweep/results.csv"), 4);

  SweepOptions other = f.options({"score=grid(1,2,4)"});
  try {
    run_sweep(other);
    ADD_FAILURE() << "another search in the same folder";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("holds another sweep: its space is"), std::string::npos) << e.what();
  }
  SweepOptions random = f.options({"score=uniform(0,1)"});
  random.search = "random";
  random.trials = 3;
  random.out = f.dir.file("random");
  const std::vector<TrialResult> a = run_sweep(random);
  fs::remove_all(f.dir.path() / "random");
  const std::vector<TrialResult> b = run_sweep(random);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(a[i].config, b[i].config);  // the same seed, the same trials
}

TEST(Sweep, AshaStopsThePoorTrialAtItsRung) {
  Fixture f;
  // One at a time, so the trials reach rung 1 in order: 0.5, 0.6, 0.4, 0.7 (asha_test's numbers).
  SweepOptions o = f.options({"score=grid(0.5,0.6,0.4,0.7)", "epochs=9"});
  o.asha = AshaOptions{};
  const std::vector<TrialResult> r = run_sweep(o);
  EXPECT_EQ(r[0].status, "completed");
  EXPECT_EQ(r[1].status, "completed");
  EXPECT_EQ(r[2].status, "stopped");
  EXPECT_EQ(r[2].epochs, 1);
  EXPECT_EQ(r[2].reason, "ASHA stopped it at result 1");
  EXPECT_EQ(r[3].status, "completed");
  EXPECT_EQ(r[3].epochs, 9);
}

TEST(Sweep, AnInterruptStopsTheTrialsAndARerunFinishesThem) {
  Fixture f;
  SweepOptions o = f.options({"score=grid(1,2)", "epochs=3"});
  o.parallel = 2;
  setenv("SWEEP_TEST_SLEEP", "20", 1);
  std::thread interrupter([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    kill(getpid(), SIGINT);
  });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(run_sweep(o), SweepInterrupted);
  interrupter.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));  // not the trials' 60 s
  const std::string csv = f.read("sweep/results.csv");
  EXPECT_NE(csv.find("\n0,interrupted,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\n1,interrupted,"), std::string::npos) << csv;
  setenv("SWEEP_TEST_SLEEP", "0", 1);
  const std::vector<TrialResult> r = run_sweep(o);
  EXPECT_EQ(r[0].status, "completed");
  EXPECT_EQ(r[1].status, "completed");
  unsetenv("SWEEP_TEST_SLEEP");
}

TEST(Sweep, ReadsACsvLoggerRunAndCountsItsResults) {
  Fixture f;
  // A Trainer-style file: the metric only on validation rows, epochs counted from 0.
  SweepOptions o = f.options({"score=grid(0.5,0.6,0.4)", "epochs=3", "layout=lightning"});
  o.metrics_file = "lightning_logs/version_0/metrics.csv";
  o.asha = AshaOptions{};
  const std::vector<TrialResult> r = run_sweep(o);
  EXPECT_EQ(r[0].status, "completed");
  EXPECT_EQ(r[0].epochs, 3);  // three results, not the rows without the metric
  EXPECT_DOUBLE_EQ(r[0].best, 0.5);
  EXPECT_EQ(r[1].status, "completed");
  EXPECT_EQ(r[2].status, "stopped");  // 0.4 under the bar of {0.5, 0.6} at rung 1
  EXPECT_EQ(r[2].reason, "ASHA stopped it at result 1");
  o.metrics_file = "../elsewhere.csv";
  o.out = f.dir.file("other");
  EXPECT_THROW(run_sweep(o), Error);
}

TEST(Sweep, RefusesBadOptions) {
  Fixture f;
  SweepOptions o = f.options({"score=grid(1)"});
  o.parallel = 0;
  EXPECT_THROW(run_sweep(o), Error);
  o = f.options({"score=uniform(0,1)"});  // grid over a distribution
  EXPECT_THROW(run_sweep(o), Error);
  o = f.options({"score=grid(1)"});
  o.command = {f.dir.file("no-such-program")};
  EXPECT_THROW(run_sweep(o), Error);
}
