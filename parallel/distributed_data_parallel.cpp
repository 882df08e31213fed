#include "volt/parallel/distributed_data_parallel.h"

#include <functional>
#include <sstream>
#include <unordered_set>

#include "volt/autograd/grad_mode.h"
#include "volt/autograd/node.h"
#include "volt/autograd/ops.h"

namespace volt::parallel {

// The buckets and one iteration's state. Bucket b holds parameters params[b] (indices into the
// module's parameter list); an iteration marks each parameter ready as its gradient arrives,
// starts a bucket's all-reduce when all of it is ready, and writes the averages back when the
// last bucket has started.
struct DistributedDataParallel::Reducer {
  ProcessGroup* group = nullptr;
  std::vector<std::string> names;
  std::vector<Tensor> params;
  std::vector<std::vector<std::size_t>> buckets;
  std::vector<std::size_t> bucket_of;
  bool sync = true;
  bool find_unused = false;

  // The iteration in flight.
  std::vector<bool> ready;
  std::vector<int64_t> waiting;  // per bucket: parameters not ready yet
  // Per bucket: its gradients, side by side, reduced in place. Made once and kept (PyTorch's
  // bucket buffers): the gradients are its views after a step, so a backward that accumulates
  // into them (zero_grad without set_to_none, no_sync) writes straight into it.
  std::vector<Tensor> flat;
  std::vector<std::shared_ptr<Work>> works;
  int64_t buckets_started = 0;
  bool in_progress = false;

  void begin_iteration(const std::vector<bool>& unused) {
    ready.assign(params.size(), false);
    waiting.clear();
    for (const auto& b : buckets)
      waiting.push_back(static_cast<int64_t>(b.size()));
    flat.resize(buckets.size());
    works.assign(buckets.size(), nullptr);
    buckets_started = 0;
    in_progress = false;
    for (std::size_t i = 0; i < unused.size(); ++i)
      if (unused[i]) mark_ready(i);  // find_unused_parameters: reduced as zeros
  }

  void mark_ready(std::size_t i) {
    if (!sync || ready[i]) return;
    in_progress = true;
    ready[i] = true;
    const std::size_t b = bucket_of[i];
    if (--waiting[b] > 0) return;
    NoGradGuard no_grad;
    if (group->size() == 1) {  // the average over one rank is its own gradient: nothing to send
      for (std::size_t p : buckets[b])
        if (!params[p].grad().defined()) params[p].set_grad(zeros_like(params[p]));
      if (++buckets_started == static_cast<int64_t>(buckets.size())) {
        in_progress = false;
        ready.assign(params.size(), false);
      }
      return;
    }
    // The bucket is complete: its gradients (zeros where a parameter has none) in its buffer,
    // copied unless a gradient is its view already.
    if (!flat[b].defined()) {
      int64_t total = 0;
      for (std::size_t p : buckets[b])
        total += params[p].numel();
      const Tensor& first = params[buckets[b].front()];
      flat[b] = empty({total}, TensorOptions(first.dtype()).device(first.device()));
    }
    int64_t at = 0;
    for (std::size_t p : buckets[b]) {
      const Tensor& g = params[p].grad();
      Tensor slot = flat[b].narrow(0, at, params[p].numel());
      at += params[p].numel();
      if (!g.defined())
        slot.zero_();
      else if (g.data_ptr() != slot.data_ptr() || !g.is_contiguous())
        slot.copy_(g.reshape({-1}));
    }
    works[b] = group->all_reduce(flat[b], ReduceOp::avg);
    if (++buckets_started == static_cast<int64_t>(buckets.size())) finish();
  }

  void finish() {
    NoGradGuard no_grad;
    for (std::size_t b = 0; b < buckets.size(); ++b) {
      works[b]->wait();
      int64_t at = 0;
      for (std::size_t p : buckets[b]) {
        Tensor& param = params[p];
        // The gradient becomes its view of the bucket (PyTorch's gradient_as_bucket_view):
        // no copy back; a gradient kept from an earlier step sees the bucket's new values.
        const Tensor& g = param.grad();
        Tensor view = flat[b].narrow(0, at, param.numel()).view(param.shape());
        if (!g.defined() || g.data_ptr() != view.data_ptr()) param.set_grad(view);
        at += param.numel();
      }
    }
    in_progress = false;
    ready.assign(params.size(), false);
  }
};

namespace {

// A 64-bit fingerprint of a parameter's name and shape, the same on every rank that has it.
int64_t fingerprint(const std::string& name, const Shape& shape) {
  std::string s = name + ":" + shape_str(shape);
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : s)
    h = (h ^ c) * 1099511628211ull;
  return static_cast<int64_t>(h);
}

}  // namespace

