// DistributedDataParallel (PyTorch's torch.nn.parallel.DistributedDataParallel): each rank runs
// the same module on its own shard of the batch, and the gradients are averaged over the ranks
// during backward, so that after every optimizer step all ranks hold the same parameters.
//
// At construction it checks that every rank has the same parameter names and shapes (an error
// names the first difference and the rank) and broadcasts parameters and buffers from rank 0.
// Gradients go into buckets of about bucket_cap_mb (parameters in reverse registration order,
// roughly the order backward produces them); a bucket's all-reduce starts from the
// post-accumulate hooks as soon as its last gradient is ready, so communication overlaps the
// rest of backward; when the last bucket has started, each gradient becomes its view of the
// averaged bucket (PyTorch's gradient_as_bucket_view: nothing is copied back). The buckets'
// buffers live as long as the wrapper: a gradient tensor kept from an earlier step sees the
// later steps' values, and a backward that accumulates into the views (zero_grad without
// set_to_none, no_sync) writes into the bucket itself. At world size 1 the average is the
// gradient itself, and nothing is sent.
//
//   auto ddp = std::make_shared<parallel::DistributedDataParallel>(net);
//   optim::Adam opt(ddp->parameters(), 1e-3);
//   loss = cross_entropy((*ddp)(x_shard), y_shard); loss.backward(); opt.step();
//
// no_sync() lets gradients accumulate locally over micro-batches; the first backward after it
// reduces their sum. A parameter that gets no gradient in an iteration is an error at the next
// forward, naming it, unless find_unused_parameters (then its gradient counts as zero).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "volt/nn/module.h"
#include "volt/parallel/process_group.h"

namespace volt::parallel {

struct DistributedDataParallelOptions {
  double bucket_cap_mb = 25.0;
  bool find_unused_parameters = false;
  bool broadcast_buffers = true;  // rank 0's buffers to every rank at each forward
};

class DistributedDataParallel : public nn::Module {
 public:
  // group: null for the default group.
  explicit DistributedDataParallel(std::shared_ptr<nn::Module> module, ProcessGroup* group = nullptr,
                                   DistributedDataParallelOptions options = {});
  Tensor forward(const Tensor& input) override;
  nn::Module& module() { return *module_; }

  // While one lives, backward accumulates gradients without reducing them.
  class NoSync {
   public:
    explicit NoSync(DistributedDataParallel& ddp);
    ~NoSync();
    NoSync(const NoSync&) = delete;
    NoSync& operator=(const NoSync&) = delete;

   private:
    DistributedDataParallel& ddp_;
    bool previous_;
  };
  NoSync no_sync() { return NoSync(*this); }

  int64_t bucket_count() const;  // for tests and logs

  struct Reducer;  // distributed_data_parallel.cpp: the buckets and their state

 private:
  std::shared_ptr<nn::Module> module_;
  ProcessGroup* group_;
  DistributedDataParallelOptions options_;
  std::shared_ptr<Reducer> reducer_;  // the hooks hold it weakly
};

}  // namespace volt::parallel
