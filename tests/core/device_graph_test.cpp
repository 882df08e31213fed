// DeviceGraph without a GPU: the CPU has no graphs, and a CUDA device that cannot be used says
// why. (The graphs themselves: tests/core/cuda/graph_test.cpp and the graphed training step.)
#include "volt/core/device_graph.h"

#include <gtest/gtest.h>

#include "test_support.h"
#include "volt/core/device_backend.h"

namespace volt {
namespace {

TEST(DeviceGraph, TheCpuHasNone) {
  EXPECT_FALSE(DeviceGraph::supported(Device::cpu()));
  const std::string msg = testing::error_of([] { DeviceGraph graph(Device::cpu()); });
  EXPECT_NE(msg.find("the CPU has no graphs"), std::string::npos) << msg;
}

TEST(DeviceGraph, AnUnusableCudaDeviceSaysWhy) {
  const Device missing = Device::cuda(cuda::device_count());  // one past the last, or cuda:0 without a GPU
  EXPECT_FALSE(DeviceGraph::supported(missing));
  const std::string msg = testing::error_of([&] { DeviceGraph graph(missing); });
  EXPECT_NE(msg.find("cannot be used"), std::string::npos) << msg;
  EXPECT_NE(msg.find(device_unusable_reason(missing)), std::string::npos) << msg;
}

}  // namespace
}  // namespace volt
