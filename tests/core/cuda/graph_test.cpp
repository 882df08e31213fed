// CUDAGraph: replays equal the eager run they were captured from, random draws included (each
// replay a new dropout mask, the one eager step k draws); the graph's memory stays its own;
// a failed capture leaves the stream usable; misuse is a clear error.
#include "volt/core/cuda/graph.h"

#include "cuda_test_support.h"
#include "test_support.h"

namespace volt {
namespace {

const Device kCuda = Device::cuda(0);

// What one step draws: a dropout of x and a uniform fill, from two generators.
Tensor step(const Tensor& x, Generator& a, Generator& b, Tensor& out) {
  Tensor y = dropout(x, 0.5, true, &a);
  Tensor u = rand({x.numel()}, TensorOptions().device(kCuda), &b);
  out.copy_(add(y, u.reshape(x.shape())));
  return out;
}

TEST(CudaGraph, ReplaysDrawWhatEagerStepsDraw) {
  VOLT_REQUIRE_CUDA();
  const Tensor x = ones({3, 1001}, kCuda);
  // Eager reference: five steps from fresh generators.
  Generator ea(11), eb(12);
  Tensor eout = empty({3, 1001}, kCuda);
  std::vector<std::vector<float>> eager;
  for (int k = 0; k < 5; ++k)
    eager.push_back(step(x, ea, eb, eout).to_vector<float>());

  Generator ga(11), gb(12);
  Tensor out = empty({3, 1001}, kCuda);
  step(x, ga, gb, out);  // warm-up: eager step 0
  EXPECT_EQ(out.to_vector<float>(), eager[0]);
  const uint64_t a_before = ga.offset(), b_before = gb.offset();
  cuda::CUDAGraph graph;
  graph.capture([&] { step(x, ga, gb, out); });
  EXPECT_EQ(ga.offset(), a_before);  // capturing draws nothing on the host
  EXPECT_EQ(gb.offset(), b_before);
  EXPECT_EQ(graph.generators(), 2);
  EXPECT_EQ(graph.blocks_per_replay(ga), a_before);
  for (int k = 1; k < 5; ++k) {
    graph.replay();
    EXPECT_EQ(out.to_vector<float>(), eager[k]) << "replay " << k;
  }
  EXPECT_EQ(ga.offset(), ea.offset());
  EXPECT_EQ(gb.offset(), eb.offset());
}

// Between replays the host state may move (an eager draw, a new seed, a restored offset): the
// next replay starts from it.
TEST(CudaGraph, ReplayFollowsTheHostStateWhenItMoves) {
  VOLT_REQUIRE_CUDA();
  const Tensor x = ones({4096}, kCuda);
  Generator g(1), unused(2);
  Tensor out = empty({4096}, kCuda);
  auto drop = [&] { out.copy_(dropout(x, 0.3, true, &g)); };
  drop();
  cuda::CUDAGraph graph;
  graph.capture(drop);
  auto eager_at = [&](uint64_t seed, uint64_t offset) {
    Generator r(seed);
    r.set_offset(offset);
    return dropout(x, 0.3, true, &r).to_vector<float>();
  };
  const uint64_t blocks = graph.blocks_per_replay(g);
  ASSERT_GT(blocks, 0u);
  graph.replay();
  EXPECT_EQ(out.to_vector<float>(), eager_at(1, blocks));
  rand({10}, TensorOptions().device(kCuda), &g);  // an eager draw in between
  const uint64_t moved = g.offset();
  graph.replay();
  EXPECT_EQ(out.to_vector<float>(), eager_at(1, moved));
  g.manual_seed(99);
  graph.replay();
  EXPECT_EQ(out.to_vector<float>(), eager_at(99, 0));
  g.set_offset(5);
  graph.replay();
  EXPECT_EQ(out.to_vector<float>(), eager_at(99, 5));
  graph.replay();  // and on from there without a rewrite
  EXPECT_EQ(out.to_vector<float>(), eager_at(99, 5 + blocks));
}

// A block the capture handed out is the graph's until reset, even once its tensor is freed.
TEST(CudaGraph, ItsMemoryIsNotHandedToEagerCode) {
  VOLT_REQUIRE_CUDA();
  Tensor src = full({2000}, 3.0, kCuda);
  { Tensor warm = empty({2000}, kCuda); }
  void* inside = nullptr;
  cuda::CUDAGraph graph;
  {
    Tensor kept;
    graph.capture([&] {
      kept = mul(src, 2.0);
      inside = kept.data_ptr();
    });
  }  // freed after the capture: still written by every replay
  for (int i = 0; i < 4; ++i) {
    Tensor eager = empty({2000}, kCuda);
    EXPECT_NE(eager.data_ptr(), inside);
  }
  graph.replay();
  graph.reset();
  Tensor again = empty({2000}, kCuda);
  EXPECT_EQ(again.data_ptr(), inside);
}

// Two graphs sharing a pool reuse each other's freed blocks; a graph's own pool does not.
TEST(CudaGraph, SharedPoolReusesBlocks) {
  VOLT_REQUIRE_CUDA();
  const Tensor src = full({3000}, 1.0, kCuda);
  { Tensor warm = mul(src, 2.0); }
  void* first_block = nullptr;
  void* second_block = nullptr;
  cuda::CUDAGraph a, b;
  a.capture([&] {
    Tensor t = mul(src, 2.0);
    first_block = t.data_ptr();
  });
  b.capture(
      [&] {
        Tensor t = mul(src, 3.0);
        second_block = t.data_ptr();
      },
      0, a.pool());
  EXPECT_EQ(first_block, second_block);
  EXPECT_EQ(a.pool(), b.pool());
}

// A request the cache cannot serve during a capture gets its cudaMalloc at once, outside the
// graph, and the block is the graph's: replays write it, eager code does not get it.
TEST(CudaGraph, ACaptureThatMissesTheCacheAllocates) {
  VOLT_REQUIRE_CUDA();
  cuda::empty_cache();
  const Tensor src = full({(int64_t{1} << 20) + 3}, 1.5, kCuda);
  const int64_t mallocs = cuda::allocator_stats(0).device_mallocs;
  Tensor out;
  cuda::CUDAGraph graph;
  graph.capture([&] { out = mul(src, 2.0); });
  EXPECT_GT(cuda::allocator_stats(0).device_mallocs, mallocs);
  graph.replay();
  EXPECT_EQ(out.sum().item<double>(), 3.0 * static_cast<double>(src.numel()));
  void* inside = out.data_ptr();
  out = Tensor();
  Tensor eager = empty(src.shape(), kCuda);
  EXPECT_NE(eager.data_ptr(), inside);
}

// A capture that reads the device (a host copy) fails with a message that says so; the graph
// is reset and the stream takes eager work again.
TEST(CudaGraph, AFailedCaptureLeavesTheStreamUsable) {
  VOLT_REQUIRE_CUDA();
  const Tensor t8 = full({8}, 2.0, kCuda);
  cuda::CUDAGraph graph;
  const std::string msg = testing::error_of([&] { graph.capture([&] { (void)t8.sum().item<float>(); }); });
  EXPECT_NE(msg.find("inside a CUDA graph capture"), std::string::npos) << msg;
  EXPECT_FALSE(graph.captured());
  const Tensor t = full({8}, 2.0, kCuda);
  EXPECT_EQ(t.sum().item<float>(), 16.0f);
  const std::string no_graph = testing::error_of([&] { graph.replay(); });
  EXPECT_NE(no_graph.find("nothing is captured"), std::string::npos) << no_graph;
}

TEST(CudaGraph, MisuseIsAnError) {
  VOLT_REQUIRE_CUDA();
  cuda::CUDAGraph graph;
  EXPECT_NE(testing::error_of([&] { graph.capture_end(); }).find("capture_begin was not called"), std::string::npos);
  graph.capture([] {});
  EXPECT_NE(testing::error_of([&] { graph.capture_begin(); }).find("reset() it first"), std::string::npos);
  cuda::CUDAGraph outer, inner;
  outer.capture_begin();
  EXPECT_NE(testing::error_of([&] { inner.capture_begin(); }).find("another graph is capturing"), std::string::npos);
  outer.reset();
  EXPECT_FALSE(outer.captured());
  const Tensor t = full({4}, 1.0, kCuda);  // the stream is no longer capturing
  EXPECT_EQ(t.sum().item<float>(), 4.0f);
}

TEST(CudaGraph, TooManyGeneratorsIsAnError) {
  VOLT_REQUIRE_CUDA();
  const Tensor x = ones({16}, kCuda);
  std::vector<Generator> gens(cuda::CUDAGraph::kMaxGenerators + 1);
  for (auto& g : gens)
    dropout(x, 0.5, true, &g);
  cuda::CUDAGraph graph;
  const std::string msg = testing::error_of([&] {
    graph.capture([&] {
      for (auto& g : gens)
        dropout(x, 0.5, true, &g);
    });
  });
  EXPECT_NE(msg.find("at most 64 generators"), std::string::npos) << msg;
}

}  // namespace
}  // namespace volt
