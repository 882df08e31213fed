// Module and optimizer state through safetensors files: what the main job's checkpoints rely on.
#include <gtest/gtest.h>

#include "test_support.h"
#include "volt/volt.h"

namespace volt::nn {
namespace {

struct Net : Module {
  explicit Net(Generator* gen)
      : fc1(register_module("fc1", std::make_shared<Linear>(5, 4, true, gen))),
        fc2(register_module("fc2", std::make_shared<Linear>(4, 3, true, gen))) {}
  Tensor forward(const Tensor& x) override { return (*fc2)(relu((*fc1)(x))); }
  std::shared_ptr<Linear> fc1, fc2;
};

std::string temp_path(const std::string& name) {
  static volt::testing::TempDir dir;
  return dir.file(name);
}

TEST(Checkpoint, ModuleStateDictRoundTripsThroughSafetensors) {
  Generator g1(1), g2(2);
  Net saved(&g1), fresh(&g2);
  const std::string path = temp_path("model.safetensors");
  save_safetensors(path, saved.state_dict());

  const StateDict loaded = load_safetensors(path);
  std::vector<std::string> names;
  for (const auto& [name, t] : loaded)
    names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"}));
  EXPECT_NE(fresh.fc1->weight.to_vector<float>(), saved.fc1->weight.to_vector<float>());
  fresh.load_state_dict(loaded);
  for (const auto& [name, t] : saved.named_parameters())
    EXPECT_EQ(loaded.at(name).to_vector<float>(), t.to_vector<float>()) << name;
  const Tensor x = rand({2, 5});
  EXPECT_EQ(fresh(x).to_vector<float>(), saved(x).to_vector<float>());
}

TEST(Checkpoint, OptimizerResumesBitForBitFromAFile) {
  auto train_steps = [](Net& net, optim::Optimizer& opt, Generator& data, int steps) {
    for (int i = 0; i < steps; ++i) {
      const Tensor x = rand({8, 5}, {}, &data);
      const Tensor y = randint(0, 3, {8}, DType::i64, &data);
      opt.zero_grad();
      cross_entropy(net(x), y).backward();
      opt.step();
    }
  };
  Generator init(4), data(5);
  Net net(&init);
  optim::AdamW opt(net.parameters(), optim::AdamWOptions());
  train_steps(net, opt, data, 3);
  const std::string model_path = temp_path("resume_model.safetensors");
  const std::string opt_path = temp_path("resume_opt.safetensors");
  save_safetensors(model_path, net.state_dict());
  save_safetensors(opt_path, opt.state_dict());
  const uint64_t data_offset = data.offset();
  train_steps(net, opt, data, 3);

  Generator other(9), resumed_data(5);
  resumed_data.set_offset(data_offset);
  Net resumed(&other);
  resumed.load_state_dict(load_safetensors(model_path));
  optim::AdamW resumed_opt(resumed.parameters(), optim::AdamWOptions());
  resumed_opt.load_state_dict(load_safetensors(opt_path));
  EXPECT_EQ(resumed_opt.step_count(), 3);
  train_steps(resumed, resumed_opt, resumed_data, 3);
  for (const auto& [name, t] : net.named_parameters())
    EXPECT_EQ(resumed.state_dict().at(name).to_vector<float>(), t.to_vector<float>()) << name;
}

}  // namespace
}  // namespace volt::nn
