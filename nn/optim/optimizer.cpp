#include "volt/nn/optim/optimizer.h"

#include <algorithm>

#include "volt/autograd/grad_mode.h"
#include "volt/autograd/ops.h"
#include "volt/kernels/optim.h"

namespace volt::optim {
namespace {

// The fused kernels keep f16/bf16 parameters' state in f32 (invariant 8: master values in f32).
DType state_dtype(const Tensor& param) { return is_half(param.dtype()) ? DType::f32 : param.dtype(); }

}  // namespace

// One fused step: the kernels' descriptors for the parameters that have a gradient, grouped by
// dtype (a launch takes one), with the contiguous copies they point into kept alive until the
// launches are queued; finish() writes non-contiguous parameters back and counts the step.
struct FusedStep {
  struct Group {
    DType dtype;
    std::vector<kernels::OptimTensor> tensors;
  };
  std::vector<Group> groups;
  std::vector<Tensor> keep;
  std::vector<std::pair<Tensor, Tensor>> write_back;  // (parameter, contiguous copy updated in its place)
  Optimizer& opt;

  // buf1/buf2: the state buffers' names ("" for none).
  FusedStep(Optimizer& o, const std::string& buf1, const std::string& buf2) : opt(o) {
    for (std::size_t i = 0; i < opt.params_.size(); ++i) {
      Tensor& p = opt.params_[i];
      if (!p.grad().defined()) continue;
      const bool fresh = !buf1.empty() && !opt.state_[i].count(buf1);
      Tensor param = p;
      if (!p.is_contiguous()) {
        param = p.contiguous();
        write_back.emplace_back(p, param);
      }
      keep.push_back(p.grad().to(p.dtype()).contiguous());
      const kernels::OptimTensor t{param.data_ptr(),
                                   keep.back().data_ptr(),
                                   buf1.empty() ? nullptr : opt.buffer(i, buf1).data_ptr(),
                                   buf2.empty() ? nullptr : opt.buffer(i, buf2).data_ptr(),
                                   p.numel(),
                                   fresh};
      auto group = std::find_if(groups.begin(), groups.end(), [&](const Group& g) { return g.dtype == p.dtype(); });
      if (group == groups.end()) group = groups.insert(groups.end(), Group{p.dtype(), {}});
      group->tensors.push_back(t);
    }
  }

