#include "volt/nn/module.h"

#include <cxxabi.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <optional>
#include <sstream>
#include <typeinfo>

#include "volt/autograd/grad_mode.h"
#include "volt/autograd/ops.h"

namespace volt::nn {
namespace {

// Points `handle`'s impl at `value`'s memory and dtype, so every copy of the handle sees it.
void replace_data(Tensor& handle, const Tensor& value) {
  TensorImpl* impl = handle.impl();
  impl->storage = value.storage();
  impl->shape = value.shape();
  impl->strides = value.strides();
  impl->offset = value.storage_offset();
  impl->dtype = value.dtype();
  handle.set_grad(Tensor());
}

template <class Get>
void collect(const Module& m, const std::string& prefix, bool recurse, Get get,
             std::vector<std::pair<std::string, Tensor>>& out) {
  for (const auto& [name, t] : get(m))
    out.emplace_back(prefix + name, t);
  if (!recurse) return;
  for (const auto& [name, child] : m.named_children())
    collect(*child, prefix + name + ".", true, get, out);
}

// The first value of floating `src` that integer `dst` cannot hold (NaN, ±inf, or out of range
// after truncation toward zero), if any. The cast would saturate it (kernels/elementwise.h,
// convert_to), silently; a checkpoint is untrusted input, so loading refuses it instead. Found by
// tests/fuzz/state_dict_fuzzer (an F64 1e180 into an i64 buffer, then undefined behaviour).
std::optional<double> first_unrepresentable(const Tensor& src, DType dst) {
  if (!is_floating(src.dtype()) || !is_integral(dst) || dst == DType::boolean) return std::nullopt;
  int digits = 0;  // value bits: the range is [-2^digits, 2^digits) signed, [0, 2^digits) unsigned
  bool is_signed = true;
  switch (dst) {
    case DType::i32:
      digits = std::numeric_limits<int32_t>::digits;
      break;
    case DType::i64:
      digits = std::numeric_limits<int64_t>::digits;
      break;
    case DType::u8:
      digits = std::numeric_limits<uint8_t>::digits, is_signed = false;
      break;
    default:
      return std::nullopt;
  }
  const double hi = std::ldexp(1.0, digits), lo = is_signed ? -hi : 0.0;  // both exact in double
  for (double v : src.detach().to(Device::cpu()).to(DType::f64).contiguous().to_vector<double>()) {
    const double t = std::trunc(v);
    if (!(t >= lo && t < hi)) return v;  // NaN fails both
  }
  return std::nullopt;
}

// A type's name as written in C++ ("Net", "volt::nn::Linear"), for messages.
std::string type_name(const std::type_info& type) {
  int status = 0;
  char* name = abi::__cxa_demangle(type.name(), nullptr, nullptr, &status);
  std::string out = status == 0 && name ? name : type.name();
  std::free(name);
  return out;
}

template <class List>
const auto& find_registered(const List& list, const std::string& name, const char* what) {
  for (const auto& entry : list)
    if (entry.first == name) return entry.second;
  VOLT_FAIL("Module: no ", what, " named '", name, "'");
}

}  // namespace

Tensor Module::forward(const Tensor&) {
  VOLT_FAIL("this module has no single-input forward; call its own forward overload");
}

std::shared_ptr<Module> Module::clone(const TensorMap&) const {
  VOLT_FAIL("Module::clone: ", type_name(typeid(*this)),
            " does not implement clone(), which replicating it (DataParallel) needs; override it with "
            "clone_as() (nn/module.h)");
}

void Module::replace_tensors_and_children(const TensorMap& map) {
  if (map) {
    for (auto& [name, t] : parameters_)
      t = map(t);
    for (auto& [name, t] : buffers_)
      t = map(t);
  }
  for (auto& [name, child] : children_)
    child = child->clone(map);
}

const Tensor& Module::registered_parameter(const std::string& name) const {
  return find_registered(parameters_, name, "parameter");
}

const Tensor& Module::registered_buffer(const std::string& name) const {
  return find_registered(buffers_, name, "buffer");
}

const std::shared_ptr<Module>& Module::registered_child(const std::string& name) const {
  return find_registered(children_, name, "child");
}

void Module::check_new_name(const std::string& name) const {
  VOLT_CHECK(!name.empty() && name.find('.') == std::string::npos, "Module: invalid name '", name,
             "' (non-empty, no dots)");
  auto taken = [&](const auto& list) {
    for (const auto& entry : list)
      if (entry.first == name) return true;
    return false;
  };
  VOLT_CHECK(!taken(parameters_) && !taken(buffers_) && !taken(children_), "Module: name '", name,
             "' is already registered");
}

Tensor& Module::register_parameter(const std::string& name, Tensor tensor, bool requires_grad) {
  check_new_name(name);
  VOLT_CHECK(tensor.defined() && tensor.is_leaf(), "register_parameter: '", name, "' must be a defined leaf tensor");
  tensor.requires_grad_(requires_grad);
  parameters_.emplace_back(name, std::move(tensor));
  return parameters_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor tensor) {
  check_new_name(name);
  buffers_.emplace_back(name, std::move(tensor));
  return buffers_.back().second;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name(name);
  VOLT_CHECK(module != nullptr, "register_module: '", name, "' is null");
  children_.emplace_back(name, std::move(module));
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters(bool recurse) const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect(
      *this, "", recurse, [](const Module& m) { return m.parameters_; }, out);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers(bool recurse) const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect(
      *this, "", recurse, [](const Module& m) { return m.buffers_; }, out);
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters(recurse))
    out.push_back(t);
  return out;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_)
    child->train(on);
}

