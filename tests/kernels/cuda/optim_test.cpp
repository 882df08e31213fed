// kernels::cuda::sgd_step / adam_step against the CPU optimizers (optim::SGD, Adam, AdamW):
// the same initial parameters and gradients, N steps each, the learning rate changed between
// steps through device memory, then parameters and state compared. Inputs are built on the CPU
// and copied over, so only the kernels under test run on the GPU.
#include "volt/kernels/optim.h"

#include <memory>

#include "cuda_test_support.h"
#include "volt/core/cuda/copy.h"

namespace volt {
namespace {

using kernels::OptimTensor;

Tensor on_gpu(const Tensor& t) { return t.contiguous().to(Device::cuda(0)); }
Tensor on_cpu(const Tensor& t) { return t.to(Device::cpu()); }

// Around the kernel's 4096-element chunk, an empty tensor, and more tensors (57) than one launch
// takes (48).
std::vector<int64_t> tensor_sizes() {
  std::vector<int64_t> sizes = {1, 7, 1023, 4096, 4097, 65537, 0};
  for (int i = 0; i < 50; ++i)
    sizes.push_back(3 + i % 5);
  return sizes;
}

enum class Kind { sgd, adam, adamw };

struct Config {
  Kind kind;
  double lr;
  double momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
};

void write_device(Tensor& t, double value) {
  cuda::copy_bytes(t.data_ptr(), Device::cuda(0), &value, Device::cpu(), sizeof value);
}

std::unique_ptr<optim::Optimizer> cpu_optimizer(const Config& c, std::vector<Tensor> params) {
  if (c.kind == Kind::sgd)
    return std::make_unique<optim::SGD>(std::move(params), optim::SGDOptions(c.lr)
                                                               .momentum(c.momentum)
                                                               .dampening(c.dampening)
                                                               .weight_decay(c.weight_decay)
                                                               .nesterov(c.nesterov));
  const auto o = optim::AdamOptions(c.lr).weight_decay(c.weight_decay);
  if (c.kind == Kind::adam) return std::make_unique<optim::Adam>(std::move(params), o);
  return std::make_unique<optim::AdamW>(std::move(params), o);
}

// One fused step as the op layer runs it: SGD needs no step count (tensors say whether their
// momentum buffers are fresh); Adam increments it first (bias corrections for step t).
void fused_step(const Config& c, DType dtype, const std::vector<OptimTensor>& tensors, Tensor& lr, Tensor& step) {
  auto* lr_p = lr.data_ptr<double>();
  auto* step_p = step.data_ptr<int64_t>();
  if (c.kind == Kind::sgd) {
    kernels::cuda::sgd_step(dtype, tensors, lr_p, {c.momentum, c.dampening, c.weight_decay, c.nesterov}, stream());
  } else {
    kernels::cuda::step_count_increment(step_p, nullptr, stream());
    const optim::AdamOptions d;
    const auto [beta1, beta2] = d.betas();
    kernels::cuda::adam_step(dtype, tensors, lr_p, step_p,
                             {beta1, beta2, d.eps(), c.weight_decay, c.kind == Kind::adamw}, stream());
  }
}

// The GPU side of a run: parameters in `dtype`, state in f32 for half parameters.
struct Fused {
  std::vector<Tensor> params, buf1, buf2, grads;
  Tensor lr, step;

