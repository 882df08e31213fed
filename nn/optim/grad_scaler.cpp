#include "volt/nn/optim/grad_scaler.h"

#include <cmath>
#include <string>

#include "volt/autograd/grad_mode.h"
#include "volt/autograd/ops.h"
#include "volt/core/device_graph.h"
#include "volt/kernels/amp.h"

namespace volt::optim {

GradScaler::GradScaler(double init_scale, double growth_factor, double backoff_factor, int64_t growth_interval,
                       bool enabled)
    : enabled_(enabled),
      init_scale_(init_scale),
      growth_factor_(growth_factor),
      backoff_factor_(backoff_factor),
      growth_interval_(growth_interval) {
  VOLT_CHECK(init_scale > 0 && std::isfinite(init_scale), "GradScaler: init_scale must be positive, got ", init_scale);
  VOLT_CHECK(growth_factor > 1.0, "GradScaler: growth_factor must be above 1, got ", growth_factor);
  VOLT_CHECK(backoff_factor > 0 && backoff_factor < 1.0, "GradScaler: backoff_factor must be in (0, 1), got ",
             backoff_factor);
  VOLT_CHECK(growth_interval > 0 && growth_interval < (int64_t{1} << 31),
             "GradScaler: growth_interval must be a positive 32-bit count, got ", growth_interval);
}

void GradScaler::ensure_on(Device device) {
  if (scale_.defined()) {
    VOLT_CHECK(scale_.device() == device, "GradScaler: its scale lives on ", scale_.device(), ", the tensors are on ",
               device, "; one scaler serves one device");
    return;
  }
  VOLT_CHECK(!is_capturing(device),
             "GradScaler: its scale would be made inside a CUDA graph capture, where every "
             "replay would make it again; scale a loss eagerly before capturing");
  scale_ = full({}, init_scale_, TensorOptions(DType::f32).device(device));
  growth_tracker_ = growth_tracker_.defined() ? growth_tracker_.to(device).clone()  // from load_state_dict
                                              : zeros({}, TensorOptions(DType::i32).device(device));
}

Tensor GradScaler::scale(const Tensor& outputs) {
  if (!enabled_) return outputs;
  VOLT_CHECK(outputs.defined() && is_floating(outputs.dtype()), "GradScaler.scale: expected a floating tensor, got ",
             outputs.defined() ? describe(outputs) : std::string("an undefined tensor"));
  ensure_on(outputs.device());
  return mul(outputs, scale_);
}

void GradScaler::unscale_(Optimizer& optimizer) {
  if (!enabled_) return;
  PerOptimizer& state = per_optimizer_[&optimizer];
  VOLT_CHECK(!state.unscaled, "GradScaler.unscale_: already called on this optimizer since the last update()");
  VOLT_CHECK(!state.stepped, "GradScaler.unscale_: step() was already called on this optimizer; call update() first");
  VOLT_CHECK(scale_.defined(), "GradScaler.unscale_: nothing was scaled yet (call scale(loss) and backward first)");
  NoGradGuard no_grad;
  const Device device = scale_.device();
  state.found_inf = zeros({}, TensorOptions(DType::f32).device(device));
  // 1/scale in double, then f32, as PyTorch computes it.
  const Tensor inv_scale = pow(scale_.to(DType::f64), -1.0).to(DType::f32);
  std::map<DType, std::vector<kernels::AmpTensor>> by_dtype;
  std::vector<std::pair<Tensor, Tensor>> write_back;  // (gradient, contiguous copy unscaled in its place)
  for (const Tensor& p : optimizer.params()) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    VOLT_CHECK(g.device() == device, "GradScaler.unscale_: a gradient is on ", g.device(), ", the scale on ", device);
    if (!g.is_contiguous()) {
      write_back.emplace_back(g, g.contiguous());
      g = write_back.back().second;
    }
    by_dtype[g.dtype()].push_back({g.data_ptr(), g.numel()});
  }
  for (const auto& [dtype, grads] : by_dtype)
    kernels::launch(kernels::unscale, device, dtype, grads, inv_scale.data_ptr<float>(),
                    state.found_inf.data_ptr<float>());
  for (auto& [g, unscaled] : write_back)
    g.copy_(unscaled);
  state.unscaled = true;
}

void GradScaler::step(Optimizer& optimizer) {
  if (!enabled_) return optimizer.step();
  PerOptimizer& state = per_optimizer_[&optimizer];
  VOLT_CHECK(!state.stepped, "GradScaler.step: already called on this optimizer since the last update()");
  if (!state.unscaled) unscale_(optimizer);
  optimizer.step_unless_found_inf(state.found_inf);
  state.stepped = true;
}

void GradScaler::update(std::optional<double> new_scale) {
  if (!enabled_) return;
  VOLT_CHECK(scale_.defined(), "GradScaler.update: nothing was scaled yet");
  NoGradGuard no_grad;
  if (new_scale) {
    VOLT_CHECK(*new_scale > 0 && std::isfinite(*new_scale), "GradScaler.update: new_scale must be positive, got ",
               *new_scale);
    scale_.fill_(*new_scale);
  } else {
    Tensor found;
    for (const auto& [opt, state] : per_optimizer_)
      if (state.found_inf.defined()) found = found.defined() ? add(found, state.found_inf) : state.found_inf;
    VOLT_CHECK(found.defined(), "GradScaler.update: no inf checks were recorded before update() (call step() first)");
    found = found.contiguous();
    kernels::launch(kernels::update_scale, scale_.device(), scale_.data_ptr<float>(),
                    growth_tracker_.data_ptr<int32_t>(), found.data_ptr<float>(), growth_factor_, backoff_factor_,
                    growth_interval_);
  }
  per_optimizer_.clear();
}

double GradScaler::get_scale() const {
  if (!enabled_) return 1.0;
  return scale_.defined() ? scale_.item<double>() : init_scale_;
}

nn::StateDict GradScaler::state_dict() const {
  if (!enabled_) return {};
  auto scalar = [](double v) { return tensor(std::vector<double>{v}).reshape({}); };
  return {{"scale", scalar(get_scale())},
          {"growth_factor", scalar(growth_factor_)},
          {"backoff_factor", scalar(backoff_factor_)},
          {"growth_interval", tensor(std::vector<int64_t>{growth_interval_}).reshape({})},
          {"_growth_tracker", growth_tracker_.defined() ? growth_tracker_.to(Device::cpu()).to(DType::i64)
                                                        : tensor(std::vector<int64_t>{0}).reshape({})}};
}

void GradScaler::load_state_dict(const nn::StateDict& state) {
  VOLT_CHECK(enabled_, "GradScaler.load_state_dict: the scaler is disabled");
  auto get = [&](const std::string& name) {
    auto it = state.find(name);
    VOLT_CHECK(it != state.end() && it->second.numel() == 1, "GradScaler.load_state_dict: missing entry '", name, "'");
    return it->second.item<double>();
  };
  const double scale = get("scale"), tracker = get("_growth_tracker");
  VOLT_CHECK(scale > 0 && std::isfinite(scale), "GradScaler.load_state_dict: invalid scale ", scale);
  init_scale_ = scale;
  growth_factor_ = get("growth_factor");
  backoff_factor_ = get("backoff_factor");
  growth_interval_ = static_cast<int64_t>(get("growth_interval"));
  NoGradGuard no_grad;
  if (scale_.defined()) {
    scale_.fill_(scale);
    growth_tracker_.fill_(tracker);
  } else {
    // Made on the device of the first scale() call; the tracker waits for it on the CPU.
    growth_tracker_ = full({}, tracker, DType::i32);
  }
}

}  // namespace volt::optim
