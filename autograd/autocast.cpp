#include "volt/autograd/autocast.h"

#include <unordered_map>

#include "volt/autograd/grad_mode.h"
#include "volt/autograd/ops.h"
#include "volt/core/device_backend.h"

namespace volt {
namespace {

struct State {
  bool enabled[2] = {false, false};
  DType dtype[2] = {DType::bf16, DType::f16};
  int depth = 0;  // guards that enabled autocast, nested
  // The cast cache: a parameter's half copy, with the parameter's version when it was made.
  struct Cached {
    Tensor source, cast;
    uint64_t version;
  };
  std::unordered_map<const TensorImpl*, Cached> cache;
};

thread_local State state;

std::size_t slot(DeviceType t) { return t == DeviceType::cpu ? 0 : 1; }

}  // namespace

bool is_autocast_enabled(DeviceType device_type) { return state.enabled[slot(device_type)]; }
DType get_autocast_dtype(DeviceType device_type) { return state.dtype[slot(device_type)]; }

AutocastGuard::AutocastGuard(DeviceType device_type, std::optional<DType> dtype, bool enabled)
    : type_(device_type), was_enabled_(is_autocast_enabled(device_type)), was_dtype_(get_autocast_dtype(device_type)) {
  const DType want = dtype.value_or(device_type == DeviceType::cpu ? DType::bf16 : DType::f16);
  VOLT_CHECK(is_half(want), "autocast: the dtype must be f16 or bf16, got ", dtype_name(want));
  if (enabled && device_type == DeviceType::cuda) {
    const std::string why = device_unusable_reason(Device::cuda(0));
    VOLT_CHECK(why.empty(), "autocast: cannot autocast on cuda: ", why);
  }
  state.enabled[slot(type_)] = enabled;
  state.dtype[slot(type_)] = want;
  ++state.depth;
}

AutocastGuard::~AutocastGuard() {
  state.enabled[slot(type_)] = was_enabled_;
  state.dtype[slot(type_)] = was_dtype_;
  if (--state.depth == 0) state.cache.clear();  // leaving the outermost guard frees the copies
}

namespace autocast {

bool active_for(const Tensor& t) { return t.defined() && state.enabled[slot(t.device().type)]; }

Tensor to_lower(const Tensor& t) {
  if (!active_for(t) || t.dtype() != DType::f32) return t;
  const DType target = state.dtype[slot(t.device().type)];
  if (!(t.is_leaf() && t.requires_grad() && is_grad_enabled())) return t.to(target);
  auto it = state.cache.find(t.impl());
  if (it != state.cache.end() && it->second.version == t.version() && it->second.cast.dtype() == target)
    return it->second.cast;
  Tensor cast = t.to(target);
  state.cache[t.impl()] = {t, cast, t.version()};
  return cast;
}

Tensor to_f32(const Tensor& t) { return active_for(t) && is_half(t.dtype()) ? t.to(DType::f32) : t; }

Suspend::Suspend() : was_{state.enabled[0], state.enabled[1]} { state.enabled[0] = state.enabled[1] = false; }
Suspend::~Suspend() {
  state.enabled[0] = was_[0];
  state.enabled[1] = was_[1];
}

}  // namespace autocast
}  // namespace volt
