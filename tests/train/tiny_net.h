// What the trainer tests share: a small LightningModule (4 → 8, ReLU, dropout, 8 → 3) whose
// validation loss can be scripted per epoch, a synthetic dataset, and quiet TrainerOptions.
#pragma once

#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "volt/volt.h"

namespace volt::testing {

// n samples of 4 features, labels i % 3: the same values on every call.
inline data::TensorDataset tiny_dataset(int64_t n) {
  std::vector<uint8_t> images(static_cast<std::size_t>(n * 4));
  std::vector<int64_t> labels(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < 4; ++j)
      images[static_cast<std::size_t>(i * 4 + j)] = static_cast<uint8_t>((i * 37 + j * 11 + (i % 3) * 50) % 256);
    labels[static_cast<std::size_t>(i)] = i % 3;
  }
  return data::TensorDataset(tensor(images, {n, 4}, DType::u8), tensor(labels, {n}, DType::i64));
}

inline data::DataLoader tiny_loader(int64_t n, int64_t batch_size, bool shuffle = false, uint64_t seed = 0) {
  return data::DataLoader(tiny_dataset(n), {.batch_size = batch_size, .shuffle = shuffle, .seed = seed});
}

struct TinyNet : train::LightningModule {
  explicit TinyNet(double dropout_p = 0.0, uint64_t seed = 1, int64_t hidden = 8) : gen(seed) {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(4, hidden, true, &gen));
    dropout = register_module("dropout", std::make_shared<nn::Dropout>(dropout_p, &gen));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(hidden, 3, true, &gen));
    register_generator("gen", gen);
  }
  Tensor forward(const Tensor& x) override { return (*fc2)(dropout->forward(relu((*fc1)(x)))); }
  // strategy dp's replicas: a copy (a Generator is not copyable: the copy has one of the same
  // seed, which it does not draw from, a replica drawing from the stream DataParallel gives it),
  // the children cloned, the members pointed at the clones.
  TinyNet(const TinyNet& other)
      : train::LightningModule(other),
        gen(other.gen.seed()),
        val_script(other.val_script),
        make_optimizers(other.make_optimizers) {}
  std::shared_ptr<nn::Module> clone(const TensorMap& map = {}) const override {
    auto copy = clone_as(*this, map);
    copy->fc1 = copy->registered_module<nn::Linear>("fc1");
    copy->dropout = copy->registered_module<nn::Dropout>("dropout");
    copy->fc2 = copy->registered_module<nn::Linear>("fc2");
    return copy;
  }
  Tensor training_step(const train::Batch& b, int64_t) override {
    ++training_steps;
    Tensor loss = cross_entropy(forward(b.images), b.labels);
    log("train_loss", loss, {.prog_bar = true, .on_step = true, .on_epoch = true});
    return loss;
  }
  void validation_step(const train::Batch& b, int64_t) override {
    ++validation_steps;
    if (val_script.empty())
      log("val_loss", cross_entropy(forward(b.images), b.labels));
    else
      log("val_loss", val_script.at(static_cast<std::size_t>(current_epoch())));
  }
  train::OptimizerLRScheduler configure_optimizers() override {
    if (make_optimizers) return make_optimizers(*this);
    optimizer = std::make_shared<optim::SGD>(parameters(), optim::SGDOptions(0.1));
    return {optimizer};
  }

  Generator gen;
  std::shared_ptr<nn::Linear> fc1;
  std::shared_ptr<nn::Dropout> dropout;
  std::shared_ptr<nn::Linear> fc2;
  std::vector<double> val_script;  // val_loss of each epoch, instead of the real one
  std::function<train::OptimizerLRScheduler(TinyNet&)> make_optimizers;
  std::shared_ptr<optim::Optimizer> optimizer;
  int64_t training_steps = 0, validation_steps = 0;
};

// A callback that throws after a given optimizer step, as a crash would.
struct CrashAfterStep : train::Callback {
  explicit CrashAfterStep(int64_t step) : step(step) {}
  std::string state_key() const override { return "CrashAfterStep"; }
  void on_train_batch_end(train::Trainer& t, train::LightningModule&, const Tensor&, const train::Batch&,
                          int64_t) override {
    if (t.global_step() == step) throw std::runtime_error("simulated crash");
  }
  int64_t step;
};

// No logger, checkpoints, progress bar or sanity check, on the CPU: each test adds what it tests.
inline train::TrainerOptions quiet_options() {
  train::TrainerOptions o;
  o.accelerator = "cpu";
  o.logger = false;
  o.enable_checkpointing = false;
  o.enable_progress_bar = false;
  o.num_sanity_val_steps = 0;
  return o;
}

// Every parameter's bytes, in state_dict order.
inline std::vector<uint8_t> weight_bytes(const nn::Module& m) {
  std::vector<uint8_t> out;
  for (const auto& [name, t] : m.state_dict()) {
    const std::vector<float> v = t.to_vector<float>();
    const auto* p = reinterpret_cast<const uint8_t*>(v.data());
    out.insert(out.end(), p, p + v.size() * sizeof(float));
  }
  return out;
}

}  // namespace volt::testing
