// The sweep as an MPI job (run at 1, 2 and 3 ranks): rank 0 schedules, the other ranks run the
// trials; at one rank the sweep runs them itself.
#include <gtest/gtest.h>
#include <mpi.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "train/fake_trial.h"
#include "volt/parallel/process_group.h"
#include "volt/train/sweep.h"

using namespace volt;
using namespace volt::train;
namespace fs = std::filesystem;

namespace {

// A folder every rank shares (rank 0 makes it), with the fake trial program in it.
struct Shared {
  fs::path dir;
  Shared() {
    std::string path(256, '\0');
    if (parallel::get_rank() == 0) {
      std::string pattern = (fs::temp_directory_path() / "volt_sweep_XXXXXX").string();
      if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp");
      std::ofstream(pattern + "/trial.sh") << volt::testing::kFakeTrial;
      fs::permissions(pattern + "/trial.sh", fs::perms::owner_all);
      path.replace(0, pattern.size(), pattern);
    }
    MPI_Bcast(path.data(), static_cast<int>(path.size()), MPI_CHAR, 0, MPI_COMM_WORLD);
    dir = path.c_str();
  }
  ~Shared() {
    MPI_Barrier(MPI_COMM_WORLD);
    if (parallel::get_rank() == 0) fs::remove_all(dir);
  }
  SweepOptions options(std::vector<std::string> params, const std::string& name) const {
    SweepOptions o;
    o.out = (dir / name).string();
    o.command = {(dir / "trial.sh").string()};
    o.space = SearchSpace::parse(params);
    o.search = "grid";
    o.verbose = false;
    return o;
  }
  std::string read(const std::string& rel) const {
    std::ifstream in(dir / rel);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
};

}  // namespace

TEST(SweepMpi, RankZeroSchedulesAndTheOthersRunTheTrials) {
  const Shared shared;
  const int world = parallel::get_world_size(), rank = parallel::get_rank();
  SweepOptions o = shared.options({"score=grid(1,2,3,4)", "epochs=2", "fail=grid(no)"}, "grid");
  setenv("SWEEP_TEST_SLEEP", "0.3", 1);
  const std::vector<TrialResult> r = run_sweep(o);
  unsetenv("SWEEP_TEST_SLEEP");
  if (rank != 0) {
    EXPECT_TRUE(r.empty());  // a worker's results go to rank 0
    return;
  }
  ASSERT_EQ(r.size(), 4u);
  for (const TrialResult& t : r) {
    EXPECT_EQ(t.status, "completed") << t.id << ": " << t.reason;
    EXPECT_EQ(t.epochs, 2);
  }
  EXPECT_DOUBLE_EQ(best_trial(r, "max")->best, 4.0);
  // Which ranks ran the trials: rank 0 alone at world size 1, else every worker and never rank 0;
  // and no trial saw the job's MPI variables.
  std::set<std::string> ranks;
  std::istringstream log(shared.read("grid/runs.log"));
  int lines = 0;
  for (std::string line; std::getline(log, line); ++lines) {
    ranks.insert(line.substr(line.find("rank=")).substr(0, line.substr(line.find("rank=")).find(' ')));
    EXPECT_NE(line.find("mpi=none"), std::string::npos) << line;
  }
  EXPECT_EQ(lines, 4);
  std::set<std::string> want;
  for (int w = world == 1 ? 0 : 1; w < world; ++w)
    want.insert("rank=" + std::to_string(w));
  EXPECT_EQ(ranks, want);
  const std::string csv = shared.read("grid/results.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 5) << csv;
}

TEST(SweepMpi, AshaAndFailuresGoThroughTheScheduler) {
  const Shared shared;
  SweepOptions o = shared.options({"score=grid(0.5,0.6,0.4,0.7)", "epochs=9"}, "asha");
  o.asha = AshaOptions{};
  const std::vector<TrialResult> r = run_sweep(o);
  SweepOptions f = shared.options({"fail=grid(no,yes)"}, "fail");
  const std::vector<TrialResult> failed = run_sweep(f);
  if (parallel::get_rank() != 0) return;
  // Whatever order the workers' rows arrive in, 0.4 meets a bar above it at rung 1 and 0.7 none.
  EXPECT_EQ(r[1].status, "completed");
  EXPECT_EQ(r[2].status, "stopped");
  EXPECT_EQ(r[2].epochs, 1);
  EXPECT_EQ(r[3].status, "completed");
  EXPECT_EQ(r[3].epochs, 9);
  EXPECT_EQ(failed[0].status, "completed");
  EXPECT_EQ(failed[1].status, "failed");
  EXPECT_EQ(failed[1].reason, "exit 3: fake trial: told to fail");
}
