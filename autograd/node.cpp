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

SavedTensor::SavedTensor(const Tensor& t) {
  if (!is_grad_enabled()) return;  // record() will not run: nothing to keep
  state_ = std::make_shared<State>();
  state_->tensor = t;
  if (t.defined()) state_->version = t.version();
}

Tensor SavedTensor::get() const {
  if (!state_) return Tensor();
  const Tensor& t = state_->tensor;
  if (!state_->is_output || !is_grad_enabled()) return t;
  // Give the data its history back: the node is alive while it runs the closure reading this.
  std::shared_ptr<Node> node = state_->node.lock();
  VOLT_CHECK(node != nullptr, "a saved output was read after its node was freed");
  Tensor live = t.detach();
  autograd_meta(*live.impl()).grad_fn = std::move(node);
  live.impl()->requires_grad = true;
  return live;
}

void SavedTensor::check_version(const std::string& node, std::size_t index) const {
  if (!state_ || !state_->tensor.defined()) return;
  const Tensor& t = state_->tensor;
  VOLT_CHECK(t.version() == state_->version, "a tensor saved by ", node, " for backward (", describe(t), ", saved #",
             index, ") was modified by an in-place operation: its version is ", t.version(), ", expected ",
             state_->version);
}

void SavedTensor::mark_if_output(const Tensor& output, const std::shared_ptr<Node>& node) {
  if (!state_ || !state_->tensor.defined() || state_->tensor.impl() != output.impl()) return;
  state_->tensor = output.detach();
  state_->is_output = true;
  state_->node = node;
}

FunctionNode::FunctionNode(std::string name, BackwardFn fn, std::vector<SavedTensor> saved)
    : Node(std::move(name)), fn_(std::move(fn)), saved_(std::move(saved)) {}

std::vector<Tensor> FunctionNode::apply(const Tensor& grad_output) {
  VOLT_CHECK(fn_ != nullptr, "backward through ", name(),
             " a second time: its saved tensors were freed after the first backward; pass "
             "retain_graph=true to the first backward to keep them");
  for (std::size_t i = 0; i < saved_.size(); ++i)
    saved_[i].check_version(name(), i);
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
  if (is_grad_enabled()) {
    // A backward with create_graph: .grad() keeps the gradient's graph, so it is never added
    // to in place.
    meta.grad = meta.grad.defined() ? add(meta.grad, g) : g.clone();
  } else if (!meta.grad.defined()) {
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
            std::vector<SavedTensor> saved) {
  if (!any_requires_grad(inputs)) return;
  auto node = std::make_shared<FunctionNode>(name, std::move(backward), std::move(saved));
  for (SavedTensor& s : node->saved())
    s.mark_if_output(output, node);
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

void Tensor::backward(const Tensor& gradient, std::optional<bool> retain_graph, bool create_graph) const {
  autograd::backward(*this, gradient, retain_graph, create_graph);
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
