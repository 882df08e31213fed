// Hyperparameter search spaces: each parameter a distribution to sample from or a list of values
// to search, in the vocabulary of Ray Tune's search spaces (uniform, loguniform, randint, choice
// and grid_search, here grid).
//
//   SearchSpace space = SearchSpace::parse({"lr=loguniform(1e-4,1e-1)", "batch_size=choice(32,64,128)"});
//   std::vector<Config> trials = space.random(8, /*seed=*/0);   // or space.grid()
//
// Values travel as text, as they will on a trial's command line: a sampled float is written in
// the shortest form that reads back to the same double, so a trial sees exactly the value its
// row in results.csv shows.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace volt::train {

// One parameter's domain.
class Domain {
 public:
  enum class Kind { uniform, loguniform, randint, choice, grid };

  static Domain uniform(double low, double high);     // low ≤ x < high
  static Domain loguniform(double low, double high);  // log x uniform in [log low, log high); 0 < low
  static Domain randint(int64_t low, int64_t high);   // whole numbers low ≤ x < high
  static Domain choice(std::vector<std::string> values);
  static Domain grid(std::vector<std::string> values);
  // "uniform(0,1)", "loguniform(1e-4,1e-1)", "randint(1,10)", "choice(sgd,adam)",
  // "grid(32,64)", or a bare value (a constant: a grid of one). Errors name the spec and the reason.
  static Domain parse(const std::string& spec);

  Kind kind() const { return kind_; }
  // choice and grid: their values, in order.
  const std::vector<std::string>& values() const { return values_; }
  // A list (choice or grid), which grid search can enumerate.
  bool finite() const { return kind_ == Kind::choice || kind_ == Kind::grid; }
  // One draw, as text, from the generator state (choice and grid: one of the values, uniformly).
  std::string sample(uint64_t& state) const;
  // The spec this domain reads back from, bounds as they were written ("loguniform(1e-4,1e-1)").
  std::string str() const;

 private:
  Domain(Kind kind, double low, double high, std::vector<std::string> values);
  Kind kind_;
  double low_, high_;
  std::string low_text_, high_text_;  // the bounds as written
  std::vector<std::string> values_;
};

// A trial's configuration: each parameter's value, in the space's order.
using Config = std::vector<std::pair<std::string, std::string>>;

class SearchSpace {
 public:
  // A parameter name is what a trial receives as a flag: letters, digits, '_' and '-'.
  void add(const std::string& name, Domain domain);
  // Each spec "name=domain", as on the command line (--param lr=loguniform(1e-4,1e-1)).
  static SearchSpace parse(const std::vector<std::string>& specs);
  // A JSON object: each value a domain spec ("loguniform(1e-4,1e-1)"), a number or a string (a
  // constant), or an array (a grid of its elements).
  static SearchSpace from_json_file(const std::string& path);

  const std::vector<std::pair<std::string, Domain>>& params() const { return params_; }
  bool empty() const { return params_.empty(); }

  // Grid search: the cartesian product of every parameter's list, the last parameter varying
  // fastest. A parameter drawn from a distribution has no grid: an error names it.
  std::vector<Config> grid() const;
  // Random search: `trials` configurations, every parameter drawn in turn from one splitmix64
  // stream started at `seed` (grid lists drawn like choices). The same seed gives the same trials.
  std::vector<Config> random(int64_t trials, uint64_t seed) const;

  // The space as specs, one per parameter ("lr=loguniform(0.0001,0.1)").
  std::vector<std::string> specs() const;

 private:
  std::vector<std::pair<std::string, Domain>> params_;
};

// A value's flag on a trial's command line: "batch_size" → "--batch-size".
std::string flag_for(const std::string& name);

}  // namespace volt::train
