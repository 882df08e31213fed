#include "volt/nn/optim/optimizer.h"

#include <algorithm>
#include <cmath>

#include "volt/autograd/grad_mode.h"
#include "volt/autograd/ops.h"
#include "volt/core/device_graph.h"
#include "volt/kernels/optim.h"

namespace volt::optim {
namespace {

// The fused kernels keep f16/bf16 parameters' state in f32 (invariant 8: master values in f32).
DType state_dtype(const Tensor& param) { return is_half(param.dtype()) ? DType::f32 : param.dtype(); }

std::vector<ParamGroup> one_group(std::vector<Tensor> params) {
  std::vector<ParamGroup> groups;
  groups.emplace_back(std::move(params));
  return groups;
}

}  // namespace

// One fused step: the kernels' descriptors for the parameters that have a gradient, grouped by
// parameter group and dtype (a launch takes one of each), with the contiguous copies they
// point into kept alive until the launches are queued; finish() writes non-contiguous
// parameters back and counts the step.
struct FusedStep {
  struct Launch {
    std::size_t group;
    DType dtype;
    std::vector<kernels::OptimTensor> tensors;
  };
  std::vector<Launch> launches;
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
      const std::size_t g = opt.group_of(i);
      auto launch = std::find_if(launches.begin(), launches.end(),
                                 [&](const Launch& l) { return l.group == g && l.dtype == p.dtype(); });
      if (launch == launches.end()) launch = launches.insert(launches.end(), Launch{g, p.dtype(), {}});
      launch->tensors.push_back(t);
    }
  }

  void finish(bool counted_on_device = false) {
    for (auto& [p, updated] : write_back)
      p.copy_(updated);
    opt.finish_step(counted_on_device);
  }
};

Optimizer::Optimizer(std::vector<ParamGroup> groups, double lr, double weight_decay) : groups_(std::move(groups)) {
  VOLT_CHECK(!groups_.empty(), "optimizer: got no parameter groups");
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    ParamGroup& group = groups_[g];
    VOLT_CHECK(!group.params.empty(), "optimizer: parameter group ", g, " is empty");
    if (!group.lr) group.lr = lr;
    if (!group.weight_decay) group.weight_decay = weight_decay;
    VOLT_CHECK(*group.lr >= 0.0, "optimizer: invalid learning rate ", *group.lr, " (parameter group ", g, ")");
    VOLT_CHECK(*group.weight_decay >= 0.0, "optimizer: invalid weight_decay ", *group.weight_decay,
               " (parameter group ", g, ")");
    for (const Tensor& p : group.params) {
      VOLT_CHECK(p.defined() && p.is_leaf() && p.requires_grad(),
                 "optimizer: parameters must be leaf tensors that require grad, got ", describe(p));
      for (const Tensor& q : params_)
        VOLT_CHECK(q.impl() != p.impl(), "optimizer: a parameter appears twice (", describe(p),
                   "); give each to one group once");
      params_.push_back(p);
      group_of_.push_back(g);
    }
  }
  state_.resize(params_.size());
  lr_device_.resize(groups_.size());
  lr_written_.resize(groups_.size());
}

void Optimizer::set_lr(double lr) {
  for (std::size_t g = 0; g < groups_.size(); ++g)
    set_lr(g, lr);
}

void Optimizer::set_lr(std::size_t group, double lr) {
  VOLT_CHECK(group < groups_.size(), "optimizer: no parameter group ", group, " (it has ", groups_.size(), ")");
  VOLT_CHECK(lr >= 0.0, "optimizer: invalid learning rate ", lr);
  groups_[group].lr = lr;
  if (lr_device_[group].defined() && lr_written_[group] != lr) {
    NoGradGuard no_grad;
    lr_device_[group].fill_(lr);  // queued on the device's stream, like the steps that read it
  }
  lr_written_[group] = lr;
}

Device Optimizer::device() const {
  const Device d = params_[0].device();
  for (const Tensor& p : params_)
    VOLT_CHECK(p.device() == d, "optimizer: parameters are on ", d, " and ", p.device(),
               "; one optimizer updates the parameters of one device");
  return d;
}

namespace {
// State made on first use (or an lr written in a step) must not be queued inside a CUDA graph
// capture: every replay would make it, or write it, again.
void refuse_under_capture(Device d, const char* what) {
  VOLT_CHECK(!is_capturing(d), "optimizer: ", what,
             " would be made inside a CUDA graph capture, where every replay would make it again; take a step "
             "eagerly before capturing");
}
}  // namespace

void Optimizer::sync_lr_to_device() {
  for (std::size_t g = 0; g < groups_.size(); ++g)
    if (lr_device_[g].defined() && lr_written_[g] != groups_[g].lr.value()) lr_device(g);
}

