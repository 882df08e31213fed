// A consumer's program: learns XOR with a small MLP, round-trips the weights through a
// safetensors file, and (linked with volt::cuda) reports what the CUDA backend sees. Exits
// non-zero when something does not hold.
#include <volt/volt.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

using namespace volt;

namespace {

struct Mlp : nn::Module {
  std::shared_ptr<nn::Linear> fc1 = register_module("fc1", std::make_shared<nn::Linear>(2, 8));
  std::shared_ptr<nn::Linear> fc2 = register_module("fc2", std::make_shared<nn::Linear>(8, 2));
  Tensor forward(const Tensor& x) override { return (*fc2)(relu((*fc1)(x))); }
};

}  // namespace

int main() {
  manual_seed(1);
  const Tensor x = tensor({0., 0., 0., 1., 1., 0., 1., 1.}, DType::f32).reshape({4, 2});
  const Tensor y = tensor(std::vector<int64_t>{0, 1, 1, 0});
  Mlp net;
  optim::Adam opt(net.parameters(), optim::AdamOptions(0.05));
  double first = 0, last = 0;
  for (int step = 0; step < 300; ++step) {
    Tensor loss = cross_entropy(net(x), y);
    if (step == 0) first = loss.item<double>();
    last = loss.item<double>();
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  const Tensor correct = net(x).argmax(1).eq(y).to(DType::i64).sum();

  const std::string path = (std::filesystem::temp_directory_path() / "volt_consumer.safetensors").string();
  nn::save_safetensors(path, net.state_dict());
  Mlp copy;
  copy.load_state_dict(nn::load_safetensors(path));
  std::filesystem::remove(path);
  const double same = abs(sub(copy(x), net(x))).max().item<double>();

  std::printf("consumer: loss %.4f -> %.4f, %lld/4 correct, reloaded weights differ by %g\n", first, last,
              static_cast<long long>(correct.item<int64_t>()), same);
  if (!(last < first * 0.1 && correct.item<int64_t>() == 4 && same == 0.0)) return 1;

#if CONSUMER_CUDA
  if (cuda::is_available()) {
    const Tensor g = relu(x.to(Device::cuda(0)) - 0.5).to(Device::cpu());
    std::printf("consumer: cuda:0 ran relu, sum %.2f\n", g.sum().item<double>());
  } else {
    std::printf("consumer: CUDA backend linked, no usable GPU (%s)\n", cuda::unavailable_reason().c_str());
  }
#else
  if (find_device_backend(DeviceType::cuda) != nullptr) return 1;  // a CPU-only program has none
  std::printf("consumer: CPU only (%s)\n", cuda::unavailable_reason().c_str());
#endif
  std::printf("consumer: ok\n");
  return 0;
}
