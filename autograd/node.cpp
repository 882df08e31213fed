#include "volt/autograd/node.h"

#include <atomic>

#include "volt/autograd/engine.h"
#include "volt/autograd/grad_mode.h"
#include "volt/autograd/ops.h"

namespace volt {
namespace {
std::atomic<uint64_t> next_sequence_nr{0};
}

AutogradMeta& autograd_meta(TensorImpl& impl) {
  if (!impl.autograd) impl.autograd = std::make_shared<AutogradMeta>();
  return *impl.autograd;
}

Node::Node(std::string name) : name_(std::move(name)), sequence_nr_(next_sequence_nr++) {}

void Node::add_input(const Tensor& input) {
  next_edges_.push_back({input.defined() ? gradient_edge(input) : nullptr});
  input_shapes_.push_back(input.defined() ? input.shape() : Shape{});
}

FunctionNode::FunctionNode(std::string name, BackwardFn fn, std::vector<Tensor> saved)
    : Node(std::move(name)), fn_(std::move(fn)) {
  // Detached: saving an op's own output must not make the output own its node twice over.
  for (const auto& t : saved)
    saved_.emplace_back(t.detach(), t.version());
}

std::vector<Tensor> FunctionNode::apply(const Tensor& grad_output) {
  VOLT_CHECK(fn_ != nullptr, "backward through ", name(),
             " a second time: its saved tensors were freed after the first backward; pass "
             "retain_graph=true to the first backward to keep them");
  for (std::size_t i = 0; i < saved_.size(); ++i) {
    const auto& [t, v] = saved_[i];
    VOLT_CHECK(t.version() == v, "a tensor saved by ", name(), " for backward (", describe(t), ", saved #", i,
               ") was modified by an in-place operation: its version is ", t.version(), ", expected ", v);
  }
  return fn_(grad_output);
}

void FunctionNode::release() {
  fn_ = nullptr;
  saved_.clear();
}

AccumulateGrad::AccumulateGrad(std::shared_ptr<TensorImpl> leaf) : Node("AccumulateGrad"), leaf_(std::move(leaf)) {}

std::vector<Tensor> AccumulateGrad::apply(const Tensor& grad_output) {
  AutogradMeta& meta = autograd_meta(*leaf_);
  Tensor g = grad_output;
  for (const auto& hook : meta.hooks) {
    Tensor replaced = hook(g);
    if (replaced.defined()) g = replaced;
  }
  // The first gradient becomes .grad() itself when nothing else can see it (PyTorch's
  // AccumulateGrad steals it the same way): only the engine's reference to it (and ours) exist,
  // it owns its whole storage, contiguous, and carries no history. Otherwise it is copied: a
  // backward may hand one tensor to several inputs, return a view, or return a saved tensor.
  if (!meta.grad.defined()) {
    const long engine_refs = g.impl() == grad_output.impl() ? 2 : 1;
    const bool stealable = g.impl_ptr().use_count() == engine_refs && g.storage().use_count() == 1 &&
                           g.is_contiguous() && g.storage_offset() == 0 && !g.requires_grad() &&
                           g.storage()->nbytes() == static_cast<std::size_t>(g.numel()) * itemsize(g.dtype());
    meta.grad = stealable ? g : g.clone();
  } else
    meta.grad.add_(g);
  Tensor leaf(leaf_);
  for (const auto& hook : meta.post_accumulate_hooks)
    hook(leaf);
  return {};
}

std::shared_ptr<Node> gradient_edge(const Tensor& t) {
  TensorImpl* impl = t.impl();
  if (impl->autograd && impl->autograd->grad_fn) return impl->autograd->grad_fn;
  if (!impl->requires_grad) return nullptr;
  AutogradMeta& meta = autograd_meta(*impl);
  auto acc = meta.grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t.impl_ptr());
    meta.grad_accumulator = acc;
  }
  return acc;
}

bool any_requires_grad(std::initializer_list<Tensor> inputs) {
  if (!is_grad_enabled()) return false;
  for (const auto& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

bool any_requires_grad(const std::vector<Tensor>& inputs) {
  if (!is_grad_enabled()) return false;
  for (const auto& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

void record(const char* name, Tensor& output, const std::vector<Tensor>& inputs, FunctionNode::BackwardFn backward,
            std::vector<Tensor> saved) {
  if (!any_requires_grad(inputs)) return;
  auto node = std::make_shared<FunctionNode>(name, std::move(backward), std::move(saved));
  for (const auto& in : inputs)
    node->add_input(in);
  autograd_meta(*output.impl()).grad_fn = std::move(node);
  output.impl()->requires_grad = true;
}

// --- Tensor's autograd accessors (declared in core/tensor.h) -------------------------------

bool Tensor::is_leaf() const {
  VOLT_CHECK(defined(), "is_leaf: the tensor is undefined");
  return !impl_->autograd || impl_->autograd->grad_fn == nullptr;
}

Tensor& Tensor::requires_grad_(bool enabled) {
  VOLT_CHECK(is_leaf(), "requires_grad_: only leaf tensors can change requires_grad (this one was made by ",
             impl_->autograd->grad_fn->name(), "); use detach()");
  VOLT_CHECK(!enabled || is_floating(dtype()), "requires_grad_: only floating tensors can require grad, got ",
             describe(*this));
  impl_->requires_grad = enabled;
  return *this;
}

Tensor Tensor::grad() const {
  VOLT_CHECK(defined(), "grad: the tensor is undefined");
  return impl_->autograd ? impl_->autograd->grad : Tensor();
}

void Tensor::set_grad(const Tensor& g) const {
  VOLT_CHECK(defined(), "set_grad: the tensor is undefined");
  VOLT_CHECK(!g.defined() || g.shape() == shape(), "set_grad: gradient ", describe(g), " does not match tensor ",
             describe(*this));
  if (!g.defined() && !impl_->autograd) return;
  autograd_meta(*impl_).grad = g;
}

const std::shared_ptr<Node>& Tensor::grad_fn() const {
  static const std::shared_ptr<Node> none;
  VOLT_CHECK(defined(), "grad_fn: the tensor is undefined");
  return impl_->autograd ? impl_->autograd->grad_fn : none;
}

void Tensor::backward(const Tensor& gradient, bool retain_graph) const {
  autograd::backward(*this, gradient, retain_graph);
}

void Tensor::register_hook(GradHook hook) const {
  VOLT_CHECK(defined() && requires_grad(), "register_hook: tensor ", describe(*this), " does not require grad");
  if (is_leaf())
    autograd_meta(*impl_).hooks.push_back(std::move(hook));
  else
    impl_->autograd->grad_fn->add_pre_hook(std::move(hook));
}

void Tensor::register_post_accumulate_grad_hook(PostAccumulateHook hook) const {
  VOLT_CHECK(defined() && is_leaf() && requires_grad(),
             "register_post_accumulate_grad_hook: only leaves that require grad accumulate a gradient");
  autograd_meta(*impl_).post_accumulate_hooks.push_back(std::move(hook));
}

}  // namespace volt
