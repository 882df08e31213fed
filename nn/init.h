// Parameter initialisers, in place and without recording a graph, as torch.nn.init.
#pragma once

#include <string>

#include "volt/core/generator.h"
#include "volt/core/tensor.h"

namespace volt::nn::init {

enum class FanMode { fan_in, fan_out };

// fan_in = size(1) · receptive field, fan_out = size(0) · receptive field (needs ≥ 2 dims).
std::pair<int64_t, int64_t> fan_in_and_fan_out(const Tensor& t);
// The recommended gain for a nonlinearity: "linear", "relu", "tanh", "sigmoid", "leaky_relu".
double calculate_gain(const std::string& nonlinearity, double param = 0.01);

Tensor& uniform_(Tensor& t, double from = 0.0, double to = 1.0, Generator* gen = nullptr);
Tensor& normal_(Tensor& t, double mean = 0.0, double std = 1.0, Generator* gen = nullptr);
Tensor& zeros_(Tensor& t);
Tensor& ones_(Tensor& t);
// U(-b, b), b = gain(nonlinearity, a) · sqrt(3 / fan). PyTorch's Linear uses a = √5.
Tensor& kaiming_uniform_(Tensor& t, double a = 0.0, FanMode mode = FanMode::fan_in,
                         const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);
// N(0, std²), std = gain(nonlinearity, a) / sqrt(fan).
Tensor& kaiming_normal_(Tensor& t, double a = 0.0, FanMode mode = FanMode::fan_in,
                        const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);
// U(-b, b), b = gain · sqrt(6 / (fan_in + fan_out)).
Tensor& xavier_uniform_(Tensor& t, double gain = 1.0, Generator* gen = nullptr);
// N(0, std²), std = gain · sqrt(2 / (fan_in + fan_out)).
Tensor& xavier_normal_(Tensor& t, double gain = 1.0, Generator* gen = nullptr);
Tensor& constant_(Tensor& t, double value);

}  // namespace volt::nn::init
