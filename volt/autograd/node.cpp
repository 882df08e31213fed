#include "volt/autograd/node.h"

#include <atomic>

#include "volt/autograd/grad_mode.h"
#include "volt/autograd/ops.h"

namespace volt {
namespace {
std::atomic<uint64_t> next_sequence_nr{0};
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
  Tensor g = grad_output;
  for (const auto& hook : leaf_->hooks) {
    Tensor replaced = hook(g);
    if (replaced.defined()) g = replaced;
  }
  // The first gradient is copied: an op's backward may hand the same tensor to several inputs.
  if (!leaf_->grad.defined())
    leaf_->grad = g.clone();
  else
    leaf_->grad.add_(g);
  Tensor leaf(leaf_);
  for (const auto& hook : leaf_->post_accumulate_hooks)
    hook(leaf);
  return {};
}

std::shared_ptr<Node> gradient_edge(const Tensor& t) {
  TensorImpl* impl = t.impl();
  if (impl->grad_fn) return impl->grad_fn;
  if (!impl->requires_grad) return nullptr;
  auto acc = impl->grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t.impl_ptr());
    impl->grad_accumulator = acc;
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
  output.impl()->grad_fn = std::move(node);
  output.impl()->requires_grad = true;
}

}  // namespace volt
