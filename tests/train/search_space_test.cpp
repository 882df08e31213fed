#include "volt/train/search_space.h"

#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "test_support.h"
#include "volt/core/error.h"

using namespace volt;
using namespace volt::train;

namespace {

double as_double(const std::string& s) {
  double x = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
  EXPECT_TRUE(ec == std::errc() && p == s.data() + s.size()) << s;
  return x;
}

void expect_error(const std::string& spec, const std::string& words) {
  try {
    SearchSpace::parse({spec});
    ADD_FAILURE() << spec << " was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << spec << ": " << e.what();
  }
}

}  // namespace

TEST(SearchSpace, ParsesEachDomainAndWritesItBack) {
  SearchSpace s = SearchSpace::parse({"lr=loguniform(1e-4, 1e-1)", "dropout=uniform(0,0.5)", "layers=randint(1,4)",
                                      "optimizer=choice(sgd,adam)", "batch_size=grid(32,64,128)", "seed=7"});
  ASSERT_EQ(s.params().size(), 6u);
  EXPECT_EQ(s.params()[0].second.kind(), Domain::Kind::loguniform);
  EXPECT_EQ(s.params()[2].second.kind(), Domain::Kind::randint);
  EXPECT_EQ(s.params()[4].second.values(), (std::vector<std::string>{"32", "64", "128"}));
  EXPECT_EQ(s.specs(),
            (std::vector<std::string>{"lr=loguniform(1e-4,1e-1)", "dropout=uniform(0,0.5)", "layers=randint(1,4)",
                                      "optimizer=choice(sgd,adam)", "batch_size=grid(32,64,128)", "seed=7"}));
  // What specs() writes reads back to the same space.
  EXPECT_EQ(SearchSpace::parse(s.specs()).specs(), s.specs());
  EXPECT_EQ(flag_for("batch_size"), "--batch-size");
}

TEST(SearchSpace, RefusesBadSpecsWithTheReason) {
  expect_error("lr", "is not name=domain");
  expect_error("lr=uniform(1,0)", "low < high");
  expect_error("lr=loguniform(0,1)", "0 < low < high");
  expect_error("lr=uniform(1)", "takes two bounds, got 1");
  expect_error("lr=uniform(a,1)", "'a' is not a finite number");
  expect_error("lr=uniform(0,inf)", "is not a finite number");
  expect_error("n=randint(1.5,3)", "'1.5' is not a whole number");
  expect_error("n=randint(3,3)", "low < high");
  expect_error("lr=normal(0,1)", "unknown domain 'normal'");
  expect_error("o=choice()", "needs at least one value");
  expect_error("o=choice(a,)", "an empty or nested value");
  expect_error("o=choice(a,b", "does not end with ')'");
  expect_error("=choice(a)", "is not a parameter name");
  expect_error("l r=choice(a)", "is not a parameter name");
  expect_error("lr=1,2", "neither a value nor a domain");
  EXPECT_THROW(SearchSpace::parse({"batch_size=grid(1,2)", "batch-size=grid(3)"}), Error);  // the same flag
}

TEST(SearchSpace, GridIsTheCartesianProductLastFastest) {
  SearchSpace s = SearchSpace::parse({"a=grid(1,2)", "b=choice(x,y,z)", "c=5"});
  const std::vector<Config> g = s.grid();
  ASSERT_EQ(g.size(), 6u);
  const std::vector<std::string> want = {"1x5", "1y5", "1z5", "2x5", "2y5", "2z5"};
  for (std::size_t i = 0; i < g.size(); ++i) {
    ASSERT_EQ(g[i].size(), 3u);
    EXPECT_EQ(g[i][0].first, "a");
    EXPECT_EQ(g[i][0].second + g[i][1].second + g[i][2].second, want[i]);
  }
  try {
    SearchSpace::parse({"a=grid(1,2)", "lr=uniform(0,1)"}).grid();
    ADD_FAILURE() << "grid over a distribution";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'lr=uniform(0,1)' is a distribution"), std::string::npos) << e.what();
  }
}

TEST(SearchSpace, RandomSearchIsSeededAndKeepsItsBounds) {
  SearchSpace s =
      SearchSpace::parse({"lr=loguniform(1e-4,1e-1)", "p=uniform(-1,3)", "n=randint(1,4)", "o=choice(sgd,adam)"});
  const std::vector<Config> a = s.random(4000, 42), b = s.random(4000, 42), c = s.random(4000, 43);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  std::map<int, int> decades;
  std::map<std::string, int> ints, choices;
  double p_sum = 0;
  for (const Config& cfg : a) {
    const double lr = as_double(cfg[0].second), p = as_double(cfg[1].second);
    ASSERT_GE(lr, 1e-4);
    ASSERT_LT(lr, 1e-1);
    ASSERT_GE(p, -1);
    ASSERT_LT(p, 3);
    p_sum += p;
    ++decades[static_cast<int>(std::floor(std::log10(lr)))];
    ++ints[cfg[2].second];
    ++choices[cfg[3].second];
    // The text is the shortest that reads back to the drawn double.
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, lr);
    ASSERT_EQ(std::string(buf, end), cfg[0].second);
  }
  // log-uniform: each of the three decades holds a third of the draws (binomial sd ~0.0075).
  ASSERT_EQ(decades.size(), 3u);
  for (const auto& [d, n] : decades)
    EXPECT_NEAR(n / 4000.0, 1.0 / 3, 0.03) << "decade 1e" << d;
  EXPECT_NEAR(p_sum / 4000, 1.0, 0.06);  // uniform(-1,3): mean 1, sd of the mean ~0.018
  EXPECT_EQ(ints.size(), 3u);            // 1, 2, 3; never 4
  for (const auto& [v, n] : ints) {
    EXPECT_TRUE(v == "1" || v == "2" || v == "3") << v;
    EXPECT_NEAR(n / 4000.0, 1.0 / 3, 0.03) << v;
  }
  EXPECT_NEAR(choices["adam"] / 4000.0, 0.5, 0.03);
  EXPECT_THROW(s.random(0, 1), Error);
}

TEST(SearchSpace, ReadsAJsonFile) {
  const volt::testing::TempDir dir;
  const std::filesystem::path file = dir.path() / "space.json";
  std::ofstream(file) << R"j({"lr": "loguniform(1e-4,1e-1)", "batch_size": [32, 64], "optimizer": "adam",
                             "momentum": 0.9})j";
  const SearchSpace s = SearchSpace::from_json_file(file.string());
  std::set<std::string> specs;
  for (const std::string& x : s.specs())
    specs.insert(x);
  EXPECT_EQ(specs, (std::set<std::string>{"lr=loguniform(1e-4,1e-1)", "batch_size=grid(32,64)", "optimizer=adam",
                                          "momentum=0.9"}));
  std::ofstream(file) << R"j({"lr": "loguniform(1e-4,1e-1)", )j";  // cut short
  EXPECT_THROW(SearchSpace::from_json_file(file.string()), Error);
  std::ofstream(file) << R"j({"lr": "uniform(2,1)"})j";
  try {
    SearchSpace::from_json_file(file.string());
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("parameter 'lr'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(SearchSpace::from_json_file(dir.file("missing.json")), Error);
}
