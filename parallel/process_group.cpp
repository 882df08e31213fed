#include "volt/parallel/process_group.h"

#include <mpi.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
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

// A collective's identity across ranks, compared in debug mode: kind, dtype, elements, and the
// reduce op or the root (-1 where neither applies).
enum class Kind : int64_t { all_reduce, broadcast, all_gather, reduce_scatter, barrier };
using Fingerprint = std::array<int64_t, 4>;

const char* kind_name(int64_t kind) {
  static const char* const names[] = {"all_reduce", "broadcast", "all_gather", "reduce_scatter", "barrier"};
  return kind >= 0 && kind < 5 ? names[kind] : "an unknown collective";
}

std::string describe_fingerprint(const Fingerprint& f) {
  std::ostringstream s;
  s << kind_name(f[0]);
  if (static_cast<Kind>(f[0]) == Kind::barrier) return s.str();
  s << " (" << dtype_name(static_cast<DType>(f[1])) << ", " << f[2] << " elements";
  if (static_cast<Kind>(f[0]) == Kind::broadcast)
    s << ", root " << f[3];
  else if (f[3] >= 0)
    s << ", " << op_name(static_cast<ReduceOp>(f[3]));
  s << ")";
  return s.str();
}

std::string rank_list(const std::vector<int>& ranks) {
  std::ostringstream s;
  s << (ranks.size() == 1 ? "rank " : "ranks ");
  for (std::size_t i = 0; i < ranks.size(); ++i)
    s << (i == 0 ? "" : i + 1 == ranks.size() ? " and " : ", ") << ranks[i];
  return s.str();
}

// Polls `request` until it completes or `limit` passes; false on the deadline.
bool poll(MPI_Request* request, std::chrono::milliseconds limit, const char* what) {
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + limit;
  for (int polls = 0;; ++polls) {
    int flag = 0;
    check_mpi(MPI_Test(request, &flag, MPI_STATUS_IGNORE), what);
    if (flag) return true;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    // A peer a step behind is a matter of microseconds: spin, then yield the core to a rank that
    // shares it. Only a long wait (a stalled or slow peer) sleeps, since a sleep costs its
    // rounding (~60 us) on every wake-up.
    if (now - start > std::chrono::milliseconds(20))
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    else if (polls > 200)
      std::this_thread::yield();
  }
}

class MpiWork : public Work {
 public:
  MpiWork(std::string what, std::chrono::milliseconds timeout, std::vector<Tensor> keep, std::function<void()> finish,
          std::function<std::string()> survey)
      : what_(std::move(what)),
        timeout_(timeout),
        keep_(std::move(keep)),
        finish_(std::move(finish)),
        survey_(std::move(survey)) {}

  MPI_Request* request() { return &request_; }

  bool is_completed() override {
    if (done_) return true;
    int flag = 0;
    check_mpi(MPI_Test(&request_, &flag, MPI_STATUS_IGNORE), what_.c_str());
    if (flag) complete();
    return done_;
  }

  void wait(std::optional<std::chrono::milliseconds> timeout) override {
    if (done_) return;
    const auto limit = timeout.value_or(timeout_);
    if (poll(&request_, limit, what_.c_str())) return complete();
    const std::string who = survey_ ? survey_() : std::string();
    VOLT_FAIL(what_, " did not complete within ", limit.count(), " ms", who,
              "; the job cannot continue as it is: end it with parallel::abort_job");
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
  std::function<std::string()> survey_;  // who did not arrive, asked once the timeout has passed
  MPI_Request request_ = MPI_REQUEST_NULL;
  bool done_ = false;
};

void check_tensor(const char* op, const Tensor& t) { VOLT_CHECK(t.defined(), op, ": the tensor is undefined"); }

constexpr int kSurveyTag = 1;

}  // namespace

// Two duplicates of MPI_COMM_WORLD: `comm` carries the collectives, `control` the debug-mode
// comparisons and the survey after a timeout, so neither can be mistaken for the other.
struct ProcessGroupMPI::Impl {
  MPI_Comm comm = MPI_COMM_NULL;
  MPI_Comm control = MPI_COMM_NULL;
  int rank = 0, size = 1;
  ProcessGroupOptions options;
  uint64_t sequence = 0;
  std::deque<uint64_t> survey_sent;  // what the survey's sends read, alive until MPI has sent it