template <class F>
void Module::visit_tensors(F&& f) {
  for (auto& [name, t] : parameters_)
    f(t);
  for (auto& [name, t] : buffers_)
    f(t);
  for (auto& [name, child] : children_)
    child->visit_tensors(f);
}

void Module::to(DType dtype) {
  VOLT_CHECK(is_floating(dtype), "Module::to: parameters must stay floating, got ", dtype);
  NoGradGuard no_grad;
  visit_tensors([&](Tensor& t) {
    if (is_floating(t.dtype()) && t.dtype() != dtype) replace_data(t, t.detach().to(dtype));
  });
}

void Module::to(Device device) {
  NoGradGuard no_grad;
  visit_tensors([&](Tensor& t) {
    if (t.device() != device) replace_data(t, t.detach().to(device));
  });
}

void Module::zero_grad(bool set_to_none) {
  NoGradGuard no_grad;
  for (Tensor& p : parameters()) {
    if (!p.grad().defined()) continue;
    if (set_to_none)
      p.set_grad(Tensor());
    else
      p.grad().zero_();
  }
}

StateDict Module::state_dict() const {
  StateDict out;
  for (const auto& [name, t] : named_parameters())
    out[name] = t.detach();
  for (const auto& [name, t] : named_buffers())
    out[name] = t.detach();
  return out;
}

void Module::load_state_dict(const StateDict& state, bool strict) {
  auto own = named_parameters();
  for (auto& entry : named_buffers())
    own.push_back(entry);
  std::ostringstream problems;
  std::map<std::string, bool> seen;
  for (const auto& [name, t] : own) {
    seen[name] = true;
    auto it = state.find(name);
    if (it == state.end()) {
      if (strict) problems << "\n  missing key: " << name;
      continue;
    }
    if (it->second.shape() != t.shape()) {
      problems << "\n  size mismatch for " << name << ": checkpoint has " << shape_str(it->second.shape())
               << ", the module has " << shape_str(t.shape());
    } else if (const auto bad = first_unrepresentable(it->second, t.dtype())) {
      problems << "\n  value out of range for " << name << ": checkpoint's " << it->second.dtype() << " holds " << *bad
               << ", which the module's " << t.dtype() << " cannot hold";
    }
  }
  if (strict)
    for (const auto& [name, t] : state)
      if (!seen.count(name)) problems << "\n  unexpected key: " << name;
  VOLT_CHECK(problems.str().empty(), "load_state_dict: the state dict does not fit the module:", problems.str());

  NoGradGuard no_grad;
  for (auto& [name, t] : own) {
    auto it = state.find(name);
    if (it != state.end()) Tensor(t).copy_(it->second.to(t.device()));
  }
}

}  // namespace volt::nn
