// LoggedMetrics under several ranks (CTest runs it at 1, 2 and 3): the epoch values of sync_dist
// metrics are reduced over the ranks, the others stay each rank's own. Rank r logs values made
// from r, so the expected results are sums over r computed here.
#include <gtest/gtest.h>

#include "volt/parallel/process_group.h"
#include "volt/volt.h"

namespace volt::train {
namespace {

LogOptions epoch_only(Reduce reduce, bool sync_dist) {
  LogOptions o;
  o.on_step = false;
  o.on_epoch = true;
  o.reduce = reduce;
  o.sync_dist = sync_dist;
  return o;
}

TEST(LoggedMetricsMPI, SyncDistReducesEpochValuesOverTheRanks) {
  parallel::ProcessGroup& pg = parallel::get_default_group();
  const int rank = pg.rank(), world = pg.size();
  const double v = rank + 1;
  LoggedMetrics m;
  // mean, weighted by batch size: v with batch v, then 2v with batch 1.
  m.log("mean", scalar_tensor(v), epoch_only(Reduce::mean, true), rank + 1);
  m.log("mean", scalar_tensor(2 * v), epoch_only(Reduce::mean, true), 1);
  m.log("sum", scalar_tensor(v), epoch_only(Reduce::sum, true), 1);
  m.log("sum", scalar_tensor(v), epoch_only(Reduce::sum, true), 1);
  m.log("max", scalar_tensor(v), epoch_only(Reduce::max, true), 1);
  m.log("max", scalar_tensor(-v), epoch_only(Reduce::max, true), 1);
  m.log("min", scalar_tensor(v), epoch_only(Reduce::min, true), 1);
  m.log("min", scalar_tensor(10.0), epoch_only(Reduce::min, true), 1);
  m.log("local", scalar_tensor(v), epoch_only(Reduce::mean, false), 1);

  double weighted = 0, weight = 0, sum = 0;
  for (int r = 0; r < world; ++r) {
    const double x = r + 1;
    weighted += x * x + 2 * x;
    weight += x + 1;
    sum += 2 * x;
  }
  const Metrics out = m.epoch_metrics(&pg);
  EXPECT_NEAR(out.at("mean").item<double>(), weighted / weight, 1e-6);
  EXPECT_EQ(out.at("sum").item<double>(), sum);
  EXPECT_EQ(out.at("max").item<double>(), world);
  EXPECT_EQ(out.at("min").item<double>(), 1.0);
  EXPECT_EQ(out.at("local").item<double>(), v);
  // Asking again reduces the same accumulators again, not the reduced ones.
  EXPECT_EQ(m.epoch_metrics(&pg).at("sum").item<double>(), sum);
}

}  // namespace
}  // namespace volt::train
