#include "volt/parallel/cuda/process_group_nccl.h"

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include "volt/autograd/grad_mode.h"
#include "volt/autograd/ops.h"
#include "volt/core/cuda/runtime.h"
#include "volt/core/error.h"

namespace volt::parallel {
namespace {

#define VOLT_NCCL_CHECK(expr)                                                                         \
  do {                                                                                                \
    const ncclResult_t volt_nccl_rc_ = (expr);                                                        \
    VOLT_CHECK(volt_nccl_rc_ == ncclSuccess || volt_nccl_rc_ == ncclInProgress, "NCCL: ", #expr,      \
               " failed: ", ncclGetErrorString(volt_nccl_rc_), " (", ncclGetLastError(nullptr), ")"); \
  } while (0)

ncclDataType_t nccl_type(DType t) {
  switch (t) {
    case DType::f32:
      return ncclFloat32;
    case DType::f64:
      return ncclFloat64;
    case DType::f16:
      return ncclFloat16;
    case DType::bf16:
      return ncclBfloat16;
    case DType::i32:
      return ncclInt32;
    case DType::i64:
      return ncclInt64;
    case DType::u8:
    case DType::boolean:  // one byte; reduced with max (any rank's true)
      return ncclUint8;
    default:
      VOLT_FAIL("NCCL: no NCCL type for ", dtype_name(t));
  }
}

ncclRedOp_t nccl_op(ReduceOp op, DType t) {
  if (t == DType::boolean) return ncclMax;
  return op == ReduceOp::sum ? ncclSum : op == ReduceOp::avg ? ncclAvg : ncclMax;
}

const char* op_name(ReduceOp op) { return op == ReduceOp::sum ? "sum" : op == ReduceOp::avg ? "avg" : "max"; }

// A collective the watchdog follows: its event, its deadline, and the buffers NCCL reads and
// writes, alive until the event has passed (the caching allocator may hand a freed block to
// the next request on volt's stream, which knows nothing of the group's).
struct InFlight {
  uint64_t seq;
  std::string what;
  cudaEvent_t done;
  std::chrono::steady_clock::time_point deadline;
  std::vector<Tensor> keep;
};

class NcclWork : public Work {
 public:
  NcclWork(std::string what, cudaEvent_t done, int device, std::function<void()> check, std::function<void()> finish)
      : what_(std::move(what)), done_(done), device_(device), check_(std::move(check)), finish_(std::move(finish)) {}

  bool is_completed() override {
    check_();
    const cudaError_t state = cudaEventQuery(done_);
    if (state == cudaErrorNotReady) return false;
    VOLT_CUDA_CHECK(state);
    return true;
  }

  // Orders volt's current stream after the collective and queues the copies into the outputs:
  // the host does not wait (the watchdog enforces the timeout). A given timeout, as in c10d's
  // NCCL work, is not a host wait either: the group's timeout applies.
  void wait(std::optional<std::chrono::milliseconds>) override {
    check_();
    if (waited_) return;
    waited_ = true;
    const cuda::DeviceGuard guard(device_);
    VOLT_CUDA_CHECK(cudaStreamWaitEvent(cuda::current_stream(device_), done_, 0));
    if (finish_) finish_();
  }

 private:
  std::string what_;
  cudaEvent_t done_;  // owned by the group (recycled once the watchdog has seen it pass)
  int device_;
  std::function<void()> check_;
  std::function<void()> finish_;
  bool waited_ = false;
};

// Contiguous, of t's dtype, on t's device: t itself when it already is, else a copy made on
// volt's current stream (ordered before the collective by the start event).
Tensor buffer_for(const Tensor& t) {
  if (t.is_contiguous()) return t.detach();
  NoGradGuard no_grad;
  return t.detach().contiguous();
}

void deliver(Tensor target, const Tensor& buf) {
  NoGradGuard no_grad;
  if (buf.data_ptr() == target.data_ptr())
    target.bump_version();
  else
    target.copy_(buf);
}

}  // namespace

struct ProcessGroupNCCL::Impl {
  ProcessGroupOptions options;
  std::unique_ptr<ProcessGroupMPI> bootstrap;  // rank, size, the unique id, the survey
  int device = 0;
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
  uint64_t sequence = 0;

