// parallel_for's contract: every index exactly once, chunk boundaries that depend only on the
// range, the grain and the thread count, exceptions carried to the caller, nested calls run
// serially; set_num_threads and VOLT_NUM_THREADS checked; the flush-denormal mode on the caller
// and in the chunks other threads run.
#include "volt/core/thread_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cfloat>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "test_support.h"

namespace volt {
namespace {

using testing::expect_error;

// Restores the thread count a test changed.
struct ThreadsGuard {
  ThreadsGuard() : saved(get_num_threads()) {}
  ~ThreadsGuard() { set_num_threads(saved); }
  int saved;
};

std::vector<std::pair<int64_t, int64_t>> chunks_of(int64_t begin, int64_t end, int64_t grain) {
  std::mutex m;
  std::vector<std::pair<int64_t, int64_t>> seen;
  parallel_for(begin, end, grain, [&](int64_t b, int64_t e) {
    const std::lock_guard<std::mutex> lock(m);
    seen.emplace_back(b, e);
  });
  std::sort(seen.begin(), seen.end());
  return seen;
}

TEST(ThreadPool, EveryIndexExactlyOnceForManyShapes) {
  ThreadsGuard guard;
  for (int threads : {1, 2, 3, 5}) {
    set_num_threads(threads);
    for (auto [begin, end, grain] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
             {0, 1, 1}, {0, 7, 1}, {5, 1005, 10}, {-3, 97, 1}, {0, 100, 1000}, {0, 64, 16}, {0, 1 << 20, 1}}) {
      std::vector<std::atomic<int>> hits(static_cast<std::size_t>(end - begin));
      parallel_for(begin, end, grain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i)
          hits[static_cast<std::size_t>(i - begin)].fetch_add(1);
      });
      for (std::size_t i = 0; i < hits.size(); ++i)
        ASSERT_EQ(hits[i].load(), 1) << "index " << begin + static_cast<int64_t>(i) << ", " << threads << " threads";
    }
  }
}

TEST(ThreadPool, ChunksDependOnlyOnRangeGrainAndThreads) {
  ThreadsGuard guard;
  set_num_threads(3);
  // 100 elements, grain 10: three chunks of 33, 33, 34 (each at least the grain).
  const std::vector<std::pair<int64_t, int64_t>> want = {{0, 33}, {33, 66}, {66, 100}};
  for (int run = 0; run < 20; ++run)
    EXPECT_EQ(chunks_of(0, 100, 10), want);
  EXPECT_EQ(parallel_chunks(0, 100, 10), 3);
  // Fewer chunks than threads when the grain says so; one when the range is under two grains.
  EXPECT_EQ(chunks_of(0, 100, 40), (std::vector<std::pair<int64_t, int64_t>>{{0, 50}, {50, 100}}));
  EXPECT_EQ(chunks_of(0, 100, 60), (std::vector<std::pair<int64_t, int64_t>>{{0, 100}}));
  EXPECT_TRUE(chunks_of(5, 5, 1).empty());
  EXPECT_TRUE(chunks_of(5, 2, 1).empty());
}

TEST(ThreadPool, UsesOtherThreadsWhenAsked) {
  ThreadsGuard guard;
  set_num_threads(2);
  std::mutex m;
  std::set<std::thread::id> ids;
  for (int run = 0; run < 50 && ids.size() < 2; ++run)
    parallel_for(0, 2, 1, [&](int64_t, int64_t) {
      const std::lock_guard<std::mutex> lock(m);
      ids.insert(std::this_thread::get_id());
    });
  EXPECT_EQ(ids.size(), 2u);
}

TEST(ThreadPool, ExceptionReachesTheCallerAndThePoolStillWorks) {
  ThreadsGuard guard;
  set_num_threads(4);
  EXPECT_THROW(parallel_for(0, 4, 1,
                            [](int64_t b, int64_t) {
                              if (b == 3) throw std::runtime_error("chunk 3 failed");
                            }),
               std::runtime_error);
  EXPECT_THROW(parallel_for(0, 4, 1,
                            [](int64_t b, int64_t) {
                              if (b == 0) throw std::runtime_error("the caller's chunk failed");
                            }),
               std::runtime_error);
  std::atomic<int64_t> sum{0};
  parallel_for(0, 1000, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      sum += i;
  });
  EXPECT_EQ(sum.load(), 999 * 1000 / 2);
}