// Both scalars follow the parameters when a module moves them to another device; a group's lr,
// set on the host, is written to its scalar (queued on the device's stream, like the steps
// that read it) when it has changed.
const Tensor& Optimizer::lr_device(std::size_t group) {
  const Device d = device();
  const double lr = groups_[group].lr.value();
  VOLT_CHECK(lr >= 0.0, "optimizer: invalid learning rate ", lr, " (parameter group ", group, ")");
  Tensor& t = lr_device_[group];
  if (!t.defined() || t.device() != d) {
    refuse_under_capture(d, "the learning-rate scalar");
    t = full({}, lr, TensorOptions(DType::f64).device(d));
  } else if (lr_written_[group] != lr) {
    refuse_under_capture(d, "a changed learning rate (assigned to param_groups; use set_lr)");
    NoGradGuard no_grad;
    t.fill_(lr);
  }
  lr_written_[group] = lr;
  return t;
}

const Tensor& Optimizer::step_device() {
  const Device d = device();
  if (!step_device_.defined() || step_device_.device() != d) {
    refuse_under_capture(d, "the step-count scalar");
    step_device_ = full({}, static_cast<double>(step_count_), TensorOptions(DType::i64).device(d));
  }
  return step_device_;
}

void Optimizer::count_step_on_device() {
  kernels::launch(kernels::step_count_increment, device(), step_device().data_ptr<int64_t>(), found_inf());
}

void Optimizer::step_unless_found_inf(const Tensor& found_inf) {
  if (found_inf.item<float>() == 0.0f) step();  // one host read
}

void Optimizer::step_with_flag(const Tensor& flag) {
  VOLT_CHECK(flag.defined() && flag.dtype() == DType::f32 && flag.numel() == 1 && flag.device() == device(),
             "optimizer: the found_inf flag must be one f32 on the parameters' device ", device(), ", got ",
             flag.defined() ? describe(flag) : std::string("an undefined tensor"));
  found_inf_ = flag.contiguous();
  try {
    step();
  } catch (...) {
    found_inf_ = Tensor();
    throw;
  }
  found_inf_ = Tensor();
}

void Optimizer::finish_step(bool counted_on_device) {
  if (!counted_on_device && (found_inf_.defined() || step_device_.defined())) count_step_on_device();
  for (Tensor& p : params_)
    p.bump_version();
  ++step_count_;
}

template <class F>
void Optimizer::for_each_update(const F& f, bool counted_on_device) {
  NoGradGuard no_grad;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    if (!p.grad().defined()) continue;
    const DType dt = state_dtype(p);
    const bool copy = dt != p.dtype() || !p.is_contiguous();
    Tensor work = copy ? p.to(dt).contiguous() : p;  // a new tensor whenever copy: to() or contiguous() made it
    f(i, work, p.grad().to(dt));
    if (copy) p.copy_(work);
  }
  finish_step(counted_on_device);
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

Tensor& Optimizer::buffer(std::size_t i, const std::string& name, double initial) {
  Tensor& b = state_[i][name];
  if (!b.defined()) {
    refuse_under_capture(params_[i].device(), "optimizer state");
    b = full(params_[i].shape(), initial, TensorOptions(state_dtype(params_[i])).device(params_[i].device()));
  }
  return b;
}

StateDict Optimizer::state_dict() const {
  StateDict out;
  // The device's count where there is one: under a GradScaler it skips the overflowed steps.
  out["step"] = step_device_.defined() ? step_device_.to(Device::cpu()).clone()
                                       : tensor(std::vector<int64_t>{step_count_}).reshape({});
  out["lr"] = tensor(std::vector<double>{lr()}).reshape({});
  for (std::size_t g = 0; g < groups_.size(); ++g)
    out["param_groups." + std::to_string(g) + ".lr"] = tensor(std::vector<double>{*groups_[g].lr}).reshape({});
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
  std::vector<double> lrs(groups_.size(), get("lr").item<double>());  // a checkpoint from before groups
  std::vector<std::map<std::string, Tensor>> loaded(params_.size());
  for (const auto& [name, t] : state) {
    if (name == "step" || name == "lr") continue;
    const auto dot1 = name.find('.'), dot2 = name.find('.', dot1 + 1);
    const bool group_entry = name.rfind("param_groups.", 0) == 0;
    VOLT_CHECK((group_entry || name.rfind("state.", 0) == 0) && dot2 != std::string::npos,
               "optimizer load_state_dict: unexpected entry '", name, "'");
    const std::string index = name.substr(dot1 + 1, dot2 - dot1 - 1);
    const std::size_t count = group_entry ? groups_.size() : params_.size();
    VOLT_CHECK(!index.empty() && index.size() < 10 && index.find_first_not_of("0123456789") == std::string::npos &&
                   std::stoull(index) < count,
               "optimizer load_state_dict: entry '", name, "' names no ", group_entry ? "parameter group" : "parameter",
               " of this optimizer (it has ", count, ")");
    const std::size_t i = std::stoull(index);
    if (group_entry) {
      VOLT_CHECK(name.substr(dot2 + 1) == "lr" && t.numel() == 1, "optimizer load_state_dict: unexpected entry '", name,
                 "'");
      lrs[i] = t.item<double>();
      continue;
    }
    VOLT_CHECK(t.shape() == params_[i].shape(), "optimizer load_state_dict: '", name, "' has shape ",
               shape_str(t.shape()), " but parameter ", i, " has ", shape_str(params_[i].shape()));
    loaded[i][name.substr(dot2 + 1)] = t.to(state_dtype(params_[i])).to(params_[i].device()).clone();
  }
  for (double lr : lrs)
    VOLT_CHECK(lr >= 0.0, "optimizer load_state_dict: invalid learning rate ", lr);
  state_ = std::move(loaded);
  step_count_ = step;
  step_device_ = Tensor();  // made again from step_count_ when a step needs it
  for (std::size_t g = 0; g < groups_.size(); ++g)
    groups_[g].lr = lrs[g];
}