  std::mutex mutex;  // guards what follows, shared with the watchdog
  std::deque<InFlight> in_flight;
  std::vector<cudaEvent_t> spare_events;
  std::string failure;  // set once: the collective that timed out or failed, and why
  bool stopping = false;
  std::condition_variable wake;
  std::thread watchdog;

  // The group's next call after a failure throws it.
  void check() {
    const std::lock_guard lock(mutex);
    if (!failure.empty()) VOLT_FAIL(failure);
  }

  // An event to record (mutex held).
  cudaEvent_t take_event() {
    if (!spare_events.empty()) {
      cudaEvent_t e = spare_events.back();
      spare_events.pop_back();
      return e;
    }
    cudaEvent_t e = nullptr;
    VOLT_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    return e;
  }

  void check_tensor(const char* op, const Tensor& t) const {
    VOLT_CHECK(t.defined(), op, ": the tensor is undefined");
    VOLT_CHECK(t.device() == Device::cuda(device), "ProcessGroupNCCL ", op, ": a tensor on ", t.device().str(),
               ", but this rank's group runs on ", Device::cuda(device).str(), ": ", describe(t));
  }

  // Queues one collective on the group's stream after the work already on volt's stream.
  std::shared_ptr<Work> start(const char* op, const Tensor* t, const std::string& detail, std::vector<Tensor> keep,
                              std::function<void()> finish, const std::function<ncclResult_t()>& launch) {
    std::unique_lock lock(mutex);  // the watchdog does not abort the communicator while it is used
    if (!failure.empty()) VOLT_FAIL(failure);
    const uint64_t seq = ++sequence;
    std::ostringstream what;
    what << op << " #" << seq;
    if (t) what << " (" << dtype_name(t->dtype()) << ", " << t->numel() << " elements" << detail << ")";
    what << " on rank " << bootstrap->rank() << " of " << bootstrap->size() << " (NCCL, " << Device::cuda(device).str()
         << ")";
    const cuda::DeviceGuard guard(device);
    cudaEvent_t ready = take_event(), done = take_event();
    VOLT_CUDA_CHECK(cudaEventRecord(ready, cuda::current_stream(device)));
    VOLT_CUDA_CHECK(cudaStreamWaitEvent(stream, ready, 0));
    VOLT_NCCL_CHECK(launch());
    VOLT_CUDA_CHECK(cudaEventRecord(done, stream));
    spare_events.push_back(ready);  // recorded and waited on: free to record again
    in_flight.push_back({seq, what.str(), done, std::chrono::steady_clock::now() + options.timeout, std::move(keep)});
    lock.unlock();
    wake.notify_one();
    return std::make_shared<NcclWork>(
        what.str(), done, device, [this] { check(); }, std::move(finish));
  }

