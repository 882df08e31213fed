#include "volt/autograd/engine.h"

#include <queue>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "volt/autograd/autocast.h"
#include "volt/autograd/grad_mode.h"
#include "volt/autograd/node.h"
#include "volt/autograd/ops.h"

namespace volt::autograd {
namespace {

struct LaterFirst {
  bool operator()(const Node* a, const Node* b) const { return a->sequence_nr() < b->sequence_nr(); }
};

// The seed of one output: the given gradient, checked, or ones for a one-element output.
Tensor seed_for(const char* op, const Tensor& root, const Tensor& gradient) {
  VOLT_CHECK(root.defined(), op, ": undefined tensor");
  VOLT_CHECK(root.requires_grad(), op, ": ", describe(root), " does not require grad and has no grad_fn");
  if (!gradient.defined()) {
    VOLT_CHECK(root.numel() == 1, op, ": a gradient is needed for non-scalar output ", describe(root),
               " (grad can be implicitly created only for one-element outputs)");
    return ones_like(root.detach());
  }
  VOLT_CHECK(gradient.shape() == root.shape() && gradient.dtype() == root.dtype() && gradient.device() == root.device(),
             op, ": gradient ", describe(gradient), " does not match output ", describe(root));
  return gradient;
}

// The nodes from which one of `targets` can be reached (targets included): those grad() runs.
std::unordered_set<Node*> leading_to(const std::vector<Node*>& roots, const std::unordered_set<Node*>& targets) {
  std::unordered_map<Node*, bool> leads;  // set once all of a node's edges are done
  std::vector<std::pair<Node*, std::size_t>> stack;
  for (Node* r : roots) {
    if (leads.count(r)) continue;
    stack.emplace_back(r, 0);
    leads[r] = false;
    while (!stack.empty()) {
      auto& [n, next] = stack.back();
      const auto& edges = n->next_edges();
      if (next < edges.size()) {
        Node* child = edges[next++].fn.get();
        if (child && !leads.count(child)) {
          leads[child] = false;
          stack.emplace_back(child, 0);
        }
        continue;
      }
      bool any = targets.count(n) > 0;
      for (const Edge& e : edges)
        any = any || (e.fn && leads[e.fn.get()]);
      leads[n] = any;
      stack.pop_back();
    }
  }
  std::unordered_set<Node*> out;
  for (const auto& [n, yes] : leads)
    if (yes) out.insert(n);
  return out;
}

// The walk both entry points share. `captured` null: backward(), every reachable node runs and
// leaves accumulate. Otherwise grad(): only nodes leading to a captured one run, accumulators
// never do, and what reaches a captured node is kept in its slots.
void run(const std::vector<Node*>& roots, const std::vector<Tensor>& seeds, bool retain_graph, bool create_graph,
         const std::unordered_map<Node*, std::vector<std::size_t>>* captures, std::vector<Tensor>* captured) {
  AutoGradMode mode(create_graph);
  const autocast::Suspend no_autocast;  // the backward keeps the dtypes the forward chose

  std::unordered_set<Node*> wanted;
  if (captures) {
    std::unordered_set<Node*> targets;
    for (const auto& [n, slots] : *captures)
      targets.insert(n);
    wanted = leading_to(roots, targets);
  }
  auto runs = [&](Node* n) { return !captures || wanted.count(n) > 0; };

  // Count, for every node that runs, how many edges lead into it.
  std::unordered_map<Node*, int> dependencies;
  std::vector<Node*> stack;
  for (Node* r : roots)
    if (runs(r) && dependencies.emplace(r, 0).second) stack.push_back(r);
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next_edges()) {
      if (!e.fn || !runs(e.fn.get())) continue;
      if (dependencies[e.fn.get()]++ == 0) stack.push_back(e.fn.get());
    }
  }

  // Gradients waiting for their node; nodes run once everything for them has arrived, the most
  // recently created first, so the order (and every float sum) is the same run to run.
  std::unordered_map<Node*, Tensor> pending;
  std::priority_queue<Node*, std::vector<Node*>, LaterFirst> ready;
  for (std::size_t i = 0; i < roots.size(); ++i) {
    if (!runs(roots[i])) continue;
    Tensor& slot = pending[roots[i]];
    slot = slot.defined() ? add(slot, seeds[i]) : seeds[i];
  }
  for (Node* r : roots)
    if (runs(r) && dependencies[r] == 0) {
      ready.push(r);
      dependencies[r] = -1;  // pushed once, even when it is the root of several outputs
    }
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
      if (captures) {
        if (auto it = captures->find(node); it != captures->end())
          for (std::size_t slot : it->second)
            (*captured)[slot] = grad;
      }
      if (!captures || dynamic_cast<AccumulateGrad*>(node) == nullptr) {  // grad() runs no accumulator
        input_grads = node->apply(grad);
        if (!retain_graph) node->release();
      }
    }

    const auto& edges = node->next_edges();
    for (std::size_t i = 0; i < edges.size(); ++i) {
      Node* next = edges[i].fn.get();
      if (!next || !runs(next)) continue;
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

}  // namespace

void backward(const Tensor& root, const Tensor& gradient, std::optional<bool> retain_graph, bool create_graph) {
  const Tensor seed = seed_for("backward", root, gradient);
  run({gradient_edge(root).get()}, {seed}, retain_graph.value_or(create_graph), create_graph, nullptr, nullptr);
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, std::optional<bool> retain_graph, bool create_graph,
                         bool allow_unused) {
  VOLT_CHECK(!outputs.empty(), "grad: no outputs given");
  VOLT_CHECK(grad_outputs.empty() || grad_outputs.size() == outputs.size(), "grad: ", grad_outputs.size(),
             " grad_outputs for ", outputs.size(), " outputs");
  std::vector<Node*> roots;
  std::vector<Tensor> seeds;
  std::vector<std::shared_ptr<Node>> keep;  // a root's node lives at least while it runs
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    seeds.push_back(seed_for("grad", outputs[i], grad_outputs.empty() ? Tensor() : grad_outputs[i]));
    keep.push_back(gradient_edge(outputs[i]));
    roots.push_back(keep.back().get());
  }
  std::unordered_map<Node*, std::vector<std::size_t>> captures;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    VOLT_CHECK(inputs[i].defined(), "grad: input ", i, " is undefined");
    keep.push_back(gradient_edge(inputs[i]));
    VOLT_CHECK(keep.back() != nullptr, "grad: input ", i, " (", describe(inputs[i]),
               ") does not require grad, so no gradient flows to it");
    captures[keep.back().get()].push_back(i);
  }
  std::vector<Tensor> result(inputs.size());
  run(roots, seeds, retain_graph.value_or(create_graph), create_graph, &captures, &result);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    VOLT_CHECK(result[i].defined() || allow_unused, "grad: input ", i, " (", describe(inputs[i]),
               ") was not used to compute the outputs; pass allow_unused=true to get an undefined gradient for it");
  }
  return result;
}

}  // namespace volt::autograd