// --- SGD ------------------------------------------------------------------------------------

SGD::SGD(std::vector<Tensor> params, SGDOptions o) : SGD(one_group(std::move(params)), o) {}

SGD::SGD(std::vector<ParamGroup> groups, SGDOptions o)
    : Optimizer(std::move(groups), o.lr(), o.weight_decay()), options(o) {
  VOLT_CHECK(o.momentum() >= 0 && o.dampening() >= 0, "SGD: momentum and dampening must be non-negative");
  VOLT_CHECK(!o.nesterov() || (o.momentum() > 0 && o.dampening() == 0),
             "SGD: nesterov needs momentum > 0 and no dampening");
}

void SGD::step() {
  NoGradGuard no_grad;
  FusedStep fused(*this, options.momentum() != 0 ? "momentum_buffer" : "", "");
  for (const auto& l : fused.launches) {
    const kernels::SgdArgs args{options.momentum(), options.dampening(), weight_decay(l.group), options.nesterov(),
                                found_inf()};
    kernels::launch(kernels::sgd_step, device(), l.dtype, l.tensors, lr_device(l.group).data_ptr<double>(), args);
  }
  fused.finish();
}

// --- Adam and AdamW -------------------------------------------------------------------------

Adam::Adam(std::vector<Tensor> params, AdamOptions o) : Adam(one_group(std::move(params)), o) {}

Adam::Adam(std::vector<ParamGroup> groups, AdamOptions o)
    : Optimizer(std::move(groups), o.lr(), o.weight_decay()), options(o) {
  const auto [beta1, beta2] = o.betas();
  VOLT_CHECK(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, "Adam: betas must be in [0, 1), got (", beta1, ", ",
             beta2, ")");
  VOLT_CHECK(o.eps() >= 0, "Adam: eps must be non-negative");
}

void Adam::step() { adam_step(false); }

void Adam::step_unless_found_inf(const Tensor& found_inf) {
  if (options.amsgrad()) return Optimizer::step_unless_found_inf(found_inf);
  step_with_flag(found_inf);
}

void Adam::adam_step(bool decoupled) {
  if (options.amsgrad()) return amsgrad_step(decoupled);
  NoGradGuard no_grad;
  FusedStep fused(*this, "exp_avg", "exp_avg_sq");
  const auto [beta1, beta2] = options.betas();
  // The count on the device goes up first: the update reads t, the step being taken.
  count_step_on_device();
  for (const auto& l : fused.launches) {
    const kernels::AdamArgs args{beta1, beta2, options.eps(), weight_decay(l.group), decoupled, found_inf()};
    kernels::launch(kernels::adam_step, device(), l.dtype, l.tensors, lr_device(l.group).data_ptr<double>(),
                    step_device().data_ptr<int64_t>(), args);
  }
  fused.finish(true);
}

