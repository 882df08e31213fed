// The NCCL process group at world size 1 (NCCL takes one GPU per rank, and the device machine
// has one): each collective against the MPI group's result for the same CPU tensor (its CPU
// twin), on contiguous and strided tensors of every dtype, ordered after the kernels queued
// before it and before those queued after its wait(); the refusals; and the registration that
// init_process_group("nccl") finds, which needs no GPU.
#include "volt/parallel/cuda/process_group_nccl.h"

#include <gtest/gtest.h>

#include <vector>

#include "cuda_test_support.h"
#include "test_support.h"

namespace volt::parallel {
namespace {

using volt::testing::all_close;
using volt::testing::expect_error;
using volt::testing::same_bytes;

TEST(ProcessGroupNCCL, IsRegisteredAsNccl) {
  expect_error([] { init_process_group("no-such-backend"); }, {"this build has: mpi, nccl"});
}

// One group for the whole binary: NCCL communicators are costly to make.
ProcessGroupNCCL& nccl() {
  static ProcessGroupNCCL group;
  return group;
}
ProcessGroupMPI& mpi() {
  static ProcessGroupMPI group;
  return group;
}

Tensor values(int64_t n, DType dtype, uint64_t seed) {
  Generator gen(seed);
  return mul(rand({n}, TensorOptions(DType::f32), &gen), full({}, 50.0)).to(dtype);
}

const DType kDtypes[] = {DType::f32, DType::f64, DType::f16, DType::bf16, DType::i32, DType::i64, DType::u8};

TEST(ProcessGroupNCCL, CollectivesMatchTheMpiGroup) {
  VOLT_REQUIRE_CUDA();
  ProcessGroupNCCL& g = nccl();
  ASSERT_EQ(g.size(), 1);
  EXPECT_EQ(g.device(), Device::cuda(0));
  for (DType dtype : kDtypes)
    for (ReduceOp op : {ReduceOp::sum, ReduceOp::avg, ReduceOp::max}) {
      if (op == ReduceOp::avg && !is_floating(dtype)) continue;
      const Tensor x = values(1000, dtype, 1);
      // Queued before the collective on volt's stream: the collective must see its result.
      Tensor on_gpu = mul(x.to(Device::cuda(0)), full({}, 1.0, dtype));
      Tensor on_cpu = x.clone();
      g.all_reduce(on_gpu, op)->wait();
      mpi().all_reduce(on_cpu, op)->wait();
      EXPECT_TRUE(same_bytes(on_gpu, on_cpu)) << dtype_name(dtype) << " op " << static_cast<int>(op);
    }
}

TEST(ProcessGroupNCCL, StridedTensorsAndTheOtherCollectives) {
  VOLT_REQUIRE_CUDA();
  ProcessGroupNCCL& g = nccl();
  for (DType dtype : kDtypes) {
    // A transposed view: the group works on a contiguous copy and writes the result back.
    const Tensor base = values(12, dtype, 2).reshape({3, 4});
    Tensor view = base.to(Device::cuda(0)).transpose(0, 1);
    g.all_reduce(view, ReduceOp::max)->wait();
    EXPECT_TRUE(same_bytes(view, base.transpose(0, 1))) << dtype_name(dtype);

    Tensor b = values(33, dtype, 3).to(Device::cuda(0));
    const Tensor before = b.to(Device::cpu());
    g.broadcast(b, 0)->wait();
    EXPECT_TRUE(same_bytes(b, before)) << dtype_name(dtype);

    std::vector<Tensor> gathered = {zeros({5}, TensorOptions(dtype).device(Device::cuda(0)))};
    const Tensor in = values(5, dtype, 4);
    g.all_gather(gathered, in.to(Device::cuda(0)))->wait();
    EXPECT_TRUE(same_bytes(gathered[0], in)) << dtype_name(dtype);

    Tensor out = zeros({4}, TensorOptions(dtype).device(Device::cuda(0)));
    const Tensor part = values(4, dtype, 5);
    g.reduce_scatter(out, {part.to(Device::cuda(0))}, ReduceOp::sum)->wait();
    EXPECT_TRUE(same_bytes(out, part)) << dtype_name(dtype);
  }
  auto work = g.barrier();
  work->wait();
  cuda::synchronize(0);
  EXPECT_TRUE(work->is_completed());
}

TEST(ProcessGroupNCCL, TheResultIsReadyForTheKernelsAfterWait) {
  VOLT_REQUIRE_CUDA();
  // A large reduction, then a kernel on volt's stream right after wait(): it must read the
  // reduced values (wait() orders the stream after the collective; the host does not block).
  const Tensor x = values(1 << 22, DType::f32, 6);
  Tensor t = x.to(Device::cuda(0));
  nccl().all_reduce(t, ReduceOp::avg)->wait();
  const Tensor twice = add(t, t);
  EXPECT_TRUE(all_close(twice, add(x, x), 1e-6));
}

TEST(ProcessGroupNCCL, RefusesWhatCannotWork) {
  VOLT_REQUIRE_CUDA();
  ProcessGroupNCCL& g = nccl();
  Tensor cpu = zeros({3});
  expect_error([&] { g.all_reduce(cpu); }, {"ProcessGroupNCCL all_reduce: a tensor on cpu", "runs on cuda:0"});
  Tensor ints = zeros({3}, TensorOptions(DType::i64).device(Device::cuda(0)));
  expect_error([&] { g.all_reduce(ints, ReduceOp::avg); }, {"avg needs a floating tensor"});
  expect_error([&] { g.broadcast(ints, 1); }, {"broadcast: root 1 is not a rank"});
  std::vector<Tensor> none;
  expect_error([&] { g.all_gather(none, ints); }, {"all_gather: 0 outputs for 1 ranks"});
}

}  // namespace
}  // namespace volt::parallel
