// The main job's training step (784 -> 100, ReLU, dropout 0.5, 100 -> 10, cross-entropy, Adam)
// at batch 64, 256 and 1024 on 1 and 2 CPU threads, each beside its FLOP floor: the step's
// multiply-adds at the peak FMA rate of this machine's cores, measured here by BM_PeakFma (a
// register-resident FMA loop, AVX-512 where the CPU has it, on every thread).
//   build/bench/train_step_bench --benchmark_min_time=0.5
#include <benchmark/benchmark.h>

#include <vector>

#include "volt/volt.h"

using namespace volt;

namespace {

// FLOPs of one step: the two layers forward (2·B·in·out each), their weight gradients (the same
// again) and the hidden layer's input gradient (2·B·100·10; the images need none).
double step_flops(int64_t batch) {
  const double b = static_cast<double>(batch);
  return 2 * b * 784 * 100 * 2 + 2 * b * 100 * 10 * 3;
}

struct Model {
  explicit Model(int64_t batch) : gen(0), fc1(784, 100, true, &gen), fc2(100, 10, true, &gen) {
    std::vector<Tensor> params = fc1.parameters();
    for (const Tensor& p : fc2.parameters())
      params.push_back(p);
    opt = std::make_unique<optim::Adam>(params, optim::AdamOptions(1e-3));
    x = rand({batch, 784}, {}, &gen);
    y = randint(0, 10, {batch}, DType::i64, &gen);
  }
  void step() {
    const Tensor loss = cross_entropy(fc2(dropout(linear_relu(x, fc1.weight, fc1.bias), 0.5, true, &gen)), y);
    opt->zero_grad();
    loss.backward();
    opt->step();
  }
  Generator gen;
  nn::Linear fc1, fc2;
  std::unique_ptr<optim::Adam> opt;
  Tensor x, y;
};

// Peak FLOP/s: per thread, 16 independent vector FMA chains (enough to cover the FMA latency
// on two ports), summed over the threads by parallel_for.
typedef float Floats8 __attribute__((vector_size(32)));
typedef float Floats16 __attribute__((vector_size(64)));
template <class V>
[[gnu::always_inline]] inline float fma_chains(int64_t iterations) {
  V acc[16];
  for (int i = 0; i < 16; ++i)
    acc[i] = V{} + static_cast<float>(i);
  const V a = V{} + 0.999f, b = V{} + 0.001f;
  for (int64_t n = 0; n < iterations; ++n)
    for (int i = 0; i < 16; ++i)
      acc[i] = acc[i] * a + b;
  float s = 0;
  for (int i = 0; i < 16; ++i)
    s += acc[i][0];
  return s;
}
#if defined(__x86_64__)
__attribute__((target("avx512f"))) float fma_chains_avx512(int64_t iterations) {
  return fma_chains<Floats16>(iterations);
}
#endif
float fma_chains_generic(int64_t iterations) { return fma_chains<Floats8>(iterations); }

void BM_PeakFma(benchmark::State& state) {
  set_num_threads(static_cast<int>(state.range(0)));
  constexpr int64_t kIterations = 1 << 16;
#if defined(__x86_64__)
  const bool avx512 = __builtin_cpu_supports("avx512f");
#else
  const bool avx512 = false;
#endif
  const int64_t lanes = avx512 ? 16 : 8;
  for (auto _ : state) {
    parallel_for(0, state.range(0), 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
#if defined(__x86_64__)
        benchmark::DoNotOptimize(avx512 ? fma_chains_avx512(kIterations) : fma_chains_generic(kIterations));
#else
        benchmark::DoNotOptimize(fma_chains_generic(kIterations));
#endif
      }
    });
  }
  state.counters["FLOP/s"] = benchmark::Counter(static_cast<double>(kIterations * 16 * lanes * 2 * state.range(0)),
                                                benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(avx512 ? "AVX-512" : "256-bit vectors");
}

void BM_TrainStep(benchmark::State& state) {
  const int64_t batch = state.range(0);
  set_num_threads(static_cast<int>(state.range(1)));
  set_flush_denormal(true);  // as the main job does
  Model model(batch);
  for (int i = 0; i < 10; ++i)
    model.step();
  for (auto _ : state)
    model.step();
  state.SetItemsProcessed(state.iterations() * batch);  // samples/s
  state.counters["FLOP/s"] = benchmark::Counter(step_flops(batch), benchmark::Counter::kIsIterationInvariantRate);
  set_flush_denormal(false);
}

}  // namespace

BENCHMARK(BM_PeakFma)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(BM_TrainStep)
    ->ArgsProduct({{64, 256, 1024}, {1, 2}})
    ->ArgNames({"batch", "threads"})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_MAIN();