// AMSGrad as PyTorch writes it, in tensor ops on the device: the bias corrections from t on the
// device (β^t as exp(t·ln β)), the denominator from the running max of v.
void Adam::amsgrad_step(bool decoupled) {
  const double beta1 = std::get<0>(options.betas()), beta2 = std::get<1>(options.betas());
  count_step_on_device();
  const Tensor t = step_device().to(DType::f64);
  const Tensor bias1 = add(neg(exp(mul(t, std::log(beta1)))), 1.0);
  const Tensor bias2_sqrt = sqrt(add(neg(exp(mul(t, std::log(beta2)))), 1.0));
  for_each_update(
      [&](std::size_t i, Tensor& p, const Tensor& grad) {
        const std::size_t group = group_of(i);
        const Tensor lr = lr_device(group).to(p.dtype());
        const double wd = weight_decay(group);
        Tensor g = grad;
        if (wd != 0 && decoupled) p.mul_(add(mul(lr, -wd), 1.0));
        if (wd != 0 && !decoupled) g = add(g, p, wd);
        Tensor& m = buffer(i, "exp_avg");
        Tensor& v = buffer(i, "exp_avg_sq");
        Tensor& v_max = buffer(i, "max_exp_avg_sq");
        m.mul_(beta1).add_(g, 1.0 - beta1);
        v.mul_(beta2).addcmul_(g, g, 1.0 - beta2);
        v_max.copy_(where(gt(v, v_max), v, v_max));
        const Tensor denom = add(div(sqrt(v_max), bias2_sqrt.to(p.dtype())), options.eps());
        p.sub_(mul(div(m, denom), div(lr, bias1.to(p.dtype()))));
      },
      true);
}

AdamW::AdamW(std::vector<Tensor> params, AdamOptions options) : Adam(std::move(params), options) {}
AdamW::AdamW(std::vector<ParamGroup> groups, AdamOptions options) : Adam(std::move(groups), options) {}
AdamW::AdamW(std::vector<Tensor> params, double lr) : Adam(std::move(params), AdamWOptions(lr)) {}

// --- RMSprop --------------------------------------------------------------------------------

RMSprop::RMSprop(std::vector<Tensor> params, RMSpropOptions o) : RMSprop(one_group(std::move(params)), o) {}

RMSprop::RMSprop(std::vector<ParamGroup> groups, RMSpropOptions o)
    : Optimizer(std::move(groups), o.lr(), o.weight_decay()), options(o) {
  VOLT_CHECK(o.alpha() >= 0 && o.alpha() <= 1, "RMSprop: alpha must be in [0, 1], got ", o.alpha());
  VOLT_CHECK(o.eps() >= 0 && o.momentum() >= 0, "RMSprop: eps and momentum must be non-negative");
}

void RMSprop::step() {
  const double alpha = options.alpha();
  for_each_update(
      [&](std::size_t i, Tensor& p, const Tensor& grad) {
        const std::size_t group = group_of(i);
        const Tensor lr = lr_device(group).to(p.dtype());
        const Tensor g = weight_decay(group) != 0 ? add(grad, p, weight_decay(group)) : grad;
        Tensor& square_avg = buffer(i, "square_avg");
        square_avg.mul_(alpha).addcmul_(g, g, 1.0 - alpha);
        Tensor avg;
        if (options.centered()) {
          Tensor& grad_avg = buffer(i, "grad_avg");
          grad_avg.mul_(alpha).add_(g, 1.0 - alpha);
          avg = add(sqrt(sub(square_avg, mul(grad_avg, grad_avg))), options.eps());
        } else {
          avg = add(sqrt(square_avg), options.eps());
        }
        if (options.momentum() > 0) {
          Tensor& b = buffer(i, "momentum_buffer");
          b.mul_(options.momentum()).add_(div(g, avg));
          p.sub_(mul(b, lr));
        } else {
          p.sub_(mul(div(g, avg), lr));
        }
      },
      false);
}

// --- Adagrad --------------------------------------------------------------------------------

Adagrad::Adagrad(std::vector<Tensor> params, AdagradOptions o) : Adagrad(one_group(std::move(params)), o) {}

Adagrad::Adagrad(std::vector<ParamGroup> groups, AdagradOptions o)
    : Optimizer(std::move(groups), o.lr(), o.weight_decay()), options(o) {
  VOLT_CHECK(o.lr_decay() >= 0 && o.eps() >= 0 && o.initial_accumulator_value() >= 0,
             "Adagrad: lr_decay, eps and initial_accumulator_value must be non-negative");
}

void Adagrad::step() {
  count_step_on_device();
  // 1 + (t - 1)·lr_decay, from t on the device.
  const Tensor decay = add(mul(add(step_device().to(DType::f64), -1.0), options.lr_decay()), 1.0);
  for_each_update(
      [&](std::size_t i, Tensor& p, const Tensor& grad) {
        const std::size_t group = group_of(i);
        const Tensor clr = div(lr_device(group), decay).to(p.dtype());
        const Tensor g = weight_decay(group) != 0 ? add(grad, p, weight_decay(group)) : grad;
        Tensor& sum = buffer(i, "sum", options.initial_accumulator_value());
        sum.addcmul_(g, g);
        p.sub_(mul(div(g, add(sqrt(sum), options.eps())), clr));
      },
      true);
}

}  // namespace volt::optim
