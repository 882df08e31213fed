#include "volt/nn/optim/optimizer.h"

#include <cmath>

#include "volt/autograd/grad_mode.h"
#include "volt/autograd/ops.h"

#if VOLT_HAS_CUDA
#include "volt/core/cuda/runtime.h"
#include "volt/kernels/cuda/optim.h"
#endif

namespace volt::optim {

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

bool Optimizer::fused_on_cuda() const {
#if VOLT_HAS_CUDA
  const Device d = params_[0].device();
  if (!d.is_cuda()) return false;
  for (const Tensor& p : params_)
    if (p.device() != d || p.dtype() != DType::f32 || !p.is_contiguous()) return false;
  return true;
#else
  return false;
#endif
}

const Tensor& Optimizer::lr_device() {
  if (!lr_device_.defined()) lr_device_ = full({}, lr_, TensorOptions(DType::f64).device(params_[0].device()));
  return lr_device_;
}

#if VOLT_HAS_CUDA
std::vector<kernels::cuda::OptimTensor> Optimizer::fused_tensors(const std::string& buf1, const std::string& buf2,
                                                                 std::vector<Tensor>& keep) {
  std::vector<kernels::cuda::OptimTensor> tensors;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    if (!p.grad().defined()) continue;
    keep.push_back(p.grad().contiguous());
    const bool fresh = !buf1.empty() && !state_[i].count(buf1);
    tensors.push_back({p.data_ptr(), keep.back().data_ptr(), buf1.empty() ? nullptr : buffer(i, buf1).data_ptr(),
                       buf2.empty() ? nullptr : buffer(i, buf2).data_ptr(), p.numel(), fresh});
  }
  return tensors;
}

void Optimizer::finish_fused_step() {
  for (Tensor& p : params_)
    p.bump_version();
  ++step_count_;
}
#endif

const Tensor& Optimizer::step_device() {
  if (!step_device_.defined())
    step_device_ = full({}, static_cast<double>(step_count_), TensorOptions(DType::i64).device(params_[0].device()));
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
  if (!b.defined()) b = zeros_like(params_[i]);
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
    loaded[i][name.substr(dot2 + 1)] = t.to(params_[i].dtype()).to(params_[i].device()).clone();
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
#if VOLT_HAS_CUDA
  if (fused_on_cuda()) {
    std::vector<Tensor> keep;
    const auto tensors = fused_tensors(options.momentum != 0 ? "momentum_buffer" : "", "", keep);
    const cuda::DeviceGuard guard(params_[0].device().index);
    const int device = params_[0].device().index;
    kernels::cuda::sgd_step(DType::f32, tensors, lr_device().data_ptr<double>(),
                            {options.momentum, options.dampening, options.weight_decay, options.nesterov},
                            cuda::current_stream(device));
    finish_fused_step();
    return;
  }
#endif
  for (std::size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    if (!p.grad().defined()) continue;
    Tensor g = p.grad();
    if (options.weight_decay != 0) g = add(g, p, options.weight_decay);
    if (options.momentum != 0) {
      const bool first = !state_[i].count("momentum_buffer");
      Tensor& b = buffer(i, "momentum_buffer");
      if (first)
        b.copy_(g);
      else
        b.mul_(options.momentum).add_(g, 1.0 - options.dampening);
      g = options.nesterov ? add(g, b, options.momentum) : b;
    }
    p.add_(g, -lr_);
  }
  ++step_count_;
}

Adam::Adam(std::vector<Tensor> params, AdamOptions o) : Optimizer(std::move(params), o.lr), options(o) {
  VOLT_CHECK(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1, "Adam: betas must be in [0, 1), got (",
             o.beta1, ", ", o.beta2, ")");
  VOLT_CHECK(o.eps >= 0 && o.weight_decay >= 0, "Adam: eps and weight_decay must be non-negative");
}

void Adam::step() { adam_step(false); }

void Adam::adam_step(bool decoupled) {
  NoGradGuard no_grad;
#if VOLT_HAS_CUDA
  if (fused_on_cuda()) {
    std::vector<Tensor> keep;
    const auto tensors = fused_tensors("exp_avg", "exp_avg_sq", keep);
    const cuda::DeviceGuard guard(params_[0].device().index);
    const cudaStream_t stream = cuda::current_stream(params_[0].device().index);
    kernels::cuda::step_count_increment(step_device().data_ptr<int64_t>(), stream);
    kernels::cuda::adam_step(DType::f32, tensors, lr_device().data_ptr<double>(), step_device().data_ptr<int64_t>(),
                             {options.beta1, options.beta2, options.eps, options.weight_decay, decoupled}, stream);
    finish_fused_step();
    return;
  }
#endif
  ++step_count_;
  const auto t = static_cast<double>(step_count_);
  const double bias1 = 1.0 - std::pow(options.beta1, t);
  const double bias2_sqrt = std::sqrt(1.0 - std::pow(options.beta2, t));
  const double step_size = lr_ / bias1;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    if (!p.grad().defined()) continue;
    Tensor g = p.grad();
    if (options.weight_decay != 0) {
      if (decoupled)
        p.mul_(1.0 - lr_ * options.weight_decay);
      else
        g = add(g, p, options.weight_decay);
    }
    Tensor& m = buffer(i, "exp_avg");
    Tensor& v = buffer(i, "exp_avg_sq");
    m.mul_(options.beta1).add_(g, 1.0 - options.beta1);
    v.mul_(options.beta2).addcmul_(g, g, 1.0 - options.beta2);
    Tensor denom = sqrt(v).div_(bias2_sqrt).add_(options.eps);
    p.addcdiv_(m, denom, -step_size);
  }
}

AdamW::AdamW(std::vector<Tensor> params, AdamOptions options) : Adam(std::move(params), options) {}

}  // namespace volt::optim
