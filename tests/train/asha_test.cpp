#include "volt/train/asha.h"

#include <gtest/gtest.h>

#include <cmath>

#include "volt/core/error.h"

using namespace volt;
using namespace volt::train;

// The expected decisions below are worked by hand from the rule in asha.h (the bar is the
// (1 - 1/3) quantile of the earlier values at the rung, numpy's linear interpolation).
TEST(Asha, StopsTheTrialsBelowTheBarAtEachRung) {
  AshaScheduler asha;  // grace 1, reduction factor 3, max: rungs at 1, 3, 9
  EXPECT_EQ(asha.rungs(30), (std::vector<int64_t>{1, 3, 9, 27}));
  EXPECT_FALSE(asha.on_result(0, 1, 0.5));          // alone at rung 1
  EXPECT_FALSE(asha.on_result(1, 1, 0.6));          // bar of {0.5}: 0.5
  EXPECT_TRUE(asha.on_result(2, 1, 0.4));           // bar of {0.5, 0.6}: 0.5667
  EXPECT_FALSE(asha.on_result(3, 1, 0.7));          // bar of {0.4, 0.5, 0.6}: 0.5333
  EXPECT_TRUE(asha.on_result(4, 1, 0.55));          // bar of {0.4, 0.5, 0.6, 0.7}: 0.6
  EXPECT_FALSE(asha.on_result(5, 1, 0.65));         // bar of {0.4, 0.5, 0.55, 0.6, 0.7}: 0.5833
  EXPECT_FALSE(asha.on_result(0, 2, 0.1));          // epoch 2 is no rung: no judgement
  EXPECT_FALSE(asha.on_result(0, 1, 0.0));          // judged at rung 1 already
  EXPECT_FALSE(asha.on_result(1, 3, 0.7));          // alone at rung 3
  EXPECT_TRUE(asha.on_result(3, 3, 0.5));           // bar of {0.7}: 0.7
  EXPECT_FALSE(asha.on_result(5, 3, 0.8));          // bar of {0.5, 0.7}: 0.6333
  EXPECT_TRUE(asha.on_result(6, 1, std::nan("")));  // a NaN stops and sets no bar
  EXPECT_FALSE(asha.on_result(7, 1, 0.62));         // bar of the six finite values: 0.6167
}

TEST(Asha, MinModeAndTheHighestRungDecides) {
  AshaScheduler asha({.grace_period = 2, .reduction_factor = 2, .mode = "min"});  // rungs 2, 4, 8
  EXPECT_EQ(asha.rungs(16), (std::vector<int64_t>{2, 4, 8, 16}));
  EXPECT_FALSE(asha.on_result(0, 1, 9.0));  // below the first rung
  EXPECT_FALSE(asha.on_result(0, 2, 1.0));
  EXPECT_FALSE(asha.on_result(1, 2, 0.8));  // bar of {1.0}: 1.0
  EXPECT_TRUE(asha.on_result(2, 2, 1.2));   // bar (the 1/2 quantile) of {0.8, 1.0}: 0.9
  // Trial 3 first reports at epoch 9: judged at rung 8 alone (nobody there yet), not at 2 or 4.
  EXPECT_FALSE(asha.on_result(3, 9, 5.0));
  EXPECT_TRUE(asha.on_result(4, 8, 6.0));   // bar of {5.0}: 5.0
  EXPECT_FALSE(asha.on_result(1, 8, 4.0));  // bar of {5.0, 6.0}: 5.5
}

TEST(Asha, RefusesBadOptions) {
  EXPECT_THROW(AshaScheduler({.grace_period = 0}), Error);
  EXPECT_THROW(AshaScheduler({.reduction_factor = 1}), Error);
  EXPECT_THROW(AshaScheduler({.mode = "best"}), Error);
}
