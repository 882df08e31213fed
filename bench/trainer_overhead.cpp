// The Trainer's cost per step against the hand-written loop of the main job: the same network,
// loader and Adam, one epoch each, in turn (hand, trainer, hand, trainer, ...), so that both see
// the same machine. The Trainer runs without validation, logger, checkpoints and progress bar
// (what the hand loop does not do either); its training_step logs the loss (on_epoch), as the
// hand loop adds it up on the device.
//
//   build/bench/trainer_overhead [rounds (default 5)] [threads (default 1)]
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <vector>

#include "volt/volt.h"

using namespace volt;
using Clock = std::chrono::steady_clock;

namespace {

struct Net : train::LightningModule {
  Net() {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(784, 100, true, &gen));
    dropout = register_module("dropout", std::make_shared<nn::Dropout>(0.5, &gen));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(100, 10, true, &gen));
    register_generator("gen", gen);
  }
  Tensor forward(const Tensor& x) override { return (*fc2)(dropout->forward(relu((*fc1)(x)))); }
  Tensor training_step(const train::Batch& b, int64_t) override {
    Tensor loss = cross_entropy(forward(b.images), b.labels);
    log("train_loss", loss);
    return loss;
  }
  train::OptimizerLRScheduler configure_optimizers() override {
    return {std::make_shared<optim::Adam>(parameters(), optim::AdamOptions(1e-3))};
  }
  Generator gen{0};
  std::shared_ptr<nn::Linear> fc1, fc2;
  std::shared_ptr<nn::Dropout> dropout;
};

double hand_loop(data::DataLoader& loader) {
  Net net;
  optim::Adam adam(net.parameters(), optim::AdamOptions(1e-3));
  Tensor loss_sum = zeros({});
  const auto start = Clock::now();
  net.train();
  for (const data::Batch& b : loader) {
    Tensor loss = cross_entropy(net.forward(b.images), b.labels);
    adam.zero_grad();
    loss.backward();
    adam.step();
    NoGradGuard no_grad;
    loss_sum.add_(loss.detach());
  }
  (void)loss_sum.item<double>();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double trainer_loop(data::DataLoader& loader) {
  Net net;
  train::Trainer trainer({.max_epochs = 1,
                          .num_sanity_val_steps = 0,
                          .enable_progress_bar = false,
                          .enable_checkpointing = false,
                          .logger = false});
  const auto start = Clock::now();
  trainer.fit(net, loader);
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) try {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 5;
  set_num_threads(argc > 2 ? std::atoi(argv[2]) : 1);
  set_flush_denormal(true);  // as the main job
  data::DataLoader loader(data::FashionMnist(data::Split::train, data::default_fashion_mnist_dir()),
                          {.batch_size = 64, .shuffle = true});
  const double steps = static_cast<double>(loader.size());
  std::vector<double> hand, trainer, ratio;
  for (int r = 0; r < rounds; ++r) {
    hand.push_back(hand_loop(loader));
    trainer.push_back(trainer_loop(loader));
    ratio.push_back(trainer.back() / hand.back());
    std::cout << "round " << r + 1 << ": hand " << std::fixed << std::setprecision(3) << hand.back() << " s, trainer "
              << trainer.back() << " s" << std::endl;
  }
  std::cout << "per step (median of " << rounds << ", " << loader.size() << " steps an epoch, " << get_num_threads()
            << " thread(s)): hand " << std::setprecision(1) << median(hand) / steps * 1e6 << " us, trainer "
            << median(trainer) / steps * 1e6 << " us; trainer / hand " << std::setprecision(3) << median(ratio)
            << " (median of the per-round ratios)\n";
} catch (const std::exception& e) {
  std::cerr << "trainer_overhead: " << e.what() << "\n";
  return 1;
}
