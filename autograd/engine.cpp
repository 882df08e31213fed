#include "volt/autograd/engine.h"

#include <queue>
#include <unordered_map>

#include "volt/autograd/grad_mode.h"
#include "volt/autograd/node.h"
#include "volt/autograd/ops.h"

namespace volt::autograd {
namespace {

struct LaterFirst {
  bool operator()(const Node* a, const Node* b) const { return a->sequence_nr() < b->sequence_nr(); }
};

}  // namespace

void backward(const Tensor& root, const Tensor& gradient, bool retain_graph) {
  VOLT_CHECK(root.defined(), "backward: undefined tensor");
  VOLT_CHECK(root.requires_grad(), "backward: ", describe(root), " does not require grad and has no grad_fn");
  Tensor seed = gradient;
  if (!seed.defined()) {
    VOLT_CHECK(root.numel() == 1, "backward: a gradient is needed for non-scalar output ", describe(root),
               " (grad can be implicitly created only for one-element outputs)");
    seed = ones_like(root);
  }
  VOLT_CHECK(seed.shape() == root.shape() && seed.dtype() == root.dtype() && seed.device() == root.device(),
             "backward: gradient ", describe(seed), " does not match output ", describe(root));

  NoGradGuard no_grad;
  std::shared_ptr<Node> root_node = gradient_edge(root);

  // Count, for every reachable node, how many edges lead into it.
  std::unordered_map<Node*, int> dependencies;
  std::vector<Node*> stack{root_node.get()};
  dependencies[root_node.get()] = 0;
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next_edges()) {
      if (!e.fn) continue;
      if (dependencies[e.fn.get()]++ == 0) stack.push_back(e.fn.get());
    }
  }

  // Gradients waiting for their node; nodes run once everything for them has arrived, the most
  // recently created first, so the order (and every float sum) is the same run to run.
  std::unordered_map<Node*, Tensor> pending;
  std::priority_queue<Node*, std::vector<Node*>, LaterFirst> ready;
  pending[root_node.get()] = seed;
  ready.push(root_node.get());
  while (!ready.empty()) {
    Node* node = ready.top();
    ready.pop();
    Tensor grad = std::move(pending[node]);
    pending.erase(node);

    std::vector<Tensor> input_grads;
    if (grad.defined()) {
      for (const auto& hook : node->pre_hooks()) {
        Tensor replaced = hook(grad);
        if (replaced.defined()) grad = replaced;
      }
      input_grads = node->apply(grad);
      if (!retain_graph) node->release();
    }

    const auto& edges = node->next_edges();
    for (std::size_t i = 0; i < edges.size(); ++i) {
      Node* next = edges[i].fn.get();
      if (!next) continue;
      if (i < input_grads.size() && input_grads[i].defined()) {
        const Tensor& g = input_grads[i];
        VOLT_CHECK(g.shape() == node->input_shapes()[i], "backward: ", node->name(), " returned a gradient of shape ",
                   shape_str(g.shape()), " for input ", i, " of shape ", shape_str(node->input_shapes()[i]));
        Tensor& slot = pending[next];
        slot = slot.defined() ? add(slot, g) : g;
      }
      if (--dependencies[next] == 0) ready.push(next);
    }
  }
}

}  // namespace volt::autograd
