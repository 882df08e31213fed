// The autograd graph. Every differentiable op records one Node for its (single) output; the
// node's edges point at the nodes of its inputs. Leaves that require grad end in an
// AccumulateGrad node that adds into .grad() and fires the leaf's hooks.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "volt/core/tensor.h"

namespace volt {

// The autograd state of a tensor, which core's TensorImpl carries without knowing it: made on
// first use, so a tensor autograd never touched costs nothing.
struct AutogradMeta {
  Tensor grad;                           // leaves: the accumulated gradient
  std::shared_ptr<Node> grad_fn;         // the node of the op that made the tensor; null for a leaf
  std::weak_ptr<Node> grad_accumulator;  // leaves: created on first use, shared by all uses
  std::vector<GradHook> hooks;           // leaves; a non-leaf keeps its hooks on grad_fn
  std::vector<PostAccumulateHook> post_accumulate_hooks;
};

// The tensor's autograd state, created when missing.
AutogradMeta& autograd_meta(TensorImpl& impl);

struct Edge {
  std::shared_ptr<Node> fn;  // null: the input needs no gradient
};

class Node {
 public:
  explicit Node(std::string name);
  virtual ~Node() = default;

  const std::string& name() const { return name_; }
  uint64_t sequence_nr() const { return sequence_nr_; }
  const std::vector<Edge>& next_edges() const { return next_edges_; }
  const std::vector<Shape>& input_shapes() const { return input_shapes_; }
  void add_input(const Tensor& input);  // one edge per op input, in order

  // Gradients for each input (undefined where none flows), given the output's gradient.
  virtual std::vector<Tensor> apply(const Tensor& grad_output) = 0;
  // Drops what apply needs (saved tensors) after a backward without retain_graph.
  virtual void release() {}

  void add_pre_hook(GradHook hook) { pre_hooks_.push_back(std::move(hook)); }
  const std::vector<GradHook>& pre_hooks() const { return pre_hooks_; }

 private:
  std::string name_;
  uint64_t sequence_nr_;
  std::vector<Edge> next_edges_;
  std::vector<Shape> input_shapes_;
  std::vector<GradHook> pre_hooks_;
};

// A tensor a backward closure reads (PyTorch's SavedVariable), with its version when saved: an
// in-place change since is an error, because the gradient would silently be computed from the
// new values. An op's input (or any tensor made before the op's output) is kept as it is. The
// op's own output, which record() recognises, is kept as bare data and a weak link to the node:
// a strong one would be a cycle, since the output owns its node.
//
// get() gives the tensor with its history while grad mode is on, as it is in a backward with
// create_graph, so that the gradient built from it is itself differentiable (second
// derivatives); otherwise the bare data. Copies share one state, so the copy a closure captures
// and the copy record() is given are the same saved tensor.
class SavedTensor {
 public:
  SavedTensor() = default;
  explicit SavedTensor(const Tensor& t);

  Tensor get() const;
  // Throws when the tensor changed in place since it was saved; `node` and `index` name it.
  void check_version(const std::string& node, std::size_t index) const;
  // Called by record() once the output exists: if this is it, keep it weakly.
  void mark_if_output(const Tensor& output, const std::shared_ptr<Node>& node);

 private:
  struct State {
    Tensor tensor;
    uint64_t version = 0;
    bool is_output = false;
    std::weak_ptr<Node> node;
  };
  std::shared_ptr<State> state_;
};

// A node whose backward is a closure written next to its forward in autograd/ops/.
class FunctionNode final : public Node {
 public:
  using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;
  FunctionNode(std::string name, BackwardFn fn, std::vector<SavedTensor> saved);

  std::vector<Tensor> apply(const Tensor& grad_output) override;
  void release() override;
  std::vector<SavedTensor>& saved() { return saved_; }

 private:
  BackwardFn fn_;
  std::vector<SavedTensor> saved_;  // the ones the closure captured, for the version check
};

class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf);
  std::vector<Tensor> apply(const Tensor& grad_output) override;

 private:
  std::shared_ptr<TensorImpl> leaf_;
};

// The node a gradient for `t` flows into: its grad_fn, its (shared) accumulator if it is a
// leaf that requires grad, or null.
std::shared_ptr<Node> gradient_edge(const Tensor& t);

// True when grad mode is on and any of `inputs` requires grad.
bool any_requires_grad(std::initializer_list<Tensor> inputs);
bool any_requires_grad(const std::vector<Tensor>& inputs);

// Makes `output` the result of a differentiable op. `inputs` are the op's tensor inputs in the
// order `backward` returns their gradients; `saved` are the SavedTensors the closure captured.
// Does nothing unless grad mode is on and an input requires grad.
//
// A backward is written with differentiable ops on the SavedTensors' get(), so that with
// create_graph its gradient has a graph too. Where a fused kernel is faster, it runs when grad
// mode is off (an ordinary backward) and the composite form when it is on.
void record(const char* name, Tensor& output, const std::vector<Tensor>& inputs, FunctionNode::BackwardFn backward,
            std::vector<SavedTensor> saved = {});

}  // namespace volt