  // Numbers the collective, compares it across ranks in debug mode, then posts it.
  std::shared_ptr<Work> start(Kind kind, const Tensor* t, int64_t op_or_root, std::vector<Tensor> keep,
                              std::function<void()> finish, const std::function<int(MPI_Request*)>& post) {
    const uint64_t seq = ++sequence;
    const Fingerprint fp = {static_cast<int64_t>(kind), t ? static_cast<int64_t>(t->dtype()) : -1, t ? t->numel() : 0,
                            op_or_root};
    std::ostringstream what;
    what << kind_name(fp[0]) << " #" << seq;
    if (t) what << describe_fingerprint(fp).substr(std::string(kind_name(fp[0])).size());
    what << " on rank " << rank << " of " << size;
    if (options.debug) check_same_everywhere(seq, fp, what.str());
    auto work = std::make_shared<MpiWork>(what.str(), options.timeout, std::move(keep), std::move(finish),
                                          [this, seq] { return survey(seq); });
    check_mpi(post(work->request()), what.str().c_str());
    return work;
  }

  // Debug mode: every rank's fingerprint of collective #seq, and an error on each rank naming
  // the first rank whose call differs from rank 0's.
  void check_same_everywhere(uint64_t seq, const Fingerprint& mine, const std::string& what) {
    std::vector<int64_t> all(static_cast<std::size_t>(size) * 4);
    MPI_Request request = MPI_REQUEST_NULL;
    check_mpi(MPI_Iallgather(mine.data(), 4, MPI_INT64_T, all.data(), 4, MPI_INT64_T, control, &request),
              "VOLT_DISTRIBUTED_DEBUG's comparison");
    if (!poll(&request, options.timeout, what.c_str()))
      VOLT_FAIL("VOLT_DISTRIBUTED_DEBUG: ", what, ": the ranks' comparison did not complete within ",
                options.timeout.count(), " ms", survey(seq),
                "; the job cannot continue as it is: end it with parallel::abort_job");
    auto of = [&](int r) {
      Fingerprint f;
      std::copy_n(all.begin() + static_cast<std::ptrdiff_t>(r) * 4, 4, f.begin());
      return f;
    };
    for (int r = 1; r < size; ++r)
      VOLT_CHECK(of(r) == of(0), "VOLT_DISTRIBUTED_DEBUG: collective #", seq, " differs across ranks: rank 0 calls ",
                 describe_fingerprint(of(0)), ", rank ", r, " calls ", describe_fingerprint(of(r)),
                 "; the job cannot continue as it is: end it with parallel::abort_job");
  }

  // After collective #seq timed out here: tells every other rank so, and listens for up to
  // min(timeout, 3 s) for theirs (a rank that also waits surveys too). Names the ranks that
  // said nothing, and those waiting in another collective. Older messages (from a collective
  // that did complete after all) are ignored.
  std::string survey(uint64_t seq) {
    for (int r = 0; r < size; ++r) {
      if (r == rank) continue;
      survey_sent.push_back(seq);
      if (survey_sent.size() > 4096) survey_sent.pop_front();  // long sent: tiny messages go eagerly
      MPI_Request request = MPI_REQUEST_NULL;
      check_mpi(MPI_Isend(&survey_sent.back(), 1, MPI_UINT64_T, r, kSurveyTag, control, &request),
                "the timeout's survey");
      MPI_Request_free(&request);
    }
    std::vector<int64_t> heard(static_cast<std::size_t>(size), -1);  // the collective each rank waits in
    int answered = 0;
    const auto window = std::min(options.timeout, std::chrono::milliseconds(3000));
    const auto deadline = std::chrono::steady_clock::now() + window;
    while (answered < size - 1 && std::chrono::steady_clock::now() < deadline) {
      int flag = 0;
      MPI_Status status;
      check_mpi(MPI_Iprobe(MPI_ANY_SOURCE, kSurveyTag, control, &flag, &status), "the timeout's survey");
      if (!flag) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        continue;
      }
      uint64_t theirs = 0;
      check_mpi(MPI_Recv(&theirs, 1, MPI_UINT64_T, status.MPI_SOURCE, kSurveyTag, control, MPI_STATUS_IGNORE),
                "the timeout's survey");
      if (theirs < seq) continue;  // a collective that completed after its survey
      int64_t& h = heard[static_cast<std::size_t>(status.MPI_SOURCE)];
      if (h < 0) ++answered;
      h = static_cast<int64_t>(theirs);
    }
    std::vector<int> missing;
    std::ostringstream elsewhere;
    for (int r = 0; r < size; ++r) {
      const int64_t h = heard[static_cast<std::size_t>(r)];
      if (r == rank) continue;
      if (h < 0) missing.push_back(r);
      if (h > static_cast<int64_t>(seq)) elsewhere << "; rank " << r << " waits in collective #" << h << " instead";
    }
    std::ostringstream s;
    if (!missing.empty()) s << "; " << rank_list(missing) << " did not arrive (stalled, dead or busy elsewhere)";
    s << elsewhere.str();
    if (missing.empty() && elsewhere.str().empty())
      s << "; every rank is waiting in it (the transport between them is stuck)";
    return s.str();
  }
};