  // The watchdog: every 10 ms (or when woken), retires passed collectives and checks the oldest
  // against its deadline and the communicator for asynchronous errors.
  void watch() {
    cuda::DeviceGuard guard(device);
    std::unique_lock lock(mutex);
    while (!stopping) {
      wake.wait_for(lock, std::chrono::milliseconds(10));
      while (!in_flight.empty() && cudaEventQuery(in_flight.front().done) == cudaSuccess) {
        spare_events.push_back(in_flight.front().done);
        in_flight.pop_front();
      }
      if (in_flight.empty() || !failure.empty()) continue;
      ncclResult_t async = ncclSuccess;
      ncclCommGetAsyncError(comm, &async);
      const InFlight& oldest = in_flight.front();
      const bool late = std::chrono::steady_clock::now() > oldest.deadline;
      if (async == ncclSuccess && !late) continue;
      const uint64_t seq = oldest.seq;
      std::ostringstream s;
      s << oldest.what;
      if (late)
        s << " did not complete within " << options.timeout.count() << " ms";
      else
        s << " failed: NCCL reports " << ncclGetErrorString(async);
      lock.unlock();
      const std::string who = late ? bootstrap->survey(seq) : std::string();
      lock.lock();
      ncclCommAbort(comm);  // no kernel waits for the peers any longer
      comm = nullptr;
      failure = s.str() + who + "; the communicator is aborted and the job cannot continue as it is: end it with " +
                "parallel::abort_job";
      std::cerr << "volt: " << failure << std::endl;
    }
  }
};

ProcessGroupNCCL::ProcessGroupNCCL(ProcessGroupOptions options) : ProcessGroup(0, 1), impl_(std::make_unique<Impl>()) {
  Impl& g = *impl_;
  g.options = options;
  g.bootstrap = std::make_unique<ProcessGroupMPI>(options);
  rank_ = g.bootstrap->rank();
  size_ = g.bootstrap->size();
  const int local = get_local_rank();
  const int gpus = cuda::is_available() ? cuda::device_count() : 0;
  VOLT_CHECK(gpus > 0, "ProcessGroupNCCL: no usable GPU on rank ", rank_, ": ", cuda::unavailable_reason());
  VOLT_CHECK(local < gpus, "ProcessGroupNCCL: rank ", rank_, " is local rank ", local, " but its machine has ", gpus,
             " GPU(s): NCCL takes one GPU per rank (start at most ", gpus, " ranks per machine)");
  g.device = local;
  const cuda::DeviceGuard guard(g.device);

  // The unique id: rank 0's, over MPI (a u8 tensor of its bytes).
  ncclUniqueId id;
  std::memset(&id, 0, sizeof id);
  if (rank_ == 0) VOLT_NCCL_CHECK(ncclGetUniqueId(&id));
  Tensor bytes = empty({static_cast<int64_t>(sizeof id)}, DType::u8);
  std::memcpy(bytes.data_ptr(), &id, sizeof id);
  g.bootstrap->broadcast(bytes, 0)->wait();
  std::memcpy(&id, bytes.data_ptr(), sizeof id);

  VOLT_NCCL_CHECK(ncclCommInitRank(&g.comm, size_, id, rank_));
  VOLT_CUDA_CHECK(cudaStreamCreateWithFlags(&g.stream, cudaStreamNonBlocking));
  g.watchdog = std::thread([&g] { g.watch(); });
}

ProcessGroupNCCL::~ProcessGroupNCCL() {
  Impl& g = *impl_;
  {
    const std::lock_guard lock(g.mutex);
    g.stopping = true;
  }
  g.wake.notify_one();
  if (g.watchdog.joinable()) g.watchdog.join();
  const cuda::DeviceGuard guard(g.device);
  if (g.comm) {
    if (g.failure.empty()) cudaStreamSynchronize(g.stream);  // collectives in flight finish first
    ncclCommDestroy(g.comm);
  }
  for (const InFlight& f : g.in_flight)
    cudaEventDestroy(f.done);
  for (cudaEvent_t e : g.spare_events)
    cudaEventDestroy(e);
  if (g.stream) cudaStreamDestroy(g.stream);
}

Device ProcessGroupNCCL::device() const { return Device::cuda(impl_->device); }

std::shared_ptr<Work> ProcessGroupNCCL::all_reduce(Tensor& tensor, ReduceOp op) {
  impl_->check_tensor("all_reduce", tensor);
  VOLT_CHECK(op != ReduceOp::avg || is_floating(tensor.dtype()), "all_reduce: avg needs a floating tensor, got ",
             describe(tensor));
  Tensor buf = buffer_for(tensor);
  Impl& g = *impl_;
  return g.start(
      "all_reduce", &tensor, std::string(", ") + op_name(op), {buf}, [buf, target = tensor] { deliver(target, buf); },
      [&] {
        return ncclAllReduce(buf.data_ptr(), buf.data_ptr(), static_cast<std::size_t>(buf.numel()),
                             nccl_type(buf.dtype()), nccl_op(op, buf.dtype()), g.comm, g.stream);
      });
}

std::shared_ptr<Work> ProcessGroupNCCL::broadcast(Tensor& tensor, int root) {
  impl_->check_tensor("broadcast", tensor);
  VOLT_CHECK(root >= 0 && root < size(), "broadcast: root ", root, " is not a rank of this group of ", size());
  Tensor buf = buffer_for(tensor);
  Impl& g = *impl_;
  return g.start(
      "broadcast", &tensor, ", root " + std::to_string(root), {buf}, [buf, target = tensor] { deliver(target, buf); },
      [&] { return ncclBroadcast(buf.data_ptr(), buf.data_ptr(), buf.nbytes(), ncclUint8, root, g.comm, g.stream); });
}

std::shared_ptr<Work> ProcessGroupNCCL::all_gather(std::vector<Tensor>& outputs, const Tensor& input) {
  impl_->check_tensor("all_gather", input);
  VOLT_CHECK(static_cast<int>(outputs.size()) == size(), "all_gather: ", outputs.size(), " outputs for ", size(),
             " ranks");
  for (const Tensor& o : outputs) {
    VOLT_CHECK(o.defined() && o.shape() == input.shape() && o.dtype() == input.dtype(), "all_gather: output ",
               o.defined() ? describe(o) : std::string("undefined"), " does not match the input ", describe(input));
    impl_->check_tensor("all_gather", o);
  }
  const Tensor in = buffer_for(input);
  Shape all_shape = input.shape();
  all_shape.insert(all_shape.begin(), size());
  Tensor all = empty(all_shape, TensorOptions(input.dtype()).device(input.device()));
  std::vector<Tensor> targets = outputs;
  Impl& g = *impl_;
  return g.start(
      "all_gather", &input, "", {in, all},
      [all, targets] {
        NoGradGuard no_grad;
        for (std::size_t r = 0; r < targets.size(); ++r)
          Tensor(targets[r]).copy_(all.select(0, static_cast<int64_t>(r)));
      },
      [&] { return ncclAllGather(in.data_ptr(), all.data_ptr(), in.nbytes(), ncclUint8, g.comm, g.stream); });
}

std::shared_ptr<Work> ProcessGroupNCCL::reduce_scatter(Tensor& output, const std::vector<Tensor>& inputs, ReduceOp op) {
  impl_->check_tensor("reduce_scatter", output);
  VOLT_CHECK(static_cast<int>(inputs.size()) == size(), "reduce_scatter: ", inputs.size(), " inputs for ", size(),
             " ranks");
  for (const Tensor& in : inputs) {
    VOLT_CHECK(in.defined() && in.shape() == output.shape() && in.dtype() == output.dtype(), "reduce_scatter: input ",
               in.defined() ? describe(in) : std::string("undefined"), " does not match the output ", describe(output));
    impl_->check_tensor("reduce_scatter", in);
  }
  VOLT_CHECK(op != ReduceOp::avg || is_floating(output.dtype()), "reduce_scatter: avg needs a floating tensor, got ",
             describe(output));
  Tensor send;
  {
    NoGradGuard no_grad;
    send = stack(inputs, 0).detach();
  }
  Tensor recv = buffer_for(output);
  Impl& g = *impl_;
  return g.start(
      "reduce_scatter", &output, std::string(", ") + op_name(op), {send, recv},
      [recv, target = output] { deliver(target, recv); },
      [&] {
        return ncclReduceScatter(send.data_ptr(), recv.data_ptr(), static_cast<std::size_t>(recv.numel()),
                                 nccl_type(recv.dtype()), nccl_op(op, recv.dtype()), g.comm, g.stream);
      });
}

// As c10d's NCCL barrier: a one-element all_reduce, which no rank passes before all arrive.
std::shared_ptr<Work> ProcessGroupNCCL::barrier() {
  Tensor one = ones({1}, TensorOptions(DType::f32).device(device()));
  Impl& g = *impl_;
  return g.start("barrier", nullptr, "", {one}, nullptr, [&] {
    return ncclAllReduce(one.data_ptr(), one.data_ptr(), 1, ncclFloat32, ncclSum, g.comm, g.stream);
  });
}

namespace {
// The CUDA library is linked whole, so this runs whenever it is part of the program.
[[maybe_unused]] const bool registered = [] {
  register_backend("nccl", [](const ProcessGroupOptions& o) { return std::make_unique<ProcessGroupNCCL>(o); });
  return true;
}();
}  // namespace

}  // namespace volt::parallel
