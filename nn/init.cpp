#include "volt/nn/init.h"

#include <cmath>

#include "volt/autograd/grad_mode.h"
#include "volt/autograd/ops.h"

namespace volt::nn::init {

std::pair<int64_t, int64_t> fan_in_and_fan_out(const Tensor& t) {
  VOLT_CHECK(t.dim() >= 2, "init: fan in and fan out need a tensor with at least 2 dims, got ", describe(t));
  int64_t receptive = 1;
  for (int64_t d = 2; d < t.dim(); ++d)
    receptive *= t.size(d);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

double calculate_gain(const std::string& nonlinearity, double param) {
  if (nonlinearity == "linear" || nonlinearity == "sigmoid") return 1.0;
  if (nonlinearity == "tanh") return 5.0 / 3.0;
  if (nonlinearity == "relu") return std::sqrt(2.0);
  if (nonlinearity == "leaky_relu") return std::sqrt(2.0 / (1.0 + param * param));
  VOLT_FAIL("calculate_gain: unknown nonlinearity '", nonlinearity, "'");
}

Tensor& uniform_(Tensor& t, double from, double to, Generator* gen) {
  NoGradGuard no_grad;
  return t.copy_(rand(t.shape(), t.dtype(), gen) * (to - from) + from);
}

Tensor& normal_(Tensor& t, double mean, double std, Generator* gen) {
  NoGradGuard no_grad;
  return t.copy_(randn(t.shape(), t.dtype(), gen) * std + mean);
}

Tensor& zeros_(Tensor& t) {
  NoGradGuard no_grad;
  return t.zero_();
}

Tensor& ones_(Tensor& t) {
  NoGradGuard no_grad;
  return t.fill_(1.0);
}

Tensor& kaiming_uniform_(Tensor& t, double a, FanMode mode, const std::string& nonlinearity, Generator* gen) {
  const auto [fan_in, fan_out] = fan_in_and_fan_out(t);
  const int64_t fan = mode == FanMode::fan_in ? fan_in : fan_out;
  VOLT_CHECK(fan > 0, "kaiming_uniform_: zero fan for ", describe(t));
  const double bound = calculate_gain(nonlinearity, a) * std::sqrt(3.0 / static_cast<double>(fan));
  return uniform_(t, -bound, bound, gen);
}

Tensor& xavier_uniform_(Tensor& t, double gain, Generator* gen) {
  const auto [fan_in, fan_out] = fan_in_and_fan_out(t);
  VOLT_CHECK(fan_in + fan_out > 0, "xavier_uniform_: zero fans for ", describe(t));
  const double bound = gain * std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  return uniform_(t, -bound, bound, gen);
}

Tensor& kaiming_normal_(Tensor& t, double a, FanMode mode, const std::string& nonlinearity, Generator* gen) {
  const auto [fan_in, fan_out] = fan_in_and_fan_out(t);
  const int64_t fan = mode == FanMode::fan_in ? fan_in : fan_out;
  VOLT_CHECK(fan > 0, "kaiming_normal_: zero fan for ", describe(t));
  return normal_(t, 0.0, calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan)), gen);
}

Tensor& xavier_normal_(Tensor& t, double gain, Generator* gen) {
  const auto [fan_in, fan_out] = fan_in_and_fan_out(t);
  VOLT_CHECK(fan_in + fan_out > 0, "xavier_normal_: zero fans for ", describe(t));
  return normal_(t, 0.0, gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out)), gen);
}

Tensor& constant_(Tensor& t, double value) {
  NoGradGuard no_grad;
  return t.fill_(value);
}

}  // namespace volt::nn::init
