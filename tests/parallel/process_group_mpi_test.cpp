// The MPI process group at the world size mpirun gives it (CTest runs it at 1, 2 and 3 ranks):
// every collective against a reference computed here from what each rank contributes, in every
// dtype; the refusals; and a peer that arrives late, which the others see as a timeout error
// naming the collective (and which a later wait still completes).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "test_support.h"
#include "volt/parallel/process_group.h"
#include "volt/volt.h"

namespace volt::parallel {
namespace {

using volt::testing::expect_error;

// Rank r's contribution: element i is (r + 1)·(i + 1), so sums, maxima and sources are known.
Tensor contribution(int rank, int64_t n, DType dtype) {
  std::vector<double> v;
  for (int64_t i = 0; i < n; ++i)
    v.push_back(static_cast<double>((rank + 1) * (i + 1) % 97));
  return tensor(v, {n}, DType::f64).to(dtype);
}

const DType kDtypes[] = {DType::f32, DType::f64, DType::f16, DType::bf16, DType::i32, DType::i64, DType::u8};

TEST(ProcessGroupMPI, AllReduceSumAvgMax) {
  ProcessGroup& pg = get_default_group();
  const int world = pg.size();
  for (DType dtype : kDtypes)
    for (ReduceOp op : {ReduceOp::sum, ReduceOp::avg, ReduceOp::max}) {
      if (op == ReduceOp::avg && !is_floating(dtype)) continue;
      if (dtype == DType::u8 && op == ReduceOp::sum) continue;  // wraps at 256: checked apart below
      for (int64_t n : {1, 1000}) {
        Tensor t = contribution(pg.rank(), n, dtype);
        pg.all_reduce(t, op)->wait();
        std::vector<double> want(static_cast<std::size_t>(n), 0.0);
        for (int r = 0; r < world; ++r) {
          const auto c = contribution(r, n, DType::f64).to_vector<double>();
          for (std::size_t i = 0; i < want.size(); ++i)
            want[i] = op == ReduceOp::max ? (r == 0 ? c[i] : std::max(want[i], c[i])) : want[i] + c[i];
        }
        if (op == ReduceOp::avg)
          for (double& w : want)
            w /= world;
        EXPECT_TRUE(allclose(t.to(DType::f64), tensor(want, {n}, DType::f64),
                             is_half(dtype)        ? 1e-2
                             : dtype == DType::f32 ? 1e-6
                                                   : 1e-12))
            << dtype_name(dtype) << " op " << static_cast<int>(op) << " n " << n;
        EXPECT_EQ(t.dtype(), dtype);
      }
    }
  Tensor flags = tensor(std::vector<bool>{pg.rank() == world - 1, false});
  pg.all_reduce(flags, ReduceOp::max)->wait();
  EXPECT_EQ(flags.to_vector<bool>(), (std::vector<bool>{true, false}));
}

TEST(ProcessGroupMPI, BroadcastAllGatherReduceScatterBarrier) {
  ProcessGroup& pg = get_default_group();
  const int world = pg.size(), rank = pg.rank();
  for (DType dtype : kDtypes) {
    const int root = world - 1;
    Tensor b = contribution(rank, 33, dtype);
    pg.broadcast(b, root)->wait();
    EXPECT_TRUE(allclose(b.to(DType::f64), contribution(root, 33, dtype).to(DType::f64), 0, 0)) << dtype_name(dtype);

    std::vector<Tensor> gathered;
    for (int r = 0; r < world; ++r)
      gathered.push_back(zeros({5}, dtype));
    pg.all_gather(gathered, contribution(rank, 5, dtype))->wait();
    for (int r = 0; r < world; ++r)
      EXPECT_TRUE(allclose(gathered[static_cast<std::size_t>(r)].to(DType::f64),
                           contribution(r, 5, dtype).to(DType::f64), 0, 0))
          << dtype_name(dtype) << " from rank " << r;

    if (dtype == DType::u8) continue;
    std::vector<Tensor> inputs;  // input j of rank r: contribution(r + j)
    for (int j = 0; j < world; ++j)
      inputs.push_back(contribution(rank + j, 4, dtype));
    Tensor out = zeros({4}, dtype);
    pg.reduce_scatter(out, inputs, ReduceOp::sum)->wait();
    Tensor want = zeros({4}, DType::f64);
    for (int r = 0; r < world; ++r)
      want = add(want, contribution(r + rank, 4, DType::f64));  // every rank's input[rank]
    EXPECT_TRUE(allclose(out.to(DType::f64), want, is_half(dtype) ? 1e-2 : 0, 0)) << dtype_name(dtype);
  }
  pg.barrier()->wait();
}

TEST(ProcessGroupMPI, RefusesWhatCannotWork) {
  ProcessGroup& pg = get_default_group();
  Tensor ints = tensor(std::vector<int64_t>{1, 2});
  expect_error([&] { pg.all_reduce(ints, ReduceOp::avg); }, {"all_reduce: avg needs a floating tensor"});
  Tensor t = zeros({2});
  expect_error([&] { pg.broadcast(t, pg.size()); }, {"broadcast: root", "is not a rank"});
  std::vector<Tensor> too_few;
  expect_error([&] { pg.all_gather(too_few, t); }, {"all_gather: 0 outputs for"});
  expect_error([] { init_process_group("mpi"); }, {"already initialised"});
  expect_error([] { ProcessGroupMPI bad({.timeout = std::chrono::milliseconds(0)}); }, {"timeout must be positive"});
}

TEST(ProcessGroupMPI, ALatePeerIsATimeoutThatNamesTheCollective) {
  ProcessGroupMPI pg({.timeout = std::chrono::milliseconds(300)});
  if (pg.size() < 2) GTEST_SKIP() << "needs two ranks";
  Tensor t = ones({8});
  if (pg.rank() == 1) std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // stalls past the timeout
  auto work = pg.all_reduce(t);
  if (pg.rank() != 1) {
    expect_error([&] { work->wait(); }, {"all_reduce #1 (f32, 8 elements, sum) on rank",
                                         "did not complete within 300 ms", "rank 1 did not arrive", "abort_job"});
  }
  work->wait(std::chrono::seconds(30));  // the late rank arrives: the collective completes after all
  EXPECT_EQ(t.to_vector<float>()[0], static_cast<float>(pg.size()));
}

TEST(ProcessGroupMPI, TheRanksThatDidNotArriveAreNamedAndTheOthersAreNot) {
  ProcessGroupMPI pg({.timeout = std::chrono::milliseconds(400)});
  if (pg.size() < 3) GTEST_SKIP() << "needs three ranks";
  Tensor t = ones({4});
  const int late = pg.size() - 1;
  if (pg.rank() == late) std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  auto work = pg.all_reduce(t);
  if (pg.rank() != late) {
    try {
      work->wait();
      ADD_FAILURE() << "the all_reduce completed without rank " << late;
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("; rank " + std::to_string(late) + " did not arrive"), std::string::npos) << m;
      EXPECT_EQ(m.find("ranks "), std::string::npos) << m;  // the waiting ones are not named with it
    }
  }
  work->wait(std::chrono::seconds(30));
  pg.barrier()->wait(std::chrono::seconds(30));
}

TEST(ProcessGroupMPI, DebugModeNamesTheRankWhoseCollectiveDiffers) {
  ProcessGroupMPI pg({.timeout = std::chrono::seconds(20), .debug = true});
  Tensor same = ones({6});
  pg.all_reduce(same, ReduceOp::sum)->wait();  // the same everywhere: passes the comparison
  EXPECT_EQ(same.to_vector<float>()[0], static_cast<float>(pg.size()));
  if (pg.size() < 2) GTEST_SKIP() << "needs two ranks";
  // The last rank reduces 7 elements where the others reduce 6: every rank refuses it before
  // MPI sees it, and names that rank.
  Tensor t = ones({pg.rank() == pg.size() - 1 ? 7 : 6});
  const std::string last = std::to_string(pg.size() - 1);
  expect_error([&] { pg.all_reduce(t, ReduceOp::sum); }, {"VOLT_DISTRIBUTED_DEBUG: collective #2 differs across ranks",
                                                          "rank 0 calls all_reduce (f32, 6 elements, sum), rank " +
                                                              last + " calls all_reduce (f32, 7 elements, sum)"});
  // A different kind: a broadcast against an all_reduce.
  Tensor u = ones({3});
  if (pg.rank() == 0)
    expect_error([&] { pg.broadcast(u, 0); },
                 {"rank 0 calls broadcast (f32, 3 elements, root 0), rank 1 calls all_reduce"});
  else
    expect_error([&] { pg.all_reduce(u, ReduceOp::max); },
                 {"differs across ranks", "rank 1 calls all_reduce (f32, 3 elements, max)"});
}

// An environment variable as it was, put back at the end of the scope.
class SavedVariable {
 public:
  explicit SavedVariable(std::string name) : name_(std::move(name)) {
    if (const char* v = std::getenv(name_.c_str())) value_ = v;
  }
  ~SavedVariable() {
    if (value_)
      setenv(name_.c_str(), value_->c_str(), 1);
    else
      unsetenv(name_.c_str());
  }

