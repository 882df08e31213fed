#include "volt/parallel/data_parallel.h"

#include <algorithm>
#include <exception>
#include <thread>

#include "volt/autograd/autocast.h"
#include "volt/autograd/grad_mode.h"
#include "volt/autograd/ops.h"
#include "volt/core/device_backend.h"
#include "volt/core/thread_pool.h"

namespace volt::parallel {
namespace {

// splitmix64's finaliser: a bijection that scatters nearby inputs far apart.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Replica `index`'s seed in the forward that reserved `counter` from a generator seeded `seed`:
// another Philox key for each (forward, replica), so no two streams overlap.
uint64_t replica_seed(uint64_t seed, uint64_t counter, uint64_t index) { return mix(mix(mix(seed) ^ counter) ^ index); }

// The replica's tensor in place of the module's `t`. Made on the caller's thread before any
// replica runs, so the nodes that carry gradients back to `t` come before every node of the
// replicas: the engine runs them last, in replica order, and the sum at `t` is the same whatever
// the threads' timing. An alias (expand to its own shape) on t's device; a copy on another.
Tensor replica_tensor(const Tensor& t, Device device) {
  if (t.device() != device) return t.to(device);
  return t.requires_grad() && is_grad_enabled() ? t.expand(t.shape()) : t;
}

// The calling thread's state that a replica's thread runs under.
struct CallerState {
  bool grad_enabled = is_grad_enabled();
  bool autocast_cpu = is_autocast_enabled(DeviceType::cpu);
  bool autocast_cuda = is_autocast_enabled(DeviceType::cuda);
  DType autocast_cpu_dtype = get_autocast_dtype(DeviceType::cpu);
  DType autocast_cuda_dtype = get_autocast_dtype(DeviceType::cuda);
  bool flush_denormal = volt::flush_denormal();
};

Tensor run_replica(nn::Module& replica, const Tensor& input, Device device, uint64_t seed, const CallerState& caller) {
  const AutoGradMode grad_mode(caller.grad_enabled);
  const AutocastGuard autocast_cpu(DeviceType::cpu, caller.autocast_cpu_dtype, caller.autocast_cpu);
  const AutocastGuard autocast_cuda(DeviceType::cuda, caller.autocast_cuda_dtype, caller.autocast_cuda);
  set_flush_denormal(caller.flush_denormal);
  const DeviceGuard on_device(device);
  Generator gen(seed);
  const GeneratorGuard draws(gen);
  return replica.forward(input);
}

}  // namespace

DataParallel::DataParallel(std::shared_ptr<nn::Module> module, std::vector<Device> device_ids,
                           std::optional<Device> output_device, Generator* gen)
    : module_(std::move(module)), device_ids_(std::move(device_ids)), gen_(gen) {
  VOLT_CHECK(module_ != nullptr, "DataParallel: the module is null");
  VOLT_CHECK(!device_ids_.empty(), "DataParallel: device_ids is empty; give at least one device");
  output_device_ = output_device.value_or(device_ids_[0]);
  for (const Device& d : device_ids_)
    check_device_usable("DataParallel", d);
  check_device_usable("DataParallel (output_device)", output_device_);
  register_module("module", module_);
}

Tensor DataParallel::forward(const Tensor& input) {
  VOLT_CHECK(input.defined(), "DataParallel: the input is undefined");
  VOLT_CHECK(input.dim() >= 1, "DataParallel: the input ", describe(input),
             " has no batch dim to scatter along (dim 0)");
  const Device home = device_ids_[0];
  auto check_home = [&](const char* what, const std::vector<std::pair<std::string, Tensor>>& tensors) {
    for (const auto& [name, t] : tensors)
      VOLT_CHECK(t.device() == home, "DataParallel: the module's ", what, " '", name, "' is on ", t.device(),
                 ", but device_ids[0] is ", home, "; move the module there first");
  };
  check_home("parameter", module_->named_parameters());
  check_home("buffer", module_->named_buffers());

  // Tensor.chunk's cut: ceil(batch / devices) samples a replica, the last one fewer.
  const int64_t batch = input.size(0), devices = static_cast<int64_t>(device_ids_.size());
  const int64_t per_replica = std::max<int64_t>(1, (batch + devices - 1) / devices);
  const int64_t replicas = std::max<int64_t>(1, (batch + per_replica - 1) / per_replica);
  auto gather = [&](const Tensor& out, int64_t i) {
    VOLT_CHECK(out.defined(), "DataParallel: replica ", i, " (on ", device_ids_[i], ") returned an undefined tensor");
    return (out.dim() == 0 ? out.unsqueeze(0) : out).to(output_device_);
  };
  if (replicas == 1) return gather(module_->forward(input.to(home)), 0);

  // Scatter and replicate on this thread (see replica_tensor for why here).
  std::vector<Tensor> inputs;
  std::vector<std::shared_ptr<nn::Module>> copies;
  std::vector<uint64_t> seeds;
  Generator& parent = gen_ ? *gen_ : default_generator();
  const uint64_t counter = parent.reserve(1);
  for (int64_t i = 0; i < replicas; ++i) {
    const Device d = device_ids_[i];
    const int64_t start = i * per_replica;
    inputs.push_back(input.narrow(0, start, std::min(per_replica, batch - start)).to(d));
    copies.push_back(module_->clone([d](const Tensor& t) { return replica_tensor(t, d); }));
    seeds.push_back(replica_seed(parent.seed(), counter, static_cast<uint64_t>(i)));
  }

  // Replica 0 on this thread, each other on a thread of its own.
  const CallerState caller;
  std::vector<Tensor> outputs(replicas);
  std::vector<std::exception_ptr> errors(replicas);
  auto run = [&](int64_t i) {
    try {
      outputs[i] = run_replica(*copies[i], inputs[i], device_ids_[i], seeds[i], caller);
    } catch (...) {
      errors[i] = std::current_exception();
    }
  };
  {
    std::vector<std::jthread> threads;  // joined when this scope ends, whatever happens
    for (int64_t i = 1; i < replicas; ++i)
      threads.emplace_back(run, i);
    run(0);
  }
  for (int64_t i = 0; i < replicas; ++i) {
    if (!errors[i]) continue;
    try {
      std::rethrow_exception(errors[i]);
    } catch (const std::exception& e) {
      VOLT_FAIL("DataParallel: replica ", i, " (on ", device_ids_[i], ") failed: ", e.what());
    } catch (...) {
      VOLT_FAIL("DataParallel: replica ", i, " (on ", device_ids_[i],
                ") failed with an exception that is not a "
                "std::exception");
    }
  }

  std::vector<Tensor> parts;
  for (int64_t i = 0; i < replicas; ++i)
    parts.push_back(gather(outputs[i], i));
  return cat(parts, 0);
}

}  // namespace volt::parallel
