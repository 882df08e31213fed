// One number for a side-by-side run: the main job's training step (784 -> 100, ReLU, dropout
// 0.5, 100 -> 10, cross-entropy, Adam 1e-3) at one batch size, device and precision, timed
// over --steps steps after --warmup, waiting for the device at both ends. bench/side_by_side_gpu.py
// runs it beside PyTorch's torch.autocast loop on the same device. With --cuda-graph the step is
// captured once after the warm-up (a DeviceGraph) and each timed step is one replay: forward,
// backward, GradScaler and Adam in one launch, dropout drawing a new mask every replay.
//
//   build/bench/step_time --device cuda --batch 131072 --precision bf16-mixed [--steps 50] [--warmup 10]
//                         [--cuda-graph]
//
// Prints one line of JSON: {"device": ..., "batch": ..., "precision": ..., "cuda_graph": ...,
// "ms_per_step": ...}.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <optional>
#include <string>

#include "volt/volt.h"

using namespace volt;

int main(int argc, char** argv) try {
  std::string device_name = "cpu", precision = "32-true";
  int64_t batch = 64, steps = 50, warmup = 10;
  bool cuda_graph = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--cuda-graph") {
      cuda_graph = true;
      continue;
    }
    VOLT_CHECK(i + 1 < argc, "step_time: ", flag, " needs a value");
    const std::string value = argv[++i];
    if (flag == "--device")
      device_name = value;
    else if (flag == "--batch")
      batch = std::stoll(value);
    else if (flag == "--precision")
      precision = value;
    else if (flag == "--steps")
      steps = std::stoll(value);
    else if (flag == "--warmup")
      warmup = std::stoll(value);
    else
      VOLT_FAIL("step_time: unknown option ", flag);
  }
  VOLT_CHECK(batch > 0 && steps > 0 && warmup >= 0, "step_time: --batch and --steps must be positive");
  VOLT_CHECK(precision == "32-true" || precision == "16-mixed" || precision == "bf16-mixed",
             "step_time: --precision must be 32-true, 16-mixed or bf16-mixed, got ", precision);
  const Device device = Device::parse(device_name);
  VOLT_CHECK(!cuda_graph || DeviceGraph::supported(device), "step_time: --cuda-graph needs a usable CUDA device, not ",
             device, device.is_cpu() ? "" : std::string(": ") + device_unusable_reason(device));
  const std::optional<DType> half = precision == "16-mixed"     ? std::optional<DType>(DType::f16)
                                    : precision == "bf16-mixed" ? std::optional<DType>(DType::bf16)
                                                                : std::nullopt;
  // As PyTorch's default: TF32 for f32 products is the caller's choice; 32-true here allows it.
  if (device.is_cuda()) set_matmul_precision("high");

  Generator gen(0);
  nn::Linear fc1(784, 100, true, &gen), fc2(100, 10, true, &gen);
  fc1.to(device);
  fc2.to(device);
  std::vector<Tensor> params = fc1.parameters();
  for (const Tensor& p : fc2.parameters())
    params.push_back(p);
  optim::Adam opt(params, optim::AdamOptions(1e-3));
  amp::GradScaler scaler(65536.0, 2.0, 0.5, 2000, precision == "16-mixed");
  const Tensor x = rand({batch, 784}, {}, &gen).to(device);
  const Tensor y = randint(0, 10, {batch}, DType::i64, &gen).to(device);

  auto step = [&] {
    Tensor loss;
    {
      const AutocastGuard autocast(device.type, half, half.has_value());
      loss = cross_entropy(fc2(dropout(linear_relu(x, fc1.weight, fc1.bias), 0.5, true, &gen)), y);
    }
    opt.zero_grad();
    scaler.scale(loss).backward();
    scaler.step(opt);
    scaler.update();
  };
  auto wait = [&] {
    if (device.is_cuda()) cuda::synchronize(device.index);
  };
  // A graph is captured from a warmed-up step: the allocator's cache and Adam's state exist.
  for (int64_t i = 0; i < std::max<int64_t>(warmup, cuda_graph ? 1 : 0); ++i)
    step();
  std::optional<DeviceGraph> graph;
  if (cuda_graph) {
    graph.emplace(device);
    graph->capture(step);
    graph->replay();  // the first replay uploads nothing more, but keep it out of the timing
  }
  wait();
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < steps; ++i)
    if (graph)
      graph->replay();
    else
      step();
  wait();
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::cout << "{\"device\": \"" << device << "\", \"batch\": " << batch << ", \"precision\": \"" << precision
            << "\", \"cuda_graph\": " << (cuda_graph ? "true" : "false")
            << ", \"ms_per_step\": " << ms / static_cast<double>(steps) << "}\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "step_time: error: " << e.what() << "\n";
  return 1;
}
