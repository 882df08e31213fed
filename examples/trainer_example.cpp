// A user-defined LightningModule trained by the Trainer: the main job's network on Fashion-MNIST.
//   trainer_example [epochs]       (data: $VOLT_FASHION_MNIST_DIR or /usr/share/datasets/fashion-mnist)
#include <cstdlib>
#include <iostream>

#include "volt/volt.h"

using namespace volt;

struct Net : train::LightningModule {
  Net() {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(784, 100, true, &gen));
    dropout = register_module("dropout", std::make_shared<nn::Dropout>(0.5, &gen));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(100, 10, true, &gen));
    register_generator("gen", gen);  // checkpoints save and restore its stream
  }
  Tensor forward(const Tensor& x) override { return (*fc2)(dropout->forward(relu((*fc1)(x)))); }
  Tensor training_step(const train::Batch& b, int64_t) override {
    Tensor loss = cross_entropy(forward(b.images), b.labels);
    log("train_loss", loss, {.prog_bar = true});
    return loss;
  }
  void validation_step(const train::Batch& b, int64_t) override {
    const Tensor logits = forward(b.images);
    log("val_loss", cross_entropy(logits, b.labels), {.prog_bar = true});
    log("val_acc", eq(logits.argmax(1), b.labels).to(DType::f32).mean(), {.prog_bar = true});
  }
  train::OptimizerLRScheduler configure_optimizers() override {
    return {std::make_shared<optim::Adam>(parameters(), optim::AdamOptions(1e-3))};
  }
  Generator gen{0};
  std::shared_ptr<nn::Linear> fc1, fc2;
  std::shared_ptr<nn::Dropout> dropout;
};

int main(int argc, char** argv) try {
  const std::string dir = data::default_fashion_mnist_dir();
  data::DataLoader train(data::FashionMnist(data::Split::train, dir), {.batch_size = 64, .shuffle = true});
  data::DataLoader val(data::FashionMnist(data::Split::test, dir), {.batch_size = 1000});
  Net net;
  train::Trainer trainer({.max_epochs = argc > 1 ? std::atoll(argv[1]) : 2, .default_root_dir = "out/trainer_example"});
  trainer.fit(net, train, val);
  std::cout << "val_acc " << trainer.callback_metrics().at("val_acc").item<double>() << "\n";
} catch (const std::exception& e) {
  std::cerr << "trainer_example: " << e.what() << "\n";
  return 1;
}