 private:
  std::string name_;
  std::optional<std::string> value_;
};

TEST(ProcessGroupMPI, DebugModeFromTheEnvironment) {
  const SavedVariable saved("VOLT_DISTRIBUTED_DEBUG");
  setenv("VOLT_DISTRIBUTED_DEBUG", "1", 1);
  EXPECT_TRUE(ProcessGroupOptions::debug_from_environment());
  EXPECT_TRUE(ProcessGroupOptions{}.debug);
  setenv("VOLT_DISTRIBUTED_DEBUG", "0", 1);
  EXPECT_FALSE(ProcessGroupOptions{}.debug);
  setenv("VOLT_DISTRIBUTED_DEBUG", "yes", 1);
  expect_error([] { (void)ProcessGroupOptions::debug_from_environment(); },
               {"VOLT_DISTRIBUTED_DEBUG: expected 0 or 1, got 'yes'"});
}

TEST(ProcessGroupMPI, TimeoutFromTheEnvironment) {
  const SavedVariable saved("VOLT_DISTRIBUTED_TIMEOUT");
  unsetenv("VOLT_DISTRIBUTED_TIMEOUT");
  EXPECT_EQ(ProcessGroupOptions{}.timeout, std::chrono::seconds(30));
  setenv("VOLT_DISTRIBUTED_TIMEOUT", "2.5", 1);
  EXPECT_EQ(ProcessGroupOptions{}.timeout, std::chrono::milliseconds(2500));
  for (const char* bad : {"0", "-1", "2s", "nan", "0.0001"}) {
    setenv("VOLT_DISTRIBUTED_TIMEOUT", bad, 1);
    expect_error([] { (void)ProcessGroupOptions::timeout_from_environment(); },
                 {"VOLT_DISTRIBUTED_TIMEOUT: expected seconds", std::string("got '") + bad + "'"});
  }
}

TEST(ProcessGroupMPI, BackendsAreLookedUpByName) {
  expect_error([] { init_process_group("gloo"); }, {"unknown backend 'gloo'", "this build has: mpi"});
  expect_error([] { register_backend("", nullptr); }, {"needs a name and a constructor"});
}

}  // namespace
}  // namespace volt::parallel
