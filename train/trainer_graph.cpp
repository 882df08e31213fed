// The Trainer's graphed step (TrainerOptions::cuda_graph). An epoch's first batch runs eagerly:
// the allocator caches every block a step takes, the optimizer makes its state, the logged
// metrics their sums. The second is copied into static input tensors and the step is captured
// (training_step, backward, GradScaler, optimizer, the metrics' sums added in place) and
// replayed at once; every later batch of the same shape is copied in and replayed, one launch a
// step. The host side of a step (hooks, global_step, schedulers, logging) runs around it every
// batch as before; a batch of another shape (an epoch's last, smaller one) runs eagerly. The
// graph lives until the fit ends; the learning rate and step count it reads live on the device.
// A capture that fails (a step that reads the device, state made on first use inside it) is
// undone on the host — gradients, the optimizer's count, the scaler's record, the metrics —
// and the batch runs eagerly.
#include <iostream>

#include "volt/autograd/ops.h"
#include "volt/core/device_backend.h"
#include "volt/train/trainer.h"

namespace volt::train {

std::string Trainer::graph_unsuitable_reason() const {
  if (options_.cuda_graph == false) return "cuda_graph = false";
  if (!device_.is_cuda()) return "the device is " + device_.str() + ", not a CUDA device";
  if (!DeviceGraph::supported(device_)) return "this program cannot capture graphs on " + device_.str();
  if (process_group_ != nullptr) return "strategy ddp (its collectives run on streams of their own)";
  if (!dp_devices_.empty()) return "strategy dp (replicas on threads of their own)";
  if (options_.accumulate_grad_batches > 1) return "accumulate_grad_batches > 1";
  if (options_.gradient_clip_val) return "gradient clipping";
  if (!config_.optimizer->capturable())
    return "the optimizer (SGD, Adam and AdamW without amsgrad step on the device alone)";
  if (config_.lr_scheduler && !config_.lr_scheduler->scheduler->moves_only_lr())
    return "the lr scheduler moves the momentum too (OneCycleLR's cycle_momentum), which a replay would not see";
  return "";
}

bool Trainer::cuda_graph_active() const { return graph_ && graph_->captured(); }

void Trainer::drop_graph() {
  graph_.reset();
  graph_batch_ = {};
  graph_loss_ = Tensor();
  graph_warmed_ = false;
}

bool Trainer::graphed_step(LightningModule& module, const Batch& batch, int64_t batch_idx, Tensor& loss) {
  if (!graph_off_reason_.empty()) return false;
  const bool same_shape = graph_batch_.images.defined() && batch.images.shape() == graph_batch_.images.shape() &&
                          batch.labels.shape() == graph_batch_.labels.shape();
  optim::Optimizer& opt = *config_.optimizer;
  auto copy_in = [&] {  // the batch into the static inputs, and a changed lr to the device
    graph_batch_.images.copy_(batch.images);
    graph_batch_.labels.copy_(batch.labels);
    opt.sync_lr_to_device();
  };
  if (graph_) {
    if (!same_shape) return false;
    copy_in();
    graph_->replay();
    opt.count_replayed_step();
    loss = graph_loss_;
    return true;
  }
  if (!graph_warmed_ || !same_shape) {  // this batch, run eagerly, is the warm-up
    graph_batch_ = {batch.images.clone(), batch.labels.clone()};
    graph_warmed_ = true;
    return false;
  }
  copy_in();
  // What the capture changes on the host, for a capture that fails: nothing it queued ran.
  const int64_t steps_before = opt.step_count();
  const LoggedMetrics metrics_before = train_metrics_;
  DeviceGraph graph(device_);
  try {
    train_metrics_.set_capturing(true);
    graph.capture([&] { graph_loss_ = step_on_device(module, graph_batch_, batch_idx, true); });
    train_metrics_.set_capturing(false);
  } catch (const std::exception& e) {
    graph_loss_ = Tensor();
    train_metrics_ = metrics_before;
    opt.zero_grad(true);  // gradients the capture made hold nothing
    opt.restore_step_count(steps_before);
    if (scaler_) scaler_->abandon_step();
    if (options_.cuda_graph == true) throw;
    graph_off_reason_ = std::string("the step could not be captured: ") + e.what();
    std::cerr << "Trainer: the training step could not be captured as a CUDA graph; training goes on without one ("
              << e.what() << ")\n";
    return false;
  }
  graph_ = std::move(graph);
  graph_->replay();  // this batch
  loss = graph_loss_;
  return true;
}

}  // namespace volt::train
