// GradScaler, with torch.amp.GradScaler's names, defaults and rules, for f16 training: the loss
// is multiplied by a scale so that small gradients survive in half precision, the gradients
// are divided by it again before the step, and a step whose gradients overflowed is skipped
// while the scale backs off. Everything it decides lives on the parameters' device: scale(),
// unscale_(), step() and update() queue kernels and never wait for the host, so a scaled step
// can be captured in a CUDA graph (with SGD, Adam or AdamW; the other optimizers read the
// overflow flag once per step).
//
//   amp::GradScaler scaler;
//   scaler.scale(loss).backward();
//   scaler.unscale_(opt);                          // optional: to clip the true gradients
//   nn::utils::clip_grad_norm_(net.parameters(), 1.0);
//   scaler.step(opt);
//   scaler.update();
#pragma once

#include <map>
#include <optional>

#include "volt/core/tensor.h"
#include "volt/nn/module.h"
#include "volt/nn/optim/optimizer.h"

namespace volt::optim {

class GradScaler {
 public:
  // The scale starts at init_scale; growth_interval clean steps in a row multiply it by
  // growth_factor, an overflow by backoff_factor. Disabled, every call passes through.
  explicit GradScaler(double init_scale = 65536.0, double growth_factor = 2.0, double backoff_factor = 0.5,
                      int64_t growth_interval = 2000, bool enabled = true);

  // outputs·scale (in f32 for half outputs); the scale is made on the outputs' device.
  Tensor scale(const Tensor& outputs);
  // Divides the optimizer's gradients by the scale in place and records, on the device, whether
  // any was inf or NaN. At most once per optimizer between update() calls.
  void unscale_(Optimizer& optimizer);
  // unscale_ (unless done) and the optimizer's step, skipped on the device after an overflow.
  void step(Optimizer& optimizer);
  // The next scale from this step's overflow flags (or new_scale, if given).
  void update(std::optional<double> new_scale = std::nullopt);

  // Forgets what unscale_ and step recorded since the last update(): after a CUDA graph capture
  // that failed, that work never ran.
  void abandon_step() { per_optimizer_.clear(); }

  double get_scale() const;  // reads the device; init_scale before the first scale(), 1 when disabled
  bool is_enabled() const { return enabled_; }
  double get_growth_factor() const { return growth_factor_; }
  double get_backoff_factor() const { return backoff_factor_; }
  int64_t get_growth_interval() const { return growth_interval_; }

  // "scale", "growth_factor", "backoff_factor", "growth_interval", "_growth_tracker".
  nn::StateDict state_dict() const;
  void load_state_dict(const nn::StateDict& state);

 private:
  struct PerOptimizer {
    Tensor found_inf;  // f32 scalar on the device
    bool unscaled = false, stepped = false;
  };
  void ensure_on(Device device);

  bool enabled_;
  double init_scale_, growth_factor_, backoff_factor_;
  int64_t growth_interval_;
  Tensor scale_;           // f32 scalar, once a device is known
  Tensor growth_tracker_;  // i32 scalar
  std::map<const Optimizer*, PerOptimizer> per_optimizer_;
};

}  // namespace volt::optim

// PyTorch's spelling, torch.amp.GradScaler.
namespace volt::amp {
using optim::GradScaler;
}  // namespace volt::amp
