// The CUDA runtime layer: discovery, allocator reuse and statistics, transfers, mixed devices.
#include "cuda_test_support.h"
#include "test_support.h"

namespace volt {
namespace {

TEST(CudaRuntime, UnavailableDeviceGivesAReason) {
  if (cuda::is_available()) {
    EXPECT_TRUE(cuda::unavailable_reason().empty());
    EXPECT_THROW(cuda::check_device(cuda::device_count()), Error);
  } else {
    EXPECT_NE(cuda::unavailable_reason().find("no CUDA device"), std::string::npos);
    EXPECT_NE(testing::error_of([] { empty({2}, Device::cuda(0)); }).find("no CUDA device"), std::string::npos);
  }
}

TEST(CudaAllocator, SizeClasses) {
  EXPECT_EQ(cuda::round_size(1), 512u);
  EXPECT_EQ(cuda::round_size(512), 512u);
  EXPECT_EQ(cuda::round_size(513), 1024u);
  EXPECT_EQ(cuda::round_size(1 << 20), std::size_t{1} << 20);
  EXPECT_EQ(cuda::round_size((1 << 20) + 1), std::size_t{2} << 20);
  EXPECT_EQ(cuda::round_size((5 << 20) + 3), std::size_t{6} << 20);
}

TEST(CudaAllocator, ReusesFreedBlocksAndCountsThem) {
  VOLT_REQUIRE_CUDA();
  cuda::empty_cache();
  const auto before = cuda::allocator_stats(0);
  void* first = nullptr;
  {
    Tensor a = empty({1000}, Device::cuda(0));  // 4000 bytes → the 4096-byte class
    first = a.data_ptr();
    const auto during = cuda::allocator_stats(0);
    EXPECT_EQ(during.allocated, before.allocated + 4096);
    EXPECT_GE(during.peak_allocated, during.allocated);
  }
  const auto after_free = cuda::allocator_stats(0);
  EXPECT_EQ(after_free.allocated, before.allocated);
  Tensor b = empty({1010}, Device::cuda(0));  // same class, same stream: the cached block
  EXPECT_EQ(b.data_ptr(), first);
  EXPECT_EQ(cuda::allocator_stats(0).device_mallocs, after_free.device_mallocs);
  cuda::empty_cache();
  EXPECT_LE(cuda::allocator_stats(0).reserved, after_free.reserved);
}

// A block freed inside a capture is written by every replay: eager code must not get it until
// the graphs are gone and release_graph_memory() says so.
TEST(CudaAllocator, BlocksFreedDuringCaptureStayWithTheGraph) {
  VOLT_REQUIRE_CUDA();
  cuda::empty_cache();
  const cudaStream_t stream = cuda::current_stream(0);
  { Tensor warm = empty({1000}, Device::cuda(0)); }  // the capture must find a cached block
  cudaGraph_t graph = nullptr;
  void* inside = nullptr;
  VOLT_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  {
    Tensor t = empty({1000}, Device::cuda(0));
    inside = t.data_ptr();
    t.fill_(1.0);
  }
  VOLT_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  Tensor after = empty({1000}, Device::cuda(0));
  EXPECT_NE(after.data_ptr(), inside);
  VOLT_CUDA_CHECK(cudaGraphDestroy(graph));
  cuda::release_graph_memory();
  Tensor again = empty({1000}, Device::cuda(0));
  EXPECT_EQ(again.data_ptr(), inside);
}

TEST(CudaAllocator, OutOfMemoryNamesTheRequest) {
  VOLT_REQUIRE_CUDA();
  const std::string msg = testing::error_of([] { empty({int64_t{1} << 46}, Device::cuda(0)); });
  EXPECT_NE(msg.find("out of memory"), std::string::npos) << msg;
  EXPECT_NE(msg.find("reserved"), std::string::npos) << msg;
}

TEST(CudaTransfer, RoundTripsEveryDtype) {
  VOLT_REQUIRE_CUDA();
  for (DType t : {DType::f32, DType::f64, DType::f16, DType::bf16, DType::i32, DType::i64, DType::u8, DType::boolean}) {
    const Tensor host = arange(0, 1000, 1, DType::f64).to(t);
    const Tensor dev = host.to(Device::cuda(0));
    EXPECT_EQ(dev.device(), Device::cuda(0));
    EXPECT_EQ(dev.to(Device::cpu()).to_vector<double>(), host.to_vector<double>()) << dtype_name(t);
  }
  const Tensor strided = arange(0, 12, 1, DType::f32).reshape({3, 4}).t();
  EXPECT_EQ(strided.to(Device::cuda(0)).to(Device::cpu()).to_vector<float>(), strided.to_vector<float>());
}

TEST(CudaTransfer, MixingDevicesNamesBoth) {
  VOLT_REQUIRE_CUDA();
  const std::string msg = testing::error_of([] { add(ones({2}), ones({2}, Device::cuda(0))); });
  EXPECT_NE(msg.find("cpu"), std::string::npos) << msg;
  EXPECT_NE(msg.find("cuda:0"), std::string::npos) << msg;
}

}  // namespace
}  // namespace volt