TEST(ThreadPool, NestedCallsRunTheSameChunksSerially) {
  ThreadsGuard guard;
  set_num_threads(2);
  EXPECT_FALSE(in_parallel_region());
  std::vector<std::vector<std::pair<int64_t, int64_t>>> inner(2);
  std::atomic<int> in_region{0};
  parallel_for(0, 2, 1, [&](int64_t b, int64_t) {
    in_region += in_parallel_region() ? 1 : 0;
    // Each outer chunk records the inner chunks it ran itself: all of them, in order.
    parallel_for(0, 10, 1, [&](int64_t ib, int64_t ie) { inner[static_cast<std::size_t>(b)].emplace_back(ib, ie); });
  });
  EXPECT_EQ(in_region.load(), 2);
  const std::vector<std::pair<int64_t, int64_t>> want = {{0, 5}, {5, 10}};
  EXPECT_EQ(inner[0], want);
  EXPECT_EQ(inner[1], want);
}

TEST(ThreadPool, ConcurrentCallersEachGetEveryIndex) {
  ThreadsGuard guard;
  set_num_threads(2);
  std::vector<std::thread> callers;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t)
    callers.emplace_back([&] {
      for (int run = 0; run < 200; ++run) {
        std::atomic<int64_t> sum{0};
        parallel_for(0, 100, 1, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i)
            sum += i;
        });
        if (sum.load() != 4950) ++wrong;
      }
    });
  for (std::thread& c : callers)
    c.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(ThreadPool, ThreadCountsAreChecked) {
  ThreadsGuard guard;
  expect_error([] { set_num_threads(0); }, {"set_num_threads: 0 is not a thread count from 1 to 1024"});
  expect_error([] { set_num_threads(-2); }, {"-2"});
  set_num_threads(7);
  EXPECT_EQ(get_num_threads(), 7);
  EXPECT_EQ(detail::threads_from_setting("3"), 3);
  EXPECT_GE(detail::threads_from_setting(nullptr), 1);
  EXPECT_GE(detail::threads_from_setting(""), 1);
  for (const char* bad : {"0", "-1", "two", "2x", " 2", "1025", "99999999999"})
    expect_error([&] { detail::threads_from_setting(bad); },
                 {"VOLT_NUM_THREADS: '" + std::string(bad) + "' is not a whole number from 1 to 1024"});
}

// The smallest normal float times 0.5: a subnormal under IEEE rules, zero when flushing.
float halve_smallest_normal() {
  volatile float x = FLT_MIN;
  volatile float half = 0.5f;
  return x * half;
}

TEST(ThreadPool, FlushDenormalOnTheCallerAndInEveryChunk) {
  ThreadsGuard guard;
  set_num_threads(3);
  if (!set_flush_denormal(true)) GTEST_SKIP() << "this CPU has no flush-to-zero mode";
  EXPECT_TRUE(flush_denormal());
  EXPECT_EQ(halve_smallest_normal(), 0.0f);
  std::vector<float> got(3, -1.0f);
  parallel_for(0, 3, 1, [&](int64_t b, int64_t) { got[static_cast<std::size_t>(b)] = halve_smallest_normal(); });
  EXPECT_EQ(got, std::vector<float>(3, 0.0f));

  ASSERT_TRUE(set_flush_denormal(false));
  EXPECT_FALSE(flush_denormal());
  EXPECT_EQ(halve_smallest_normal(), FLT_MIN / 2);
  parallel_for(0, 3, 1, [&](int64_t b, int64_t) { got[static_cast<std::size_t>(b)] = halve_smallest_normal(); });
  EXPECT_EQ(got, std::vector<float>(3, FLT_MIN / 2));  // the pool threads follow the caller back
}

}  // namespace
}  // namespace volt
