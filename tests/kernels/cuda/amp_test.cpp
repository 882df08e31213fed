// The CUDA mixed-precision kernels against their CPU twins: unscale over several gradients of
// every floating dtype with finite, inf and NaN values (the same bits, the same flag), and the
// scale update through a scripted sequence of clean and overflowing steps.
#include "volt/kernels/amp.h"

#include <cmath>
#include <limits>
#include <vector>

#include "cuda_test_support.h"

namespace volt {
namespace {

using testing::same_bytes;

const Device kGpu = Device::cuda(0);

TEST(CudaAmp, UnscaleMatchesTheCpuAndFlagsOverflow) {
  VOLT_REQUIRE_CUDA();
  for (DType dtype : {DType::f32, DType::f64, DType::f16, DType::bf16})
    for (bool poisoned : {false, true}) {
      std::vector<Tensor> cpu{mul(randn({4097}), 1024.0).to(dtype), mul(randn({3, 5}), 1024.0).to(dtype)};
      if (poisoned) cpu[1].select(0, 2).fill_(std::numeric_limits<double>::infinity());
      std::vector<Tensor> gpu{cpu[0].to(kGpu), cpu[1].to(kGpu)};
      const Tensor inv_cpu = tensor({1.0 / 1024}).reshape({}), inv_gpu = inv_cpu.to(kGpu);
      Tensor found_cpu = zeros({}), found_gpu = zeros({}, TensorOptions().device(kGpu));
      std::vector<kernels::AmpTensor> on_cpu, on_gpu;
      for (std::size_t i = 0; i < cpu.size(); ++i) {
        on_cpu.push_back({cpu[i].data_ptr(), cpu[i].numel()});
        on_gpu.push_back({gpu[i].data_ptr(), gpu[i].numel()});
      }
      kernels::cpu::unscale(dtype, on_cpu, inv_cpu.data_ptr<float>(), found_cpu.data_ptr<float>(), {});
      kernels::cuda::unscale(dtype, on_gpu, inv_gpu.data_ptr<float>(), found_gpu.data_ptr<float>(), stream());
      for (std::size_t i = 0; i < cpu.size(); ++i)
        EXPECT_TRUE(same_bytes(gpu[i], cpu[i])) << dtype_name(dtype) << " tensor " << i;
      EXPECT_EQ(found_gpu.item<float>(), poisoned ? 1.0f : 0.0f) << dtype_name(dtype);
      EXPECT_EQ(found_cpu.item<float>(), found_gpu.item<float>());
    }
}

TEST(CudaAmp, UpdateScaleFollowsTheCpu) {
  VOLT_REQUIRE_CUDA();
  Tensor scale_cpu = tensor({8.0}).reshape({}), tracker_cpu = zeros({}, DType::i32);
  Tensor scale_gpu = scale_cpu.to(kGpu), tracker_gpu = tracker_cpu.to(kGpu);
  for (float found : {0.f, 0.f, 1.f, 0.f, 1.f, 0.f, 0.f, 0.f}) {
    const Tensor f_cpu = tensor({found}).reshape({}), f_gpu = f_cpu.to(kGpu);
    kernels::cpu::update_scale(scale_cpu.data_ptr<float>(), tracker_cpu.data_ptr<int32_t>(), f_cpu.data_ptr<float>(),
                               2.0, 0.5, 2, {});
    kernels::cuda::update_scale(scale_gpu.data_ptr<float>(), tracker_gpu.data_ptr<int32_t>(), f_gpu.data_ptr<float>(),
                                2.0, 0.5, 2, stream());
    EXPECT_EQ(scale_gpu.item<float>(), scale_cpu.item<float>());
    EXPECT_EQ(tracker_gpu.item<int32_t>(), tracker_cpu.item<int32_t>());
  }
  EXPECT_EQ(scale_cpu.item<float>(), 8.0f);  // 8 → 16 → 8 → 8 → 4 → 4 → 8 → 8
}

}  // namespace
}  // namespace volt