  // fresh: the first step, when SGD's momentum buffers take the gradient itself.
  std::vector<OptimTensor> tensors(const Config& c, bool fresh) const {
    std::vector<OptimTensor> out;
    for (std::size_t i = 0; i < params.size(); ++i)
      out.push_back({params[i].data_ptr(), grads[i].data_ptr(),
                     c.kind != Kind::sgd || c.momentum != 0 ? buf1[i].data_ptr() : nullptr,
                     c.kind != Kind::sgd ? buf2[i].data_ptr() : nullptr, params[i].numel(), fresh});
    return out;
  }
};

void compare_with_cpu(const Config& c, DType dtype, int steps, double tol) {
  SCOPED_TRACE(::testing::Message() << dtype_name(dtype) << " kind " << static_cast<int>(c.kind) << " lr " << c.lr
                                    << " momentum " << c.momentum << " dampening " << c.dampening << " wd "
                                    << c.weight_decay << (c.nesterov ? " nesterov" : ""));
  const bool half = dtype == DType::f16 || dtype == DType::bf16;
  const DType state_type = half ? DType::f32 : dtype;
  const DType ref_type = dtype == DType::f64 ? DType::f64 : DType::f32;
  const std::vector<int64_t> sizes = tensor_sizes();

  Generator gen(42);
  std::vector<Tensor> cpu_params;
  Fused gpu;
  for (int64_t n : sizes) {
    const Tensor p0 = randn({n}, {}, &gen).to(dtype);
    cpu_params.push_back(p0.to(ref_type).clone().requires_grad_());
    gpu.params.push_back(on_gpu(p0));
    gpu.buf1.push_back(on_gpu(zeros({n}, state_type)));
    gpu.buf2.push_back(on_gpu(zeros({n}, state_type)));
  }
  gpu.lr = on_gpu(tensor(std::vector<double>{c.lr}));
  gpu.step = on_gpu(tensor(std::vector<int64_t>{0}));
  auto cpu = cpu_optimizer(c, cpu_params);

  for (int s = 0; s < steps; ++s) {
    if (s == 1) {  // the fused step reads the new rate from device memory
      cpu->set_lr(c.lr * 0.5);
      write_device(gpu.lr, c.lr * 0.5);
    }
    gpu.grads.clear();
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      const Tensor g = randn({sizes[i]}, {}, &gen).to(dtype);
      cpu_params[i].set_grad(g.to(ref_type));
      gpu.grads.push_back(on_gpu(g));
    }
    cpu->step();
    fused_step(c, dtype, gpu.tensors(c, s == 0), gpu.lr, gpu.step);
  }

  EXPECT_EQ(on_cpu(gpu.step).item<int64_t>(), steps);
  const optim::StateDict state = cpu->state_dict();
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    SCOPED_TRACE(::testing::Message() << "tensor " << i << " of " << sizes[i] << " elements");
    EXPECT_TRUE(testing::all_close(on_cpu(gpu.params[i]).to(ref_type), cpu_params[i].detach(), tol));
    const std::string prefix = "state." + std::to_string(i) + ".";
    if (c.kind == Kind::sgd && c.momentum != 0) {
      EXPECT_TRUE(testing::all_close(on_cpu(gpu.buf1[i]).to(ref_type), state.at(prefix + "momentum_buffer"), tol));
    }
    if (c.kind != Kind::sgd) {
      EXPECT_TRUE(testing::all_close(on_cpu(gpu.buf1[i]).to(ref_type), state.at(prefix + "exp_avg"), tol));
      EXPECT_TRUE(testing::all_close(on_cpu(gpu.buf2[i]).to(ref_type), state.at(prefix + "exp_avg_sq"), tol));
    }
  }
}

TEST(CudaOptim, SgdMatchesCpu) {
  VOLT_REQUIRE_CUDA();
  compare_with_cpu({Kind::sgd, 0.1}, DType::f32, 5, 1e-5);
  compare_with_cpu({Kind::sgd, 0.05, 0.9, 0.1, 0.01}, DType::f32, 5, 1e-5);
  compare_with_cpu({Kind::sgd, 0.05, 0.9, 0.0, 1e-3, true}, DType::f32, 5, 1e-5);
}

TEST(CudaOptim, AdamAndAdamWMatchCpu) {
  VOLT_REQUIRE_CUDA();
  compare_with_cpu({Kind::adam, 1e-2}, DType::f32, 5, 1e-5);
  compare_with_cpu({Kind::adam, 1e-2, 0, 0, 0.1}, DType::f32, 5, 1e-5);
  compare_with_cpu({Kind::adamw, 1e-2, 0, 0, 0.01}, DType::f32, 5, 1e-5);
}

