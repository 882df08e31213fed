#include "volt/train/search_space.h"

#include <charconv>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "volt/core/error.h"

namespace volt::train {

namespace {

// splitmix64 (Steele, Lea and Flood): a fully specified 64-bit generator, so a seed gives the
// same trials on every platform (std::uniform_real_distribution is implementation-defined).
uint64_t next(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double unit(uint64_t& state) { return static_cast<double>(next(state) >> 11) * 0x1.0p-53; }  // [0, 1)

// A uniform whole number in [0, n), by Lemire's multiply-shift.
uint64_t below(uint64_t& state, uint64_t n) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(next(state)) * n) >> 64);
}

std::string shortest(double x) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, x);
  VOLT_CHECK(ec == std::errc(), "search space: cannot format ", x);
  return std::string(buf, end);
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

double number(const std::string& spec, const std::string& text) {
  double x = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, x);
  VOLT_CHECK(ec == std::errc() && ptr == end && std::isfinite(x), "search space: '", spec, "': '", text,
             "' is not a finite number");
  return x;
}

int64_t whole(const std::string& spec, const std::string& text) {
  int64_t x = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, x);
  VOLT_CHECK(ec == std::errc() && ptr == end, "search space: '", spec, "': '", text, "' is not a whole number");
  return x;
}

std::string joined(const std::vector<std::string>& values) {
  std::string s;
  for (std::size_t i = 0; i < values.size(); ++i)
    s += (i ? "," : "") + values[i];
  return s;
}

}  // namespace

Domain::Domain(Kind kind, double low, double high, std::vector<std::string> values)
    : kind_(kind),
      low_(low),
      high_(high),
      low_text_(kind == Kind::randint ? std::to_string(static_cast<int64_t>(low)) : shortest(low)),
      high_text_(kind == Kind::randint ? std::to_string(static_cast<int64_t>(high)) : shortest(high)),
      values_(std::move(values)) {}

Domain Domain::uniform(double low, double high) {
  VOLT_CHECK(std::isfinite(low) && std::isfinite(high) && low < high, "uniform(", low, ", ", high,
             "): needs finite bounds with low < high");
  return Domain(Kind::uniform, low, high, {});
}

Domain Domain::loguniform(double low, double high) {
  VOLT_CHECK(std::isfinite(low) && std::isfinite(high) && 0 < low && low < high, "loguniform(", low, ", ", high,
             "): needs 0 < low < high");
  return Domain(Kind::loguniform, low, high, {});
}

Domain Domain::randint(int64_t low, int64_t high) {
  VOLT_CHECK(low < high, "randint(", low, ", ", high, "): needs low < high (high itself is never drawn)");
  return Domain(Kind::randint, static_cast<double>(low), static_cast<double>(high), {});
}

Domain Domain::choice(std::vector<std::string> values) {
  VOLT_CHECK(!values.empty(), "choice(): needs at least one value");
  for (const std::string& v : values)
    VOLT_CHECK(!v.empty(), "choice(", joined(values), "): an empty value");
  return Domain(Kind::choice, 0, 0, std::move(values));
}

Domain Domain::grid(std::vector<std::string> values) {
  VOLT_CHECK(!values.empty(), "grid(): needs at least one value");
  for (const std::string& v : values)
    VOLT_CHECK(!v.empty(), "grid(", joined(values), "): an empty value");
  return Domain(Kind::grid, 0, 0, std::move(values));
}

Domain Domain::parse(const std::string& text) {
  const std::string spec = trim(text);
  VOLT_CHECK(!spec.empty(), "search space: an empty domain");
  const auto open = spec.find('(');
  if (open == std::string::npos) {
    VOLT_CHECK(spec.find(')') == std::string::npos && spec.find(',') == std::string::npos, "search space: '", spec,
               "' is neither a value nor a domain such as loguniform(1e-4,1e-1)");
    return grid({spec});
  }
  VOLT_CHECK(spec.back() == ')', "search space: '", spec, "' does not end with ')'");
  const std::string name = spec.substr(0, open);
  std::vector<std::string> args;
  std::stringstream inner(spec.substr(open + 1, spec.size() - open - 2));
  for (std::string a; std::getline(inner, a, ',');)
    args.push_back(trim(a));
  if (!spec.empty() && spec[spec.size() - 2] == ',') args.push_back("");  // "choice(a,)": the empty last
  if (name == "uniform" || name == "loguniform" || name == "randint") {
    VOLT_CHECK(args.size() == 2, "search space: '", spec, "': ", name, " takes two bounds, got ", args.size());
    Domain d = name == "uniform"      ? uniform(number(spec, args[0]), number(spec, args[1]))
               : name == "loguniform" ? loguniform(number(spec, args[0]), number(spec, args[1]))
                                      : randint(whole(spec, args[0]), whole(spec, args[1]));
    d.low_text_ = args[0];
    d.high_text_ = args[1];
    return d;
  }
  if (name == "choice" || name == "grid") {
    VOLT_CHECK(!args.empty() && !(args.size() == 1 && args[0].empty()), "search space: '", spec, "': ", name,
               " needs at least one value");
    for (const std::string& a : args)
      VOLT_CHECK(!a.empty() && a.find_first_of("()") == std::string::npos, "search space: '", spec,
                 "': an empty or nested value");
    return name == "choice" ? choice(args) : grid(args);
  }
  VOLT_FAIL("search space: '", spec, "': unknown domain '", name,
            "'; volt knows uniform, loguniform, randint, choice and grid");
}

