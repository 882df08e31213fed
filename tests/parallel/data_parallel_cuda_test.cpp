// DataParallel on a GPU: two replicas on one device ({cuda:0, cuda:0}, the module there too), and
// a module on the CPU with a replica on cuda:0 (its parameters copied there and their gradients
// copied back); both against the plain module on the CPU, the reference. Skipped without a GPU.
#include <gtest/gtest.h>

#include "cuda_test_support.h"
#include "volt/volt.h"

namespace volt::parallel {
namespace {

using volt::testing::all_close;

std::shared_ptr<nn::Sequential> classic_net(uint64_t seed) {
  Generator gen(seed);
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(784, 100, true, &gen), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(100, 10, true, &gen)});
}

// The CPU module's output and gradients against those of `wrapped` (same seed) through `devices`.
void expect_matches_cpu(const std::vector<Device>& devices, Device module_device) {
  auto plain = classic_net(1);
  auto wrapped = classic_net(1);
  wrapped->to(module_device);
  DataParallel dp(wrapped, devices);
  Generator gen(2);
  const Tensor x = randn({33, 784}, DType::f32, &gen);
  const Tensor y = randint(0, 10, {33}, DType::i64, &gen);
  const Tensor want = (*plain)(x);
  cross_entropy(want, y).backward();
  const Tensor got = dp(x.to(devices[0]));
  EXPECT_EQ(got.device(), devices[0]);
  cross_entropy(got, y.to(devices[0])).backward();
  EXPECT_TRUE(all_close(got.to(Device::cpu()), want, 1e-5));
  const auto p = plain->parameters(), q = wrapped->parameters();
  for (std::size_t i = 0; i < p.size(); ++i) {
    ASSERT_TRUE(q[i].grad().defined());
    EXPECT_EQ(q[i].grad().device(), module_device);
    EXPECT_TRUE(all_close(q[i].grad().to(Device::cpu()), p[i].grad(), 1e-5)) << "parameter " << i;
  }
}

TEST(DataParallelCuda, TwoReplicasOnOneGpu) {
  VOLT_REQUIRE_CUDA();
  expect_matches_cpu({Device::cuda(0), Device::cuda(0)}, Device::cuda(0));
}

TEST(DataParallelCuda, AReplicaOnAnotherDeviceSendsItsGradientsBack) {
  VOLT_REQUIRE_CUDA();
  expect_matches_cpu({Device::cpu(), Device::cuda(0)}, Device::cpu());
}

}  // namespace
}  // namespace volt::parallel
