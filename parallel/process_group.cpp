#include "volt/parallel/process_group.h"

#include <mpi.h>

#include <cstdlib>
#include <functional>
#include <sstream>
#include <thread>

#include "volt/autograd/grad_mode.h"
#include "volt/autograd/ops.h"
#include "volt/core/error.h"

namespace volt::parallel {
namespace {

void check_mpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, text, &length);
  VOLT_FAIL("MPI: ", what, " failed: ", std::string(text, static_cast<std::size_t>(length)));
}

// The MPI type a reduction works in: halves go through f32 (MPI has no half types).
DType wire_dtype(DType t) { return is_half(t) ? DType::f32 : t; }

MPI_Datatype mpi_type(DType t) {
  switch (t) {
    case DType::f32:
      return MPI_FLOAT;
    case DType::f64:
      return MPI_DOUBLE;
    case DType::i32:
      return MPI_INT32_T;
    case DType::i64:
      return MPI_INT64_T;
    case DType::u8:
      return MPI_UINT8_T;
    case DType::boolean:
      return MPI_C_BOOL;
    default:
      VOLT_FAIL("MPI: no MPI type for ", dtype_name(t));
  }
}

MPI_Op mpi_op(ReduceOp op, DType t) {
  if (t == DType::boolean) return MPI_LOR;  // any rank's true
  return op == ReduceOp::max ? MPI_MAX : MPI_SUM;
}

const char* op_name(ReduceOp op) { return op == ReduceOp::sum ? "sum" : op == ReduceOp::avg ? "avg" : "max"; }

bool started_mpi = false;  // init_process_group initialised MPI, so it finalises it too
std::unique_ptr<ProcessGroup> default_group;

// The buffer MPI reads and writes for t: t's own memory when t is a contiguous CPU tensor of
// `dtype` (the collective then works in place), else a contiguous CPU copy in `dtype`.
Tensor buffer_for(const Tensor& t, DType dtype) {
  if (t.device().is_cpu() && t.dtype() == dtype && t.is_contiguous()) return t.detach();
  NoGradGuard no_grad;
  return t.detach().to(Device::cpu()).to(dtype).contiguous();
}

// A finished collective's result in `buf` into `target`: divided by the ranks for avg, copied
// unless buf is target's own memory (then only target's version moves on, as for any in-place
// change).
void deliver(Tensor target, Tensor buf, ReduceOp op, int world) {
  NoGradGuard no_grad;
  if (op == ReduceOp::avg) buf.div_(full({}, static_cast<double>(world), buf.dtype()));
  if (buf.data_ptr() == target.data_ptr())
    target.bump_version();
  else
    target.copy_(buf);
}

class MpiWork : public Work {
 public:
  MpiWork(std::string what, std::chrono::milliseconds timeout, std::vector<Tensor> keep, std::function<void()> finish)
      : what_(std::move(what)), timeout_(timeout), keep_(std::move(keep)), finish_(std::move(finish)) {}

  MPI_Request* request() { return &request_; }

  bool is_completed() override {
    if (done_) return true;
    int flag = 0;
    check_mpi(MPI_Test(&request_, &flag, MPI_STATUS_IGNORE), what_.c_str());
    if (flag) complete();
    return done_;
  }

  void wait(std::optional<std::chrono::milliseconds> timeout) override {
    const auto limit = timeout.value_or(timeout_);
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (int polls = 0; !is_completed(); ++polls) {
      VOLT_CHECK(std::chrono::steady_clock::now() < deadline, what_, " did not complete within ", limit.count(),
                 " ms: a peer is stalled, dead or in a different collective (MPI does not say which rank); ",
                 "the job cannot continue as it is: end it with parallel::abort_job");
      if (polls > 1000) std::this_thread::sleep_for(std::chrono::microseconds(50));  // let a stalled peer's core go
    }
  }

 private:
  void complete() {
    done_ = true;
    if (finish_) finish_();
    keep_.clear();
  }

  std::string what_;
  std::chrono::milliseconds timeout_;
  std::vector<Tensor> keep_;  // the buffers MPI reads and writes, alive until it is done
  std::function<void()> finish_;
  MPI_Request request_ = MPI_REQUEST_NULL;
  bool done_ = false;
};