std::string Domain::sample(uint64_t& state) const {
  switch (kind_) {
    case Kind::uniform:
      return shortest(low_ + unit(state) * (high_ - low_));
    case Kind::loguniform:
      return shortest(std::exp(std::log(low_) + unit(state) * (std::log(high_) - std::log(low_))));
    case Kind::randint:
      return std::to_string(static_cast<int64_t>(low_) +
                            static_cast<int64_t>(below(state, static_cast<uint64_t>(high_ - low_))));
    case Kind::choice:
    case Kind::grid:
      return values_[below(state, values_.size())];
  }
  return {};
}

std::string Domain::str() const {
  switch (kind_) {
    case Kind::uniform:
      return "uniform(" + low_text_ + "," + high_text_ + ")";
    case Kind::loguniform:
      return "loguniform(" + low_text_ + "," + high_text_ + ")";
    case Kind::randint:
      return "randint(" + low_text_ + "," + high_text_ + ")";
    case Kind::choice:
      return "choice(" + joined(values_) + ")";
    case Kind::grid:
      return values_.size() == 1 ? values_[0] : "grid(" + joined(values_) + ")";
  }
  return {};
}

void SearchSpace::add(const std::string& name, Domain domain) {
  VOLT_CHECK(
      !name.empty() && name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") ==
                           std::string::npos,
      "search space: '", name, "' is not a parameter name (letters, digits, '_' and '-')");
  for (const auto& [n, d] : params_)
    VOLT_CHECK(flag_for(n) != flag_for(name), "search space: the parameter '", name, "' is given twice");
  params_.emplace_back(name, std::move(domain));
}

SearchSpace SearchSpace::parse(const std::vector<std::string>& specs) {
  SearchSpace space;
  for (const std::string& spec : specs) {
    const auto eq = spec.find('=');
    VOLT_CHECK(eq != std::string::npos, "search space: '", spec,
               "' is not name=domain (e.g. lr=loguniform(1e-4,1e-1))");
    space.add(trim(spec.substr(0, eq)), Domain::parse(spec.substr(eq + 1)));
  }
  return space;
}

SearchSpace SearchSpace::from_json_file(const std::string& path) {
  std::ifstream in(path);
  VOLT_CHECK(in, "search space: cannot open ", path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    VOLT_FAIL("search space: ", path, " is not JSON: ", e.what());
  }
  VOLT_CHECK(j.is_object(), "search space: ", path, " must hold an object of parameters");
  const auto value_text = [&](const std::string& name, const nlohmann::json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
    if (v.is_number()) return shortest(v.get<double>());
    if (v.is_boolean()) return std::string(v.get<bool>() ? "true" : "false");
    VOLT_FAIL("search space: ", path, ": parameter '", name, "': a value must be a string, number or boolean");
  };
  SearchSpace space;
  for (const auto& [name, v] : j.items()) {
    try {
      if (v.is_array()) {
        std::vector<std::string> values;
        for (const auto& e : v)
          values.push_back(value_text(name, e));
        space.add(name, Domain::grid(values));
      } else if (v.is_string()) {
        space.add(name, Domain::parse(v.get<std::string>()));
      } else {
        space.add(name, Domain::grid({value_text(name, v)}));
      }
    } catch (const Error& e) {
      VOLT_FAIL(path, ": parameter '", name, "': ", e.what());
    }
  }
  return space;
}

std::vector<Config> SearchSpace::grid() const {
  for (const auto& [name, d] : params_)
    VOLT_CHECK(d.finite(), "grid search: '", name, "=", d.str(),
               "' is a distribution, not a list; use grid(...) or choice(...), or random search");
  std::vector<Config> configs{Config{}};
  for (const auto& [name, d] : params_) {
    std::vector<Config> next_configs;
    for (const Config& c : configs)
      for (const std::string& v : d.values()) {
        Config e = c;
        e.emplace_back(name, v);
        next_configs.push_back(std::move(e));
      }
    configs = std::move(next_configs);
  }
  return params_.empty() ? std::vector<Config>{} : configs;
}

std::vector<Config> SearchSpace::random(int64_t trials, uint64_t seed) const {
  VOLT_CHECK(trials > 0, "random search: --trials must be positive, got ", trials);
  uint64_t state = seed;
  std::vector<Config> configs(static_cast<std::size_t>(trials));
  for (Config& c : configs)
    for (const auto& [name, d] : params_)
      c.emplace_back(name, d.sample(state));
  return configs;
}

std::vector<std::string> SearchSpace::specs() const {
  std::vector<std::string> out;
  for (const auto& [name, d] : params_)
    out.push_back(name + "=" + d.str());
  return out;
}

std::string flag_for(const std::string& name) {
  std::string flag = "--" + name;
  for (char& c : flag)
    if (c == '_') c = '-';
  return flag;
}

}  // namespace volt::train
