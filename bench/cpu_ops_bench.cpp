// CPU benchmarks for the ops the main job spends its time in. Each elementwise op is timed
// beside std::memcpy of the same bytes (read + write): its floor on this machine. Bytes and
// FLOPs are reported as rates so ratios can be read off one run.
//   build/bench/cpu_ops_bench --benchmark_min_time=0.3
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "volt/volt.h"

using namespace volt;

namespace {

void BM_MemcpyFloor(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<float> a(n, 1.0f), b(n);
  for (auto _ : state) {
    std::memcpy(b.data(), a.data(), n * sizeof(float));
    benchmark::DoNotOptimize(b.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * 2 * n * sizeof(float)));
}

void BM_Relu(benchmark::State& state) {
  const Tensor x = randn({state.range(0)});
  for (auto _ : state)
    benchmark::DoNotOptimize(relu(x));
  state.SetBytesProcessed(state.iterations() * 2 * state.range(0) * 4);
}

void BM_Dropout(benchmark::State& state) {
  const Tensor x = randn({state.range(0)});
  Generator gen(0);
  for (auto _ : state)
    benchmark::DoNotOptimize(dropout(x, 0.5, true, &gen));
  state.SetBytesProcessed(state.iterations() * 3 * state.range(0) * 4);  // read x, write y and the mask
}

void BM_AddBroadcastRow(benchmark::State& state) {
  const Tensor x = randn({state.range(0) / 100, 100}), b = randn({100});
  for (auto _ : state)
    benchmark::DoNotOptimize(add(x, b));
  state.SetBytesProcessed(state.iterations() * 2 * state.range(0) * 4);
}

void BM_SumDim0(benchmark::State& state) {
  const Tensor x = randn({state.range(0) / 100, 100});
  for (auto _ : state)
    benchmark::DoNotOptimize(sum(x, {0}));
  state.SetBytesProcessed(state.iterations() * state.range(0) * 4);
}

// The main job's layers: x [64, 784] · W1ᵀ [784, 100], then [64, 100] · W2ᵀ [100, 10].
void BM_LinearForward(benchmark::State& state) {
  const int64_t batch = state.range(0), in = state.range(1), out = state.range(2);
  const Tensor x = randn({batch, in}), w = randn({out, in}), b = randn({out});
  for (auto _ : state)
    benchmark::DoNotOptimize(linear(x, w, b));
  state.counters["FLOP/s"] =
      benchmark::Counter(static_cast<double>(2 * batch * in * out), benchmark::Counter::kIsIterationInvariantRate);
}

// The first layer's weight gradient: gᵀ [100, 64] · x [64, 784] (gᵀ a column-major view).
void BM_LinearWeightGrad(benchmark::State& state) {
  const int64_t batch = state.range(0), in = state.range(1), out = state.range(2);
  const Tensor g = randn({batch, out}), x = randn({batch, in});
  for (auto _ : state)
    benchmark::DoNotOptimize(matmul(g.t(), x));
  state.counters["FLOP/s"] =
      benchmark::Counter(static_cast<double>(2 * batch * in * out), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_TrainStep(benchmark::State& state) {
  const int64_t batch = state.range(0);
  Generator gen(0);
  nn::Linear fc1(784, 100, true, &gen), fc2(100, 10, true, &gen);
  std::vector<Tensor> params = fc1.parameters();
  for (const Tensor& p : fc2.parameters())
    params.push_back(p);
  optim::Adam opt(params, optim::AdamOptions(1e-3));
  const Tensor x = rand({batch, 784}, {}, &gen);
  const Tensor y = randint(0, 10, {batch}, DType::i64, &gen);
  for (auto _ : state) {
    const Tensor loss = cross_entropy(fc2(dropout(linear_relu(x, fc1.weight, fc1.bias), 0.5, true, &gen)), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  state.SetItemsProcessed(state.iterations() * batch);  // samples/s
}

}  // namespace

BENCHMARK(BM_MemcpyFloor)->Arg(1 << 10)->Arg(1 << 16)->Arg(1 << 22);
BENCHMARK(BM_Relu)->Arg(1 << 10)->Arg(1 << 16)->Arg(1 << 22);
BENCHMARK(BM_Dropout)->Arg(6400)->Arg(1 << 22);
BENCHMARK(BM_AddBroadcastRow)->Arg(6400)->Arg(1 << 22);
BENCHMARK(BM_SumDim0)->Arg(6400)->Arg(1 << 22);
BENCHMARK(BM_LinearForward)->Args({64, 784, 100})->Args({64, 100, 10})->Args({1000, 784, 100});
BENCHMARK(BM_LinearWeightGrad)->Args({64, 784, 100})->Args({1024, 784, 100});
BENCHMARK(BM_TrainStep)->Arg(64)->Arg(256);
BENCHMARK_MAIN();
