// Process groups, in PyTorch's c10d vocabulary: the ranks of a job and the collectives among
// them. The MPI backend (this file's ProcessGroupMPI) serves CPU tensors, and CUDA tensors
// through host copies; every collective is non-blocking underneath and returns a Work whose
// wait() polls it against the group's timeout, so a stalled or dead peer ends in an error that
// names the collective rather than in a hang.
//
//   parallel::init_process_group("mpi");       // under mpirun -np N (or srun)
//   Tensor t = ...;
//   parallel::get_default_group().all_reduce(t, parallel::ReduceOp::avg)->wait();
//
// After a collective has failed the ranks cannot finish together: end the job with
// parallel::abort_job(code) (MPI_Abort), as a program's top-level handler should.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "volt/core/tensor.h"

namespace volt::parallel {

enum class ReduceOp { sum, avg, max };

// A collective in flight (c10d's Work).
class Work {
 public:
  virtual ~Work() = default;
  virtual bool is_completed() = 0;
  // Returns once the collective is done and its result is in the output tensors. Past the
  // timeout (the group's, or the one given) it throws a volt::Error naming the collective, its
  // sequence number, size and dtype; a later wait() may still complete it.
  virtual void wait(std::optional<std::chrono::milliseconds> timeout = std::nullopt) = 0;
};

struct ProcessGroupOptions {
  // How long a collective may wait for its peers. Past it, each rank that waits asks the others
  // which collective they are in (for up to min(timeout, 3 s) more) and fails naming those that
  // did not arrive: a stalled or dead peer ends the job within timeout + 3 s.
  // Default: 30 s, or VOLT_DISTRIBUTED_TIMEOUT seconds (a positive number, e.g. 2 or 0.5).
  std::chrono::milliseconds timeout = timeout_from_environment();
  // Before every collective, the ranks compare its kind, dtype, size and reduce op or root, and
  // all fail naming the rank that differs (PyTorch's TORCH_DISTRIBUTED_DEBUG=DETAIL): one small
  // extra collective each. Default: on when VOLT_DISTRIBUTED_DEBUG=1.
  bool debug = debug_from_environment();

  // VOLT_DISTRIBUTED_DEBUG: unset, empty or 0 is off, 1 is on; anything else is an error naming it.
  static bool debug_from_environment();
  // VOLT_DISTRIBUTED_TIMEOUT in milliseconds, 30 s when unset; anything but a positive number
  // of seconds is an error naming it.
  static std::chrono::milliseconds timeout_from_environment();
};

class ProcessGroup {
 public:
  ProcessGroup(int rank, int size) : rank_(rank), size_(size) {}
  virtual ~ProcessGroup() = default;
  int rank() const { return rank_; }
  int size() const { return size_; }
  virtual std::string backend() const = 0;
  // Where the group's own tensors go (DistributedDataParallel's checks): the CPU for MPI, the
  // rank's GPU for NCCL.
  virtual Device device() const { return Device::cpu(); }

  // In place on every rank: the elementwise sum, mean or max over the ranks (avg: floating
  // dtypes only).
  virtual std::shared_ptr<Work> all_reduce(Tensor& tensor, ReduceOp op = ReduceOp::sum) = 0;
  // root's tensor into every rank's (same shape and dtype everywhere).
  virtual std::shared_ptr<Work> broadcast(Tensor& tensor, int root = 0) = 0;
  // outputs[r] = rank r's input, on every rank; outputs holds size() tensors of the input's shape.
  virtual std::shared_ptr<Work> all_gather(std::vector<Tensor>& outputs, const Tensor& input) = 0;
  // output = the reduction over ranks of their inputs[rank()]; inputs holds size() tensors of
  // the output's shape.
  virtual std::shared_ptr<Work> reduce_scatter(Tensor& output, const std::vector<Tensor>& inputs,
                                               ReduceOp op = ReduceOp::sum) = 0;
  virtual std::shared_ptr<Work> barrier() = 0;

 protected:
  int rank_, size_;
};

// The MPI backend over a duplicate of MPI_COMM_WORLD (MPI is initialised if it is not yet; when
// this group initialises Open MPI, it picks Rabenseifner's algorithm for the non-blocking
// all-reduce unless OMPI_MCA_coll_libnbc_iallreduce_algorithm says otherwise).
class ProcessGroupMPI : public ProcessGroup {
 public:
  explicit ProcessGroupMPI(ProcessGroupOptions options = {});
  ~ProcessGroupMPI() override;
  std::string backend() const override { return "mpi"; }

  std::shared_ptr<Work> all_reduce(Tensor& tensor, ReduceOp op = ReduceOp::sum) override;
  std::shared_ptr<Work> broadcast(Tensor& tensor, int root = 0) override;
  std::shared_ptr<Work> all_gather(std::vector<Tensor>& outputs, const Tensor& input) override;
  std::shared_ptr<Work> reduce_scatter(Tensor& output, const std::vector<Tensor>& inputs,
                                       ReduceOp op = ReduceOp::sum) override;
  std::shared_ptr<Work> barrier() override;

  const ProcessGroupOptions& options() const;

  // After collective #seq (of this group, or of one over the same ranks that numbers its
  // collectives the same way: ProcessGroupNCCL) did not complete here in time: asks the other
  // ranks where they are, for up to min(timeout, 3 s), and says, as "; rank 1 did not arrive
  // (...)" or "; rank 2 waits in collective #7 instead", what a timeout error should add.
  std::string survey(uint64_t seq);

 private:
  struct Impl;  // the communicators, the options and the sequence number
  std::unique_ptr<Impl> impl_;
};

// A backend's constructor, for init_process_group(name). The MPI one is built in; the CUDA
// library registers "nccl" when it is linked.
using ProcessGroupFactory = std::function<std::unique_ptr<ProcessGroup>(const ProcessGroupOptions&)>;
void register_backend(const std::string& name, ProcessGroupFactory factory);

// The job's default group. backend: "mpi", or "nccl" where the CUDA library is linked (CUDA
// tensors; each rank uses the GPU of its local rank). Rank and size come from MPI, the
// launcher's (mpirun, srun) view of the job.
void init_process_group(const std::string& backend = "mpi", ProcessGroupOptions options = {});
bool is_initialized();
ProcessGroup& get_default_group();  // an error before init_process_group
int get_rank();
int get_world_size();
// This rank's index among the ranks on its machine, from the launcher's environment
// (OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID; 0 when neither is set): the GPU it should use.
int get_local_rank();
// Frees the default group and finalises MPI if init_process_group started it.
void destroy_process_group();
// Ends every rank of the job with `code` (MPI_Abort where MPI is running, else exit).
[[noreturn]] void abort_job(int code);

}  // namespace volt::parallel