  void finish() {
    for (auto& [p, updated] : write_back)
      p.copy_(updated);
    for (Tensor& p : opt.params_)
      p.bump_version();
    ++opt.step_count_;
  }
};

Optimizer::Optimizer(std::vector<Tensor> params, double lr) : params_(std::move(params)), state_(params_.size()) {
  VOLT_CHECK(!params_.empty(), "optimizer: got an empty parameter list");
  for (const Tensor& p : params_)
    VOLT_CHECK(p.defined() && p.is_leaf() && p.requires_grad(),
               "optimizer: parameters must be leaf tensors that require grad, got ", describe(p));
  set_lr(lr);
}

void Optimizer::set_lr(double lr) {
  VOLT_CHECK(lr >= 0.0, "optimizer: invalid learning rate ", lr);
  lr_ = lr;
  if (lr_device_.defined()) {
    NoGradGuard no_grad;
    lr_device_.fill_(lr);  // queued on the device's stream, like the steps that read it
  }
}

Device Optimizer::device() const {
  const Device d = params_[0].device();
  for (const Tensor& p : params_)
    VOLT_CHECK(p.device() == d, "optimizer: parameters are on ", d, " and ", p.device(),
               "; one optimizer updates the parameters of one device");
  return d;
}

// Both scalars follow the parameters when a module moves them to another device.
const Tensor& Optimizer::lr_device() {
  const Device d = device();
  if (!lr_device_.defined() || lr_device_.device() != d)
    lr_device_ = full({}, lr_, TensorOptions(DType::f64).device(d));
  return lr_device_;
}

const Tensor& Optimizer::step_device() {
  const Device d = device();
  if (!step_device_.defined() || step_device_.device() != d)
    step_device_ = full({}, static_cast<double>(step_count_), TensorOptions(DType::i64).device(d));
  return step_device_;
}

void Optimizer::zero_grad(bool set_to_none) {
  NoGradGuard no_grad;
  for (Tensor& p : params_) {
    if (!p.grad().defined()) continue;
    if (set_to_none)
      p.set_grad(Tensor());
    else
      p.grad().zero_();
  }
}

Tensor& Optimizer::buffer(std::size_t i, const std::string& name) {
  Tensor& b = state_[i][name];
  if (!b.defined()) b = zeros(params_[i].shape(), TensorOptions(state_dtype(params_[i])).device(params_[i].device()));
  return b;
}

StateDict Optimizer::state_dict() const {
  StateDict out;
  out["step"] = tensor(std::vector<int64_t>{step_count_}).reshape({});
  out["lr"] = tensor(std::vector<double>{lr_}).reshape({});
  for (std::size_t i = 0; i < state_.size(); ++i)
    for (const auto& [name, t] : state_[i])
      out["state." + std::to_string(i) + "." + name] = t.detach();
  return out;
}

void Optimizer::load_state_dict(const StateDict& state) {
  auto get = [&](const std::string& name) -> const Tensor& {
    auto it = state.find(name);
    VOLT_CHECK(it != state.end(), "optimizer load_state_dict: missing entry '", name, "'");
    return it->second;
  };
  const int64_t step = get("step").item<int64_t>();
  const double lr = get("lr").item<double>();
  std::vector<std::map<std::string, Tensor>> loaded(params_.size());
  for (const auto& [name, t] : state) {
    if (name == "step" || name == "lr") continue;
    const auto dot1 = name.find('.'), dot2 = name.find('.', dot1 + 1);
    VOLT_CHECK(name.rfind("state.", 0) == 0 && dot2 != std::string::npos,
               "optimizer load_state_dict: unexpected entry '", name, "'");
    const std::string index = name.substr(dot1 + 1, dot2 - dot1 - 1);
    VOLT_CHECK(!index.empty() && index.find_first_not_of("0123456789") == std::string::npos &&
                   std::stoull(index) < params_.size(),
               "optimizer load_state_dict: entry '", name, "' names no parameter of this optimizer (it has ",
               params_.size(), ")");
    const std::size_t i = std::stoull(index);
    VOLT_CHECK(t.shape() == params_[i].shape(), "optimizer load_state_dict: '", name, "' has shape ",
               shape_str(t.shape()), " but parameter ", i, " has ", shape_str(params_[i].shape()));
    loaded[i][name.substr(dot2 + 1)] = t.to(state_dtype(params_[i])).to(params_[i].device()).clone();
  }
  state_ = std::move(loaded);
  step_count_ = step;
  step_device_ = Tensor();  // made again from step_count_ when a fused step needs it
  set_lr(lr);
}

SGD::SGD(std::vector<Tensor> params, SGDOptions o) : Optimizer(std::move(params), o.lr), options(o) {
  VOLT_CHECK(o.momentum >= 0 && o.weight_decay >= 0, "SGD: momentum and weight_decay must be non-negative");
  VOLT_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0), "SGD: nesterov needs momentum > 0 and no dampening");
}

void SGD::step() {
  NoGradGuard no_grad;
  FusedStep fused(*this, options.momentum != 0 ? "momentum_buffer" : "", "");
  const kernels::SgdArgs args{options.momentum, options.dampening, options.weight_decay, options.nesterov};
  for (const auto& group : fused.groups)
    kernels::launch(kernels::sgd_step, device(), group.dtype, group.tensors, lr_device().data_ptr<double>(), args);
  fused.finish();
}

Adam::Adam(std::vector<Tensor> params, AdamOptions o) : Optimizer(std::move(params), o.lr), options(o) {
  VOLT_CHECK(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1, "Adam: betas must be in [0, 1), got (",
             o.beta1, ", ", o.beta2, ")");
  VOLT_CHECK(o.eps >= 0 && o.weight_decay >= 0, "Adam: eps and weight_decay must be non-negative");
}

void Adam::step() { adam_step(false); }

void Adam::adam_step(bool decoupled) {
  NoGradGuard no_grad;
  FusedStep fused(*this, "exp_avg", "exp_avg_sq");
  const kernels::AdamArgs args{options.beta1, options.beta2, options.eps, options.weight_decay, decoupled};
  // The count on the device goes up first: the update reads t, the step being taken.
  int64_t* step = step_device().data_ptr<int64_t>();
  kernels::launch(kernels::step_count_increment, device(), step);
  for (const auto& group : fused.groups)
    kernels::launch(kernels::adam_step, device(), group.dtype, group.tensors, lr_device().data_ptr<double>(), step,
                    args);
  fused.finish();
}

AdamW::AdamW(std::vector<Tensor> params, AdamOptions options) : Adam(std::move(params), options) {}

SGD::SGD(std::vector<Tensor> params, double lr) : SGD(std::move(params), SGDOptions{.lr = lr}) {}
Adam::Adam(std::vector<Tensor> params, double lr) : Adam(std::move(params), AdamOptions{.lr = lr}) {}
AdamW::AdamW(std::vector<Tensor> params, double lr)
    : AdamW(std::move(params), [lr] {
        AdamOptions o = adamw_defaults();
        o.lr = lr;
        return o;
      }()) {}

}  // namespace volt::optim
