// ProcessGroupNCCL: the collectives of CUDA tensors over NCCL, one rank per GPU (each rank takes
// the GPU of its local rank). Part of the volt_cuda library, which registers it as "nccl":
//
//   parallel::init_process_group("nccl");       // under mpirun -np N, N GPUs
//
// Rank and size come from MPI, and the NCCL unique id travels over it (a ProcessGroupMPI of
// the group's own). Each collective runs on the group's stream: it waits for the work already
// queued on volt's current stream (an event), and Work::wait() makes the current stream wait
// for the collective in turn, so nothing waits on the host (Work::is_completed() asks the
// event). A watchdog thread follows every collective in flight: one that has not completed
// within the timeout, or an asynchronous NCCL error, aborts the communicator (ncclCommAbort, so
// no kernel waits forever) and the group's next call throws the error, naming the collective,
// its sequence number, size and dtype and the ranks that did not arrive (asked over MPI).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "volt/parallel/process_group.h"

namespace volt::parallel {

class ProcessGroupNCCL : public ProcessGroup {
 public:
  explicit ProcessGroupNCCL(ProcessGroupOptions options = {});
  ~ProcessGroupNCCL() override;
  std::string backend() const override { return "nccl"; }
  Device device() const override;  // the GPU this rank's collectives run on

  std::shared_ptr<Work> all_reduce(Tensor& tensor, ReduceOp op = ReduceOp::sum) override;
  std::shared_ptr<Work> broadcast(Tensor& tensor, int root = 0) override;
  std::shared_ptr<Work> all_gather(std::vector<Tensor>& outputs, const Tensor& input) override;
  std::shared_ptr<Work> reduce_scatter(Tensor& output, const std::vector<Tensor>& inputs,
                                       ReduceOp op = ReduceOp::sum) override;
  std::shared_ptr<Work> barrier() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace volt::parallel