DistributedDataParallel::DistributedDataParallel(std::shared_ptr<nn::Module> module, ProcessGroup* group,
                                                 DistributedDataParallelOptions options)
    : module_(std::move(module)), group_(group ? group : &get_default_group()), options_(options) {
  VOLT_CHECK(module_ != nullptr, "DistributedDataParallel: the module is null");
  VOLT_CHECK(options.bucket_cap_mb > 0, "DistributedDataParallel: bucket_cap_mb must be positive");
  register_module("module", module_);
  auto reducer = std::make_shared<Reducer>();
  reducer->group = group_;
  reducer->find_unused = options.find_unused_parameters;
  for (auto& [name, p] : module_->named_parameters())
    if (p.requires_grad()) {
      reducer->names.push_back(name);
      reducer->params.push_back(p);
    }

  // Every rank the same parameters: their count, then each one's name and shape.
  NoGradGuard no_grad;
  const int world = group_->size();
  auto gather = [&](int64_t value) {
    std::vector<Tensor> all;
    for (int r = 0; r < world; ++r)
      all.push_back(zeros({1}, TensorOptions(DType::i64).device(group_->device())));
    group_->all_gather(all, tensor(std::vector<int64_t>{value}).to(group_->device()))->wait();
    std::vector<int64_t> out;
    for (const Tensor& t : all)
      out.push_back(t.item<int64_t>());
    return out;
  };
  const auto counts = gather(static_cast<int64_t>(reducer->params.size()));
  for (int r = 0; r < world; ++r)
    VOLT_CHECK(counts[static_cast<std::size_t>(r)] == counts[0], "DistributedDataParallel: rank ", r, " has ",
               counts[static_cast<std::size_t>(r)], " parameters, rank 0 has ", counts[0],
               ": every rank must build the same model");
  for (std::size_t i = 0; i < reducer->params.size(); ++i) {
    const auto prints = gather(fingerprint(reducer->names[i], reducer->params[i].shape()));
    for (int r = 0; r < world; ++r)
      VOLT_CHECK(prints[static_cast<std::size_t>(r)] == prints[0], "DistributedDataParallel: parameter ", i,
                 " differs between rank 0 and rank ", r, " (here, on rank ", group_->rank(), ", it is '",
                 reducer->names[i], "' ", shape_str(reducer->params[i].shape()), ")");
  }
  for (Tensor& p : reducer->params)
    group_->broadcast(p, 0)->wait();
  for (auto& [name, b] : module_->named_buffers()) {
    Tensor t = b;
    group_->broadcast(t, 0)->wait();
  }

  // Buckets in reverse registration order, a new one past the cap or at a change of dtype.
  const double cap = options.bucket_cap_mb * 1024 * 1024;
  reducer->bucket_of.assign(reducer->params.size(), 0);
  double bytes = 0;
  for (std::size_t k = reducer->params.size(); k-- > 0;) {
    const Tensor& p = reducer->params[k];
    const double size = static_cast<double>(p.numel() * static_cast<int64_t>(itemsize(p.dtype())));
    const bool fresh = reducer->buckets.empty() || bytes + size > cap ||
                       reducer->params[reducer->buckets.back().front()].dtype() != p.dtype();
    if (fresh) {
      reducer->buckets.emplace_back();
      bytes = 0;
    }
    reducer->buckets.back().push_back(k);
    reducer->bucket_of[k] = reducer->buckets.size() - 1;
    bytes += size;
  }
  reducer->begin_iteration({});
  std::weak_ptr<Reducer> weak = reducer;
  for (std::size_t i = 0; i < reducer->params.size(); ++i)
    reducer->params[i].register_post_accumulate_grad_hook([weak, i](Tensor&) {
      if (auto r = weak.lock()) r->mark_ready(i);
    });
  reducer_ = std::move(reducer);
}

Tensor DistributedDataParallel::forward(const Tensor& input) {
  Reducer& r = *reducer_;
  if (r.in_progress) {
    std::ostringstream missing;
    for (std::size_t i = 0; i < r.params.size(); ++i)
      if (!r.ready[i]) missing << (missing.tellp() > 0 ? ", " : "") << r.names[i];
    VOLT_FAIL("DistributedDataParallel: the previous iteration's backward gave no gradient to ", missing.str(),
              ", so its gradients were never reduced; pass find_unused_parameters = true if parameters may go "
              "unused");
  }
  if (options_.broadcast_buffers && group_->size() > 1) {
    NoGradGuard no_grad;
    for (auto& [name, b] : module_->named_buffers()) {
      Tensor t = b;
      group_->broadcast(t, 0)->wait();
    }
  }
  Tensor out = module_->forward(input);
  std::vector<bool> unused(r.params.size(), false);
  if (r.find_unused && r.sync && out.requires_grad()) {
    // The leaves this output's graph reaches; the others get no gradient this iteration.
    std::unordered_set<const Node*> reached;
    std::vector<Node*> stack{out.grad_fn().get()};
    while (!stack.empty()) {
      Node* n = stack.back();
      stack.pop_back();
      if (!n || !reached.insert(n).second) continue;
      for (const Edge& e : n->next_edges())
        stack.push_back(e.fn.get());
    }
    for (std::size_t i = 0; i < r.params.size(); ++i)
      unused[i] = !reached.count(gradient_edge(r.params[i]).get());
  }
  r.begin_iteration(unused);
  return out;
}

DistributedDataParallel::NoSync::NoSync(DistributedDataParallel& ddp) : ddp_(ddp), previous_(ddp.reducer_->sync) {
  ddp_.reducer_->sync = false;
}
DistributedDataParallel::NoSync::~NoSync() { ddp_.reducer_->sync = previous_; }

int64_t DistributedDataParallel::bucket_count() const { return static_cast<int64_t>(reducer_->buckets.size()); }

}  // namespace volt::parallel