ProcessGroupMPI::ProcessGroupMPI(ProcessGroupOptions options) : ProcessGroup(0, 1), impl_(std::make_unique<Impl>()) {
  VOLT_CHECK(options.timeout.count() > 0, "ProcessGroupMPI: the timeout must be positive");
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) {
    // Open MPI's non-blocking all-reduce (libnbc) takes a ring for large buffers, which at two
    // ranks costs twice its blocking twin (a 318 KB gradient bucket: 67 us against 38 us over
    // shared memory); Rabenseifner's reduce-scatter + all-gather takes 35 us (1 M floats: 335 us
    // against 794 us), at the price of a few microseconds on buffers of a few floats. A value
    // the user set (environment or mca file) wins.
    setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "3", /*overwrite=*/0);
    int provided = 0;
    check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
    started_mpi = true;
  }
  for (MPI_Comm* c : {&impl_->comm, &impl_->control}) {
    check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, c), "MPI_Comm_dup");
    MPI_Comm_set_errhandler(*c, MPI_ERRORS_RETURN);
  }
  MPI_Comm_rank(impl_->comm, &impl_->rank);
  MPI_Comm_size(impl_->comm, &impl_->size);
  impl_->options = options;
  rank_ = impl_->rank;
  size_ = impl_->size;
}

const ProcessGroupOptions& ProcessGroupMPI::options() const { return impl_->options; }
std::string ProcessGroupMPI::survey(uint64_t seq) { return impl_->survey(seq); }

ProcessGroupMPI::~ProcessGroupMPI() {
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (finalised) return;
  for (MPI_Comm* c : {&impl_->comm, &impl_->control})
    if (*c != MPI_COMM_NULL) MPI_Comm_free(c);
}

std::shared_ptr<Work> ProcessGroupMPI::all_reduce(Tensor& tensor, ReduceOp op) {
  check_tensor("all_reduce", tensor);
  VOLT_CHECK(op != ReduceOp::avg || is_floating(tensor.dtype()), "all_reduce: avg needs a floating tensor, got ",
             describe(tensor));
  const DType wire = wire_dtype(tensor.dtype());
  Tensor buf = buffer_for(tensor, wire);
  const int world = size();
  MPI_Comm comm = impl_->comm;
  return impl_->start(
      Kind::all_reduce, &tensor, static_cast<int64_t>(op), {buf},
      [buf, target = tensor, op, world] { deliver(target, buf, op, world); },
      [&](MPI_Request* r) {
        return MPI_Iallreduce(MPI_IN_PLACE, buf.data_ptr(), static_cast<int>(buf.numel()), mpi_type(wire),
                              mpi_op(op, wire), comm, r);
      });
}

