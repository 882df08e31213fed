// DataParallel (PyTorch's torch.nn.DataParallel): one process, several devices. Each forward
// replicates the module onto every device, scatters the batch along dim 0, runs the replicas
// at once (one thread each), and gathers their outputs along dim 0 on the output device. The
// backward runs through the one engine: each replica's parameters are differentiable views
// (on the module's device) or copies (on another device) of the module's own, so the module's
// parameters end with the gradients summed over the replicas. A device may appear more than
// once, CPUs included ({cpu, cpu}, {cuda:0, cuda:0}).
//
//   auto dp = std::make_shared<parallel::DataParallel>(net, std::vector{Device::cpu(), Device::cpu()});
//   optim::Adam opt(net->parameters(), 1e-3);  // or dp->parameters(): the same tensors
//   loss = cross_entropy((*dp)(x), y); loss.backward(); opt.step();
//
// The module must implement nn::Module::clone() (every built-in does) and have its parameters
// and buffers on device_ids[0]. As in PyTorch, the batch is cut as Tensor.chunk cuts it:
// ceil(batch / devices) samples a replica, so a batch of 5 on 4 devices runs 3 replicas (2, 2, 1)
// and one smaller than the device count runs one replica per sample; with one replica the module
// runs on its own, on the caller's thread.
//
// Determinism: what a replica computes depends only on its slice and its random stream, never on
// how the threads were scheduled. Replica i draws (dropout) from a Generator of its own, seeded
// from (the generator's seed, a counter reserved from it once per forward, i); the gradients meet
// at the module's parameters in a fixed order. Same seed, same devices: the same results.
//
// Each replica's thread runs under the caller's grad mode, autocast state and flush-denormal
// mode, with its device current; on CUDA it queues on that device's default volt stream (a stream
// the caller chose for its own thread is not carried over). A replica's error comes back as a
// volt::Error naming the replica and its device. Buffers are shared on the module's device (replicas must not write
// them) and copied to the others.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "volt/core/device.h"
#include "volt/core/generator.h"
#include "volt/nn/module.h"

namespace volt::parallel {

class DataParallel : public nn::Module {
 public:
  // device_ids: non-empty; output_device: where forward's output goes (default device_ids[0]);
  // gen: the generator the replicas' streams are seeded from (null: the default generator).
  DataParallel(std::shared_ptr<nn::Module> module, std::vector<Device> device_ids,
               std::optional<Device> output_device = std::nullopt, Generator* gen = nullptr);

  // input: [batch, ...]. Returns the replicas' outputs concatenated along dim 0 (a replica's
  // 0-dim output counts as one element, as PyTorch's gather does).
  Tensor forward(const Tensor& input) override;

  nn::Module& module() { return *module_; }
  const std::vector<Device>& device_ids() const { return device_ids_; }
  Device output_device() const { return output_device_; }

 private:
  std::shared_ptr<nn::Module> module_;
  std::vector<Device> device_ids_;
  Device output_device_;
  Generator* gen_;
};

}  // namespace volt::parallel