void check_tensor(const char* op, const Tensor& t) { VOLT_CHECK(t.defined(), op, ": the tensor is undefined"); }

}  // namespace

struct ProcessGroupMPI::Impl {
  MPI_Comm comm = MPI_COMM_NULL;
};

ProcessGroupMPI::ProcessGroupMPI(ProcessGroupOptions options)
    : ProcessGroup(0, 1), impl_(std::make_unique<Impl>()), options_(options) {
  VOLT_CHECK(options.timeout.count() > 0, "ProcessGroupMPI: the timeout must be positive");
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) {
    int provided = 0;
    check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
    started_mpi = true;
  }
  check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &impl_->comm), "MPI_Comm_dup");
  MPI_Comm_set_errhandler(impl_->comm, MPI_ERRORS_RETURN);
  int rank = 0, size = 1;
  MPI_Comm_rank(impl_->comm, &rank);
  MPI_Comm_size(impl_->comm, &size);
  rank_ = rank;
  size_ = size;
}

ProcessGroupMPI::~ProcessGroupMPI() {
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (!finalised && impl_->comm != MPI_COMM_NULL) MPI_Comm_free(&impl_->comm);
}

namespace {
std::string describe_collective(const char* op, uint64_t seq, const Tensor& t, int rank, int size) {
  std::ostringstream s;
  s << op << " #" << seq << " (" << dtype_name(t.dtype()) << ", " << t.numel() << " elements) on rank " << rank
    << " of " << size;
  return s.str();
}
}  // namespace

std::shared_ptr<Work> ProcessGroupMPI::all_reduce(Tensor& tensor, ReduceOp op) {
  check_tensor("all_reduce", tensor);
  VOLT_CHECK(op != ReduceOp::avg || is_floating(tensor.dtype()), "all_reduce: avg needs a floating tensor, got ",
             describe(tensor));
  const DType wire = wire_dtype(tensor.dtype());
  Tensor buf = buffer_for(tensor, wire);
  const std::string what = describe_collective("all_reduce", ++sequence_, tensor, rank(), size()) + ", " + op_name(op);
  const int world = size();
  auto work = std::make_shared<MpiWork>(what, options_.timeout, std::vector<Tensor>{buf},
                                        [buf, target = tensor, op, world] { deliver(target, buf, op, world); });
  check_mpi(MPI_Iallreduce(MPI_IN_PLACE, buf.data_ptr(), static_cast<int>(buf.numel()), mpi_type(wire),
                           mpi_op(op, wire), impl_->comm, work->request()),
            what.c_str());
  return work;
}

std::shared_ptr<Work> ProcessGroupMPI::broadcast(Tensor& tensor, int root) {
  check_tensor("broadcast", tensor);
  VOLT_CHECK(root >= 0 && root < size(), "broadcast: root ", root, " is not a rank of this group of ", size());
  Tensor buf = buffer_for(tensor, tensor.dtype());
  const std::string what = describe_collective("broadcast", ++sequence_, tensor, rank(), size());
  auto work = std::make_shared<MpiWork>(what, options_.timeout, std::vector<Tensor>{buf},
                                        [buf, target = tensor] { deliver(target, buf, ReduceOp::sum, 1); });
  check_mpi(MPI_Ibcast(buf.data_ptr(), static_cast<int>(buf.nbytes()), MPI_BYTE, root, impl_->comm, work->request()),
            what.c_str());
  return work;
}