std::shared_ptr<Work> ProcessGroupMPI::broadcast(Tensor& tensor, int root) {
  check_tensor("broadcast", tensor);
  VOLT_CHECK(root >= 0 && root < size(), "broadcast: root ", root, " is not a rank of this group of ", size());
  Tensor buf = buffer_for(tensor, tensor.dtype());
  MPI_Comm comm = impl_->comm;
  return impl_->start(
      Kind::broadcast, &tensor, root, {buf}, [buf, target = tensor] { deliver(target, buf, ReduceOp::sum, 1); },
      [&](MPI_Request* r) {
        return MPI_Ibcast(buf.data_ptr(), static_cast<int>(buf.nbytes()), MPI_BYTE, root, comm, r);
      });
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
  std::vector<Tensor> targets = outputs;
  MPI_Comm comm = impl_->comm;
  return impl_->start(
      Kind::all_gather, &input, -1, {in, all},
      [all, targets]() {
        NoGradGuard no_grad;
        for (std::size_t r = 0; r < targets.size(); ++r)
          Tensor(targets[r]).copy_(all.select(0, static_cast<int64_t>(r)));
      },
      [&](MPI_Request* r) {
        return MPI_Iallgather(in.data_ptr(), static_cast<int>(in.nbytes()), MPI_BYTE, all.data_ptr(),
                              static_cast<int>(in.nbytes()), MPI_BYTE, comm, r);
      });
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
  const int world = size();
  MPI_Comm comm = impl_->comm;
  return impl_->start(
      Kind::reduce_scatter, &output, static_cast<int64_t>(op), {send, recv},
      [recv, target = output, op, world] { deliver(target, recv, op, world); },
      [&](MPI_Request* r) {
        return MPI_Ireduce_scatter_block(send.data_ptr(), recv.data_ptr(), static_cast<int>(recv.numel()),
                                         mpi_type(wire), mpi_op(op, wire), comm, r);
      });
}

std::shared_ptr<Work> ProcessGroupMPI::barrier() {
  MPI_Comm comm = impl_->comm;
  return impl_->start(Kind::barrier, nullptr, -1, {}, nullptr, [&](MPI_Request* r) { return MPI_Ibarrier(comm, r); });
}

std::chrono::milliseconds ProcessGroupOptions::timeout_from_environment() {
  const char* v = std::getenv("VOLT_DISTRIBUTED_TIMEOUT");
  if (!v || !*v) return std::chrono::seconds(30);
  char* end = nullptr;
  const double seconds = std::strtod(v, &end);
  VOLT_CHECK(*end == '\0' && std::isfinite(seconds) && seconds * 1000 >= 1 && seconds < 1e9,
             "VOLT_DISTRIBUTED_TIMEOUT: expected seconds, a positive number of at least 0.001, got '", v, "'");
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

bool ProcessGroupOptions::debug_from_environment() {
  const char* v = std::getenv("VOLT_DISTRIBUTED_DEBUG");
  if (!v || !*v || std::string(v) == "0") return false;
  VOLT_CHECK(std::string(v) == "1", "VOLT_DISTRIBUTED_DEBUG: expected 0 or 1, got '", v, "'");
  return true;
}

// --- the default group ----------------------------------------------------------------------

namespace {
std::map<std::string, ProcessGroupFactory>& backends() {
  static std::map<std::string, ProcessGroupFactory> registry = {
      {"mpi", [](const ProcessGroupOptions& o) { return std::make_unique<ProcessGroupMPI>(o); }}};
  return registry;
}
}  // namespace

void register_backend(const std::string& name, ProcessGroupFactory factory) {
  VOLT_CHECK(!name.empty() && factory, "register_backend: a backend needs a name and a constructor");
  backends()[name] = std::move(factory);
}

void init_process_group(const std::string& backend, ProcessGroupOptions options) {
  const auto found = backends().find(backend);
  if (found == backends().end()) {
    std::string have;
    for (const auto& entry : backends())
      have += (have.empty() ? "" : ", ") + entry.first;
    VOLT_FAIL("init_process_group: unknown backend '", backend, "' (this build has: ", have, ")");
  }
  VOLT_CHECK(!default_group, "init_process_group: the default process group is already initialised");
  default_group = found->second(options);
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