TEST(CudaOptim, F64MatchesCpu) {
  VOLT_REQUIRE_CUDA();
  compare_with_cpu({Kind::sgd, 0.05, 0.9, 0.1, 0.01}, DType::f64, 5, 1e-12);
  compare_with_cpu({Kind::adamw, 1e-2, 0, 0, 0.01}, DType::f64, 5, 1e-12);
}

// Half parameters keep f32 state; the CPU reference runs in f32, so the parameters differ by
// their rounding to the half type, at most half an ulp per step (2 steps: < 2^-7 relative in bf16).
TEST(CudaOptim, HalfParametersWithFloatState) {
  VOLT_REQUIRE_CUDA();
  for (DType t : {DType::f16, DType::bf16}) {
    compare_with_cpu({Kind::sgd, 0.05, 0.9, 0.1, 0.01}, t, 2, 1e-2);
    compare_with_cpu({Kind::adamw, 1e-2, 0, 0, 0.01}, t, 2, 1e-2);
  }
}

TEST(CudaOptim, StepCountIncrementsOnTheDevice) {
  VOLT_REQUIRE_CUDA();
  Tensor step = on_gpu(tensor(std::vector<int64_t>{41}));
  for (int i = 0; i < 3; ++i)
    kernels::cuda::step_count_increment(step.data_ptr<int64_t>(), nullptr, stream());
  EXPECT_EQ(on_cpu(step).item<int64_t>(), 44);
  // GradScaler's overflow flag holds the count, on the device.
  Tensor found = on_gpu(tensor({1.0f}).reshape({}));
  kernels::cuda::step_count_increment(step.data_ptr<int64_t>(), found.data_ptr<float>(), stream());
  EXPECT_EQ(on_cpu(step).item<int64_t>(), 44);
}

// A step captured once as a CUDA graph and replayed: the descriptors travel in the kernel
// parameters, the rate and the step count are read from device memory at each replay.
TEST(CudaOptim, AdamReplaysFromACapturedGraph) {
  VOLT_REQUIRE_CUDA();
  const Config c{Kind::adamw, 1e-2, 0, 0, 0.01};
  const std::vector<int64_t> sizes = {5, 4097, 3};
  Generator gen(9);
  std::vector<Tensor> cpu_params;
  Fused gpu;
  for (int64_t n : sizes) {
    const Tensor p0 = randn({n}, {}, &gen);
    const Tensor g = randn({n}, {}, &gen);
    cpu_params.push_back(p0.clone().requires_grad_());
    cpu_params.back().set_grad(g);
    gpu.params.push_back(on_gpu(p0));
    gpu.grads.push_back(on_gpu(g));
    gpu.buf1.push_back(on_gpu(zeros({n})));
    gpu.buf2.push_back(on_gpu(zeros({n})));
  }
  gpu.lr = on_gpu(tensor(std::vector<double>{c.lr}));
  gpu.step = on_gpu(tensor(std::vector<int64_t>{0}));
  auto cpu = cpu_optimizer(c, cpu_params);

  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  VOLT_CUDA_CHECK(cudaStreamBeginCapture(cuda::native(stream()), cudaStreamCaptureModeThreadLocal));
  fused_step(c, DType::f32, gpu.tensors(c, false), gpu.lr, gpu.step);
  VOLT_CUDA_CHECK(cudaStreamEndCapture(cuda::native(stream()), &graph));
  VOLT_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  for (int s = 0; s < 4; ++s) {
    if (s == 2) {
      cpu->set_lr(c.lr * 0.5);
      write_device(gpu.lr, c.lr * 0.5);
    }
    cpu->step();
    VOLT_CUDA_CHECK(cudaGraphLaunch(exec, cuda::native(stream())));
  }
  VOLT_CUDA_CHECK(cudaGraphExecDestroy(exec));
  VOLT_CUDA_CHECK(cudaGraphDestroy(graph));

  EXPECT_EQ(on_cpu(gpu.step).item<int64_t>(), 4);
  for (std::size_t i = 0; i < sizes.size(); ++i)
    EXPECT_TRUE(testing::all_close(on_cpu(gpu.params[i]), cpu_params[i].detach(), 1e-5)) << "tensor " << i;
}

}  // namespace
}  // namespace volt