std::shared_ptr<Work> ProcessGroupMPI::all_gather(std::vector<Tensor>& outputs, const Tensor& input) {
  check_tensor("all_gather", input);
  VOLT_CHECK(static_cast<int>(outputs.size()) == size(), "all_gather: ", outputs.size(), " outputs for ", size(),
             " ranks");
  for (const Tensor& o : outputs)
    VOLT_CHECK(o.defined() && o.shape() == input.shape() && o.dtype() == input.dtype(), "all_gather: output ",
               o.defined() ? describe(o) : std::string("undefined"), " does not match the input ", describe(input));
  const Tensor in = buffer_for(input, input.dtype());  // only read
  Shape all_shape = input.shape();
  all_shape.insert(all_shape.begin(), size());
  Tensor all = empty(all_shape, input.dtype());
  const std::string what = describe_collective("all_gather", ++sequence_, input, rank(), size());
  std::vector<Tensor> targets = outputs;
  auto work = std::make_shared<MpiWork>(what, options_.timeout, std::vector<Tensor>{in, all}, [all, targets]() {
    NoGradGuard no_grad;
    for (std::size_t r = 0; r < targets.size(); ++r)
      Tensor(targets[r]).copy_(all.select(0, static_cast<int64_t>(r)));
  });
  check_mpi(MPI_Iallgather(in.data_ptr(), static_cast<int>(in.nbytes()), MPI_BYTE, all.data_ptr(),
                           static_cast<int>(in.nbytes()), MPI_BYTE, impl_->comm, work->request()),
            what.c_str());
  return work;
}

std::shared_ptr<Work> ProcessGroupMPI::reduce_scatter(Tensor& output, const std::vector<Tensor>& inputs, ReduceOp op) {
  check_tensor("reduce_scatter", output);
  VOLT_CHECK(static_cast<int>(inputs.size()) == size(), "reduce_scatter: ", inputs.size(), " inputs for ", size(),
             " ranks");
  for (const Tensor& in : inputs)
    VOLT_CHECK(in.defined() && in.shape() == output.shape() && in.dtype() == output.dtype(), "reduce_scatter: input ",
               in.defined() ? describe(in) : std::string("undefined"), " does not match the output ", describe(output));
  VOLT_CHECK(op != ReduceOp::avg || is_floating(output.dtype()), "reduce_scatter: avg needs a floating tensor, got ",
             describe(output));
  const DType wire = wire_dtype(output.dtype());
  const Tensor send = buffer_for(stack(inputs, 0), wire);
  Tensor recv = empty(output.shape(), wire);
  const std::string what =
      describe_collective("reduce_scatter", ++sequence_, output, rank(), size()) + ", " + op_name(op);
  const int world = size();
  auto work = std::make_shared<MpiWork>(what, options_.timeout, std::vector<Tensor>{send, recv},
                                        [recv, target = output, op, world] { deliver(target, recv, op, world); });
  check_mpi(MPI_Ireduce_scatter_block(send.data_ptr(), recv.data_ptr(), static_cast<int>(recv.numel()), mpi_type(wire),
                                      mpi_op(op, wire), impl_->comm, work->request()),
            what.c_str());
  return work;
}

std::shared_ptr<Work> ProcessGroupMPI::barrier() {
  std::ostringstream what;
  what << "barrier #" << ++sequence_ << " on rank " << rank() << " of " << size();
  auto work = std::make_shared<MpiWork>(what.str(), options_.timeout, std::vector<Tensor>{}, nullptr);
  check_mpi(MPI_Ibarrier(impl_->comm, work->request()), "barrier");
  return work;
}

// --- the default group ----------------------------------------------------------------------

void init_process_group(const std::string& backend, ProcessGroupOptions options) {
  VOLT_CHECK(!default_group, "init_process_group: the default process group is already initialised");
  VOLT_CHECK(backend == "mpi", "init_process_group: unknown backend '", backend, "' (this build has: mpi)");
  default_group = std::make_unique<ProcessGroupMPI>(options);
  static const bool finalise_at_exit = [] {
    std::atexit([] { destroy_process_group(); });
    return true;
  }();
  (void)finalise_at_exit;
}

bool is_initialized() { return default_group != nullptr; }

ProcessGroup& get_default_group() {
  VOLT_CHECK(default_group, "no default process group: call parallel::init_process_group() first");
  return *default_group;
}

int get_rank() { return get_default_group().rank(); }
int get_world_size() { return get_default_group().size(); }

int get_local_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"})
    if (const char* v = std::getenv(name)) return std::atoi(v);
  return 0;
}

void destroy_process_group() {
  default_group.reset();
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (started_mpi && !finalised) MPI_Finalize();
  started_mpi = false;
}

void abort_job(int code) {
  int initialised = 0, finalised = 0;
  MPI_Initialized(&initialised);
  MPI_Finalized(&finalised);
  if (initialised && !finalised) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

}  // namespace volt::parallel
