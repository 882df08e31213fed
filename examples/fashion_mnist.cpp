// volt's main job: train the classic MNIST-style network (784 → 100, ReLU, dropout 0.5,
// 100 → 10, cross-entropy) on Fashion-MNIST, on the Trainer (train/trainer.h).
//
//   fashion_mnist [--max-epochs N] [--batch-size N] [--lr X] [--optimizer sgd|adam|adamw]
//                 [--precision 32-true|16-mixed|bf16-mixed] [--strategy auto|ddp|dp]
//                 [--devices N|LIST] [--cuda-graph auto|on|off] [--val-size N] [--ckpt-path DIR|last] ...
//                 (see --help)
//   fashion_mnist sweep --out DIR --param NAME=DOMAIN... [sweep options] [-- training flags]
//   fashion_mnist lr-find [range options] [training flags]
//
// A fixed, seeded part of the training set (--val-size samples, 5000 by default) is held out
// for validation; the test set is evaluated after every epoch. Writes model.safetensors (names
// as PyTorch's equivalent module: fc1.weight, fc1.bias, fc2.weight, fc2.bias),
// optimizer.safetensors and metrics.csv (a row an epoch) to --out, the Trainer's CSVLogger run
// below --out/lightning_logs, and checkpoints to --out/checkpoints (resume: --ckpt-path last).
//
// --strategy ddp, under mpirun -np N: each rank trains on its shard of every epoch
// (DistributedSampler) with DistributedDataParallel averaging the gradients, so the global batch
// is N × --batch-size; rank 0 alone prints and writes the files.
//
// --strategy dp --devices cpu,cpu (or cuda:0,cuda:0, or a count): one process, each batch cut
// over replicas of the network on the devices; the network lives on the first device, the
// optimizer steps its parameters and the files hold its state, under the same names as without dp.
#include "volt/data/fashion_mnist.h"

#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

#include "volt/data/data_loader.h"
#include "volt/nn/serialize.h"
#include "volt/volt.h"

using namespace volt;

namespace {

struct Options {
  int64_t epochs = 10;  // --max-epochs (--epochs)
  int64_t batch_size = 64;
  double lr = 1e-3;
  std::string optimizer = "adam";
  double momentum = 0.9;
  double weight_decay = 0.0;
  uint64_t seed = 0;
  std::string device = "auto";
  std::string precision = "32-true";    // Lightning's names
  std::string cuda_graph = "auto";      // the Trainer's cuda_graph: unset, true, false
  std::string data_on_device = "auto";  // auto: on a GPU (one process)
  std::string strategy = "auto";        // auto: one process; ddp: DistributedDataParallel over MPI;
                                        // dp: DataParallel over `devices` in one process
  std::vector<Device> devices;          // --devices LIST, for dp
  int64_t device_count = 0;             // --devices N, for dp
  std::string backend = "auto";         // ddp's process group: auto (nccl on a GPU, else mpi), mpi, nccl
  bool flush_denormal = true;
  int threads = 0;  // 0: volt's default (VOLT_NUM_THREADS, else the CPUs this process may use)
  std::string data = data::default_fashion_mnist_dir();
  std::string out = "out/fashion_mnist";
  std::string load;
  std::string summary_json;
  // The held-out validation split of the training set, and the seed that picks it.
  int64_t val_size = 5000;
  uint64_t split_seed = 42;
  // The Trainer's options (Lightning's names, the flags' spelling).
  int64_t accumulate_grad_batches = 1;
  std::optional<double> gradient_clip_val;
  std::string gradient_clip_algorithm = "norm";
  std::optional<train::BatchCount> val_check_interval;
  std::string ckpt_path;
  int64_t fast_dev_run = 0;
  train::BatchCount limit_train_batches = 1.0;
  int64_t early_stopping_patience = 0;   // 0: no early stopping
  int64_t checkpoint_every_n_steps = 0;  // 0: a checkpoint at each epoch's end only
  bool deterministic = false;
  // fashion_mnist lr-find: the learning-rate range test instead of training.
  bool lr_find = false;
  train::LRFinderOptions finder;
};

const char* kUsage =
    "usage: fashion_mnist [options]\n"
    "  --max-epochs N       training epochs (--epochs N too); 0 only evaluates (default 10)\n"
    "  --batch-size N       samples per step (default 64)\n"
    "  --lr X               learning rate (default 1e-3)\n"
    "  --optimizer NAME     sgd, adam or adamw (default adam)\n"
    "  --momentum X         SGD momentum (default 0.9)\n"
    "  --weight-decay X     weight decay (default 0, adamw: 0.01 unless given)\n"
    "  --seed N             seed for initialisation, dropout and shuffling (default 0)\n"
    "  --val-size N         training samples held out for validation, a fixed split\n"
    "                       (default 5000; 0: train on all 60000, no validation)\n"
    "  --split-seed N       the seed that picks them (default 42)\n"
    "  --device NAME        auto, cpu or cuda[:N] (default auto)\n"
    "  --precision P        32-true, 16-mixed (f16 autocast and a GradScaler) or bf16-mixed\n"
    "                       (bf16 autocast); 32, 16 and bf16 too (default 32-true). The\n"
    "                       weights stay f32, and so does model.safetensors\n"
    "  --cuda-graph M       on a GPU, the training step as one CUDA graph after a warm-up batch:\n"
    "                       auto (where the run allows it), on (an error where it does not) or\n"
    "                       off (default auto)\n"
    "  --data-on-device M   the training set kept on the device, each batch gathered there (no\n"
    "                       host copy a step; the same batches): auto (on a GPU, one process),\n"
    "                       on or off (default auto)\n"
    "  --strategy S         auto (one process), ddp (under mpirun -np N: N ranks, each on its\n"
    "                       shard with --batch-size samples per step; rank 0 prints and writes)\n"
    "                       or dp (one process, DataParallel over --devices: each batch split\n"
    "                       along its samples over one replica a device, one thread each)\n"
    "  --devices N|LIST     dp's devices: a count (N GPUs, or N CPU replicas with --device cpu)\n"
    "                       or a comma-separated list in which a device may repeat: cpu,cpu or\n"
    "                       cuda:0,cuda:0 (required with dp); the network lives on the first\n"
    "                       of them, which is where the output is gathered\n"
    "  --process-group-backend B  ddp's collectives: auto (nccl with --device cuda, one GPU\n"
    "                       per rank; mpi on the CPU), mpi (any device, CUDA through host copies)\n"
    "                       or nccl (default auto)\n"
    "  --accumulate-grad-batches N  an optimizer step every N batches (default 1)\n"
    "  --gradient-clip-val X        clip the gradients' 2-norm (or, with\n"
    "  --gradient-clip-algorithm value, each value) to X before a step\n"
    "  --val-check-interval N|F     validate every N batches or F of an epoch (default: at\n"
    "                       each epoch's end)\n"
    "  --limit-train-batches N|F    batches an epoch: a count or a fraction (default 1.0)\n"
    "  --fast-dev-run N     N batches of training and validation, one epoch, nothing written\n"
    "  --early-stopping-patience N  stop after N validations without a lower val_loss\n"
    "  --checkpoint-every-n-steps N checkpoint every N optimizer steps too (default: each\n"
    "                       epoch's end; --out/checkpoints, the newest kept, 'last' links it)\n"
    "  --ckpt-path DIR|last resume from a checkpoint folder, or the newest in --out/checkpoints;\n"
    "                       the run continues at the exact batch. SIGTERM checkpoints and exits 0\n"
    "  --deterministic on|off  refuse a resume at another thread count or on other dp devices\n"
    "                       (default off; volt's kernels are deterministic either way)\n"
    "  --threads N          CPU threads (default $VOLT_NUM_THREADS, else the CPUs this\n"
    "                       process may run on); a fixed count gives bitwise-identical runs\n"
    "  --flush-denormal on|off  flush subnormal floats to zero on the CPU, as\n"
    "                       torch.set_flush_denormal(True) (default on: Adam's moments of\n"
    "                       always-zero pixels decay into them and slow every step)\n"
    "  --data DIR           Fashion-MNIST IDX files (default $VOLT_FASHION_MNIST_DIR or\n"
    "                       /usr/share/datasets/fashion-mnist)\n"
    "  --out DIR            where model.safetensors, optimizer.safetensors, metrics.csv,\n"
    "                       lightning_logs/ and checkpoints/ go (default out/fashion_mnist)\n"
    "  --load FILE          start from this model.safetensors\n"
    "  --summary-json FILE  write the final figures as JSON\n"
    "fashion_mnist sweep --help: hyperparameter search over trials of this job\n"
    "fashion_mnist lr-find [--min-lr X] [--max-lr X] [--num-training N] [--lr-mode M] [options]:\n"
    "  the learning-rate range test (Lightning's lr_find: 1e-8 to 1 over 100 steps, exponential\n"
    "  or linear) on the training set with the options above; prints the suggested rate and\n"
    "  writes lr_find.csv and lr_find.json to --out; the network is left untouched\n";

// Numbers on the command line are parsed whole, with std::from_chars: no sign for an unsigned
// value (an istream reads "-1" as 2^64-1), no trailing characters ("10x"), no leading spaces,
// nothing empty, nothing out of the type's range; and a double must be finite. Each error names
// the flag and quotes the value.
template <class T>
T parse_integer(const std::string& flag, const std::string& text) {
  static_assert(std::is_integral_v<T>);
  VOLT_CHECK(!text.empty(), flag, ": expected a whole number, got an empty value");
  const bool minus_digits =
      text.size() > 1 && text[0] == '-' && text.find_first_not_of("0123456789", 1) == std::string::npos;
  VOLT_CHECK(std::is_signed_v<T> || !minus_digits, flag, ": '", text,
             "' is negative; expected a whole number from 0 to ", std::numeric_limits<T>::max());
  T value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  VOLT_CHECK(ec != std::errc::result_out_of_range, flag, ": '", text, "' is out of range (",
             std::numeric_limits<T>::min(), " to ", std::numeric_limits<T>::max(), ")");
  VOLT_CHECK(ec == std::errc() && end == text.data() + text.size(), flag, ": '", text, "' is not a whole number");
  return value;
}

double parse_double(const std::string& flag, const std::string& text) {
  VOLT_CHECK(!text.empty(), flag, ": expected a number, got an empty value");
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  VOLT_CHECK(ec != std::errc::result_out_of_range, flag, ": '", text, "' is out of the range of a double");
  VOLT_CHECK(ec == std::errc() && end == text.data() + text.size(), flag, ": '", text, "' is not a number");
  VOLT_CHECK(std::isfinite(value), flag, ": '", text, "' is not a finite number");
  return value;
}

// A comma-separated list of devices ("cpu,cpu", "cuda:0,cuda:1"); an error names a bad entry.
std::vector<Device> parse_devices(const std::string& flag, const std::string& text) {
  std::vector<Device> devices;
  std::size_t start = 0;
  for (int entry = 1;; ++entry) {
    const std::size_t comma = text.find(',', start);
    const std::string name = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    try {
      devices.push_back(Device::parse(name));
    } catch (const Error&) {
      VOLT_FAIL(flag, ": entry ", entry, " of '", text, "', '", name, "', is not a device (cpu, cuda or cuda:N)");
    }
    if (comma == std::string::npos) return devices;
    start = comma + 1;
  }
}

// Lightning's int-or-float batch counts: "10" is 10 batches, "0.25" a quarter of the epoch.
train::BatchCount parse_batch_count(const std::string& flag, const std::string& text) {
  if (text.find_first_of(".eE") == std::string::npos) return parse_integer<int64_t>(flag, text);
  const double fraction = parse_double(flag, text);
  VOLT_CHECK(fraction >= 0.0 && fraction <= 1.0, flag, ": a fraction of the epoch must be in [0, 1], got '", text,
             "' (a count of batches is written without a decimal point)");
  return fraction;
}

bool parse_on_off(const std::string& flag, const std::string& text) {
  VOLT_CHECK(text == "on" || text == "off", flag, ": expected on or off, got '", text, "'");
  return text == "on";
}

Options parse_args(int argc, char** argv, bool& weight_decay_given, bool lr_find) {
  Options o;
  o.lr_find = lr_find;
  weight_decay_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    VOLT_CHECK(i + 1 < argc, "missing value for ", flag);
    const std::string value = argv[++i];
    if (flag == "--epochs" || flag == "--max-epochs")
      o.epochs = parse_integer<int64_t>(flag, value);
    else if (flag == "--batch-size")
      o.batch_size = parse_integer<int64_t>(flag, value);
    else if (flag == "--lr")
      o.lr = parse_double(flag, value);
    else if (flag == "--optimizer")
      o.optimizer = value;
    else if (flag == "--momentum")
      o.momentum = parse_double(flag, value);
    else if (flag == "--weight-decay")
      o.weight_decay = parse_double(flag, value), weight_decay_given = true;
    else if (flag == "--seed")
      o.seed = parse_integer<uint64_t>(flag, value);
    else if (flag == "--device")
      o.device = value;
    else if (flag == "--data-on-device") {
      VOLT_CHECK(value == "auto" || value == "on" || value == "off",
                 "--data-on-device: expected auto, on or off, got '", value, "'");
      o.data_on_device = value;
    } else if (flag == "--cuda-graph") {
      VOLT_CHECK(value == "auto" || value == "on" || value == "off", "--cuda-graph: expected auto, on or off, got '",
                 value, "'");
      o.cuda_graph = value;
    } else if (flag == "--strategy") {
      VOLT_CHECK(value == "auto" || value == "ddp" || value == "dp", "--strategy: expected auto, ddp or dp, got '",
                 value, "'");
      o.strategy = value;
    } else if (flag == "--process-group-backend") {
      VOLT_CHECK(value == "auto" || value == "mpi" || value == "nccl",
                 "--process-group-backend: expected auto, mpi or nccl, got '", value, "'");
      o.backend = value;
    } else if (flag == "--devices") {
      if (!value.empty() && value.find_first_not_of("0123456789") == std::string::npos) {
        o.device_count = parse_integer<int64_t>(flag, value);
        VOLT_CHECK(o.device_count >= 1, "--devices: must be at least 1, got ", o.device_count);
      } else {
        o.devices = parse_devices(flag, value);
      }
    } else if (flag == "--val-size")
      o.val_size = parse_integer<int64_t>(flag, value);
    else if (flag == "--split-seed")
      o.split_seed = parse_integer<uint64_t>(flag, value);
    else if (flag == "--accumulate-grad-batches") {
      o.accumulate_grad_batches = parse_integer<int64_t>(flag, value);
      VOLT_CHECK(o.accumulate_grad_batches >= 1, "--accumulate-grad-batches: must be at least 1, got ",
                 o.accumulate_grad_batches);
    } else if (flag == "--gradient-clip-val") {
      o.gradient_clip_val = parse_double(flag, value);
      VOLT_CHECK(*o.gradient_clip_val >= 0, "--gradient-clip-val: must be 0 or more, got ", *o.gradient_clip_val);
    } else if (flag == "--gradient-clip-algorithm") {
      VOLT_CHECK(value == "norm" || value == "value", "--gradient-clip-algorithm: expected norm or value, got '", value,
                 "'");
      o.gradient_clip_algorithm = value;
    } else if (flag == "--val-check-interval")
      o.val_check_interval = parse_batch_count(flag, value);
    else if (flag == "--limit-train-batches")
      o.limit_train_batches = parse_batch_count(flag, value);
    else if (flag == "--fast-dev-run")
      o.fast_dev_run = parse_integer<int64_t>(flag, value);
    else if (flag == "--early-stopping-patience")
      o.early_stopping_patience = parse_integer<int64_t>(flag, value);
    else if (flag == "--checkpoint-every-n-steps")
      o.checkpoint_every_n_steps = parse_integer<int64_t>(flag, value);
    else if (flag == "--ckpt-path")
      o.ckpt_path = value;
    else if (flag == "--deterministic")
      o.deterministic = parse_on_off(flag, value);
    else if (flag == "--precision") {
      o.precision = value == "32" ? "32-true" : value == "16" ? "16-mixed" : value == "bf16" ? "bf16-mixed" : value;
      VOLT_CHECK(o.precision == "32-true" || o.precision == "16-mixed" || o.precision == "bf16-mixed",
                 "--precision: expected 32-true, 16-mixed or bf16-mixed (or 32, 16, bf16), got '", value, "'");
    } else if (flag == "--threads") {
      o.threads = parse_integer<int>(flag, value);
      VOLT_CHECK(o.threads >= 1, "--threads: must be at least 1, got ", o.threads);
    } else if (flag == "--flush-denormal")
      o.flush_denormal = parse_on_off(flag, value);
    else if (flag == "--data")
      o.data = value;
    else if (flag == "--out")
      o.out = value;
    else if (flag == "--load")
      o.load = value;
    else if (flag == "--summary-json")
      o.summary_json = value;
    else if (o.lr_find && flag == "--min-lr")
      o.finder.min_lr = parse_double(flag, value);
    else if (o.lr_find && flag == "--max-lr")
      o.finder.max_lr = parse_double(flag, value);
    else if (o.lr_find && flag == "--num-training")
      o.finder.num_training = parse_integer<int64_t>(flag, value);
    else if (o.lr_find && flag == "--lr-mode")
      o.finder.mode = value;
    else
      VOLT_FAIL("unknown option ", flag, " (see --help)");
  }
  VOLT_CHECK(o.epochs >= 0, "--epochs: must be 0 (evaluate only) or more, got ", o.epochs);
  VOLT_CHECK(o.batch_size > 0, "--batch-size: must be positive, got ", o.batch_size);
  VOLT_CHECK(o.lr > 0, "--lr: must be positive, got ", o.lr);
  // The optimizers refuse these too, but later and without the flag's name.
  VOLT_CHECK(o.momentum >= 0, "--momentum: must be 0 or more, got ", o.momentum);
  VOLT_CHECK(o.weight_decay >= 0, "--weight-decay: must be 0 or more, got ", o.weight_decay);
  VOLT_CHECK(o.optimizer == "sgd" || o.optimizer == "adam" || o.optimizer == "adamw",
             "--optimizer must be sgd, adam or adamw, got ", o.optimizer);
  VOLT_CHECK(o.device == "auto" || o.device == "cpu" || o.device.rfind("cuda", 0) == 0,
             "--device must be auto, cpu or cuda, got ", o.device);
  const bool devices_given = !o.devices.empty() || o.device_count > 0;
  VOLT_CHECK(o.strategy != "dp" || devices_given, "--strategy dp needs --devices (e.g. --devices cpu,cpu or 2)");
  VOLT_CHECK(o.strategy == "dp" || !devices_given, "--devices goes with --strategy dp");
  VOLT_CHECK(o.strategy != "dp" || o.devices.empty() || o.device == "auto",
             "--device does not go with --devices LIST: the network lives on the first of --devices");
  VOLT_CHECK(o.val_size >= 0, "--val-size: must be 0 or more, got ", o.val_size);
  VOLT_CHECK(o.early_stopping_patience >= 0, "--early-stopping-patience: must be 0 (off) or more, got ",
             o.early_stopping_patience);
  VOLT_CHECK(o.early_stopping_patience == 0 || o.val_size > 0,
             "--early-stopping-patience watches val_loss, which --val-size 0 leaves without data");
  VOLT_CHECK(o.checkpoint_every_n_steps >= 0, "--checkpoint-every-n-steps: must be 0 (each epoch's end) or more, got ",
             o.checkpoint_every_n_steps);
  return o;
}

// auto: the first GPU when the CUDA backend is linked in and a device is usable, else the CPU.
Device pick_device(const std::string& name) {
  if (name == "cpu") return Device::cpu();
  if (name == "auto") return cuda::is_available() ? Device::cuda(0) : Device::cpu();
  const Device d = Device::parse(name);
  check_device_usable("--device", d);
  return d;
}

std::unique_ptr<optim::Optimizer> make_optimizer(const Options& o, const std::vector<Tensor>& params,
                                                 bool weight_decay_given) {
  if (o.optimizer == "sgd")
    return std::make_unique<optim::SGD>(params,
                                        optim::SGDOptions(o.lr).momentum(o.momentum).weight_decay(o.weight_decay));
  if (o.optimizer == "adam")
    return std::make_unique<optim::Adam>(params, optim::AdamOptions(o.lr).weight_decay(o.weight_decay));
  optim::AdamOptions a = optim::AdamWOptions(o.lr);
  if (weight_decay_given) a.weight_decay(o.weight_decay);
  return std::make_unique<optim::AdamW>(params, a);
}

// The network, under the attribute names of its PyTorch twin, as a LightningModule:
//   class Net(nn.Module): fc1 = Linear(784, 100); dropout = Dropout(0.5); fc2 = Linear(100, 10)
// Its metrics are logged with sync_dist, so under ddp they are every rank's.
struct Net : train::LightningModule {
  Net(const Options& o, bool weight_decay_given)
      : options(o), weight_decay_given(weight_decay_given), gen(std::make_shared<Generator>(o.seed)) {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(784, 100, true, gen.get()));
    dropout = register_module("dropout", std::make_shared<nn::Dropout>(0.5, gen.get()));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(100, 10, true, gen.get()));
    register_generator("gen", *gen);  // checkpoints save and restore its stream
  }
  // fc1 and its ReLU as one fused op (one kernel forward, a bit mask for backward): the numbers
  // of relu((*fc1)(x)).
  Tensor forward(const Tensor& x) override { return (*fc2)(dropout->forward(linear_relu(x, fc1->weight, fc1->bias))); }
  // dp's replicas: copies (sharing the generator, which they do not draw from: DataParallel
  // gives each a stream of its own), the children cloned, the members pointed at the clones.
  std::shared_ptr<nn::Module> clone(const TensorMap& map = {}) const override {
    auto copy = clone_as(*this, map);
    copy->fc1 = copy->registered_module<nn::Linear>("fc1");
    copy->dropout = copy->registered_module<nn::Dropout>("dropout");
    copy->fc2 = copy->registered_module<nn::Linear>("fc2");
    return copy;
  }
  Tensor training_step(const train::Batch& b, int64_t) override {
    Tensor loss = cross_entropy(forward(b.images), b.labels);  // f32 under autocast
    log("train_loss", loss, {.prog_bar = true, .on_step = true, .on_epoch = true, .sync_dist = true});
    return loss;
  }
  void validation_step(const train::Batch& b, int64_t) override {
    const Tensor logits = forward(b.images);
    log("val_loss", cross_entropy(logits, b.labels), {.prog_bar = true, .sync_dist = true});
    log("val_accuracy", eq(argmax(logits, 1), b.labels).to(DType::f32).mean(), {.prog_bar = true, .sync_dist = true});
  }
  train::OptimizerLRScheduler configure_optimizers() override {
    optimizer = make_optimizer(options, parameters(), weight_decay_given);
    return {optimizer};
  }
  nlohmann::json hparams() const override {
    return {{"lr", options.lr},
            {"batch_size", options.batch_size},
            {"optimizer", options.optimizer},
            {"momentum", options.momentum},
            {"weight_decay", options.weight_decay},
            {"seed", options.seed},
            {"max_epochs", options.epochs},
            {"val_size", options.val_size},
            {"precision", options.precision},
            {"strategy", options.strategy}};
  }

  Options options;
  bool weight_decay_given;
  std::shared_ptr<Generator> gen;  // shared: a Generator is not copyable, and the replicas copy
  std::shared_ptr<nn::Linear> fc1;
  std::shared_ptr<nn::Dropout> dropout;
  std::shared_ptr<nn::Linear> fc2;
  std::shared_ptr<optim::Optimizer> optimizer;
};

struct Evaluation {
  double loss = 0, accuracy = 0;
};

// The forward under the run's precision: autocast to f16 or bf16 for the mixed ones.
std::optional<DType> autocast_dtype(const std::string& precision) {
  if (precision == "16-mixed") return DType::f16;
  if (precision == "bf16-mixed") return DType::bf16;
  return std::nullopt;
}

// The test set's loss and accuracy, every sample once, on this process alone (no collective).
Evaluation evaluate(nn::Module& net, data::DataLoader& loader, std::optional<DType> half) {
  NoGradGuard no_grad;
  const bool training = net.is_training();
  net.eval();
  const Device device = net.parameters().front().device();
  Tensor loss_sum = zeros({}, TensorOptions(DType::f32).device(device));
  Tensor correct = zeros({}, TensorOptions(DType::i64).device(device));
  for (const data::Batch& b : loader) {
    const AutocastGuard autocast(device.type, half, half.has_value());
    const Tensor logits = net(b.images.to(device));
    const Tensor labels = b.labels.to(device);
    loss_sum.add_(cross_entropy(logits, labels, {Reduction::sum}));  // f32 under autocast
    correct.add_(sum(eq(argmax(logits, 1), labels)));
  }
  net.train(training);
  const auto n = static_cast<double>(loader.dataset_size());
  return {loss_sum.item<double>() / n, static_cast<double>(correct.item<int64_t>()) / n};
}

// The main job's own callback: after each epoch, on rank 0, the test set's figures and the epoch's
// training speed, a line on stdout and a row of --out/metrics.csv. The rows so far are
// its checkpointed state, so a resumed run's file holds the epochs before the resume too.
class EpochTable : public train::Callback {
 public:
  static constexpr const char* kHeader =
      "epoch,train_loss,val_loss,val_accuracy,test_loss,test_accuracy,samples_per_second,train_seconds";
  struct Row {
    int64_t epoch = 0;
    double train_loss = 0, val_loss = NAN, val_accuracy = NAN, test_loss = 0, test_accuracy = 0;
    double samples_per_second = 0, train_seconds = 0;
  };

  EpochTable(std::string path, data::DataLoader test_loader, std::optional<DType> half)
      : path_(std::move(path)), test_loader_(std::move(test_loader)), half_(half) {}

  std::string state_key() const override { return "EpochTable"; }
  nlohmann::json state_dict() const override {
    nlohmann::json rows = nlohmann::json::array();
    for (const Row& r : rows_)
      rows.push_back({r.epoch, number(r.train_loss), number(r.val_loss), number(r.val_accuracy), r.test_loss,
                      r.test_accuracy, r.samples_per_second, r.train_seconds});
    return {{"rows", rows}};
  }
  void load_state_dict(const nlohmann::json& state) override {
    rows_.clear();
    for (const nlohmann::json& r : state.at("rows")) {
      auto value = [&](int i) { return r.at(i).is_null() ? NAN : r.at(i).get<double>(); };
      rows_.push_back({r.at(0).get<int64_t>(), value(1), value(2), value(3), value(4), value(5), value(6), value(7)});
    }
  }

  void on_fit_start(train::Trainer& trainer, train::LightningModule&) override {
    if (!trainer.is_global_zero()) return;
    file_.open(path_, std::ios::trunc);
    VOLT_CHECK(file_.good(), "cannot write ", path_);
    file_ << kHeader << '\n';
    for (const Row& r : rows_)
      write(r);
    file_ << std::flush;
  }
  void on_train_start(train::Trainer&, train::LightningModule&) override { start_epoch(); }
  void on_train_epoch_start(train::Trainer&, train::LightningModule&) override { start_epoch(); }
  void on_train_batch_end(train::Trainer&, train::LightningModule&, const Tensor&, const train::Batch& batch,
                          int64_t) override {
    samples_ += batch.labels.size(0);
    // The epoch's training ends at its last batch, before its validation and checkpoint.
    last_batch_end_ = Clock::now();
    validation_before_ = validation_seconds_;
  }
  void on_validation_start(train::Trainer& trainer, train::LightningModule&) override {
    if (!trainer.sanity_checking()) validation_start_ = Clock::now();
  }
  void on_validation_end(train::Trainer& trainer, train::LightningModule&) override {
    if (!trainer.sanity_checking()) validation_seconds_ += seconds_since(validation_start_);
  }
  void on_train_epoch_end(train::Trainer& trainer, train::LightningModule& module) override {
    if (!trainer.is_global_zero()) return;  // the row is rank 0's to print and write
    Row r;
    r.epoch = trainer.current_epoch() + 1;
    r.train_seconds = std::chrono::duration<double>(last_batch_end_ - epoch_start_).count() - validation_before_;
    r.samples_per_second = static_cast<double>(samples_ * trainer.world_size()) / r.train_seconds;  // all ranks'
    const train::Metrics& m = trainer.callback_metrics();
    auto metric = [&](const char* name) { return m.contains(name) ? m.at(name).item<double>() : NAN; };
    r.train_loss = metric("train_loss_epoch");
    r.val_loss = metric("val_loss");
    r.val_accuracy = metric("val_accuracy");
    const Evaluation test = evaluate(module, test_loader_, half_);
    r.test_loss = test.loss;
    r.test_accuracy = test.accuracy;
    rows_.push_back(r);
    std::cout << "epoch " << r.epoch;
    if (trainer.max_epochs() != -1) std::cout << '/' << trainer.max_epochs();
    std::cout << std::fixed << std::setprecision(4) << "  train loss " << r.train_loss;
    if (!std::isnan(r.val_loss)) std::cout << "  val loss " << r.val_loss << "  val accuracy " << r.val_accuracy;
    std::cout << "  test loss " << r.test_loss << "  test accuracy " << r.test_accuracy << "  " << std::setprecision(0)
              << r.samples_per_second << " samples/s" << std::endl;  // flushed: a log being followed sees each epoch
    write(r);
    file_ << std::flush;
  }

  const std::vector<Row>& rows() const { return rows_; }

 private:
  using Clock = std::chrono::steady_clock;
  static double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
  static nlohmann::json number(double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); }
  void start_epoch() {
    epoch_start_ = last_batch_end_ = Clock::now();
    validation_seconds_ = validation_before_ = 0;
    samples_ = 0;
  }
  void write(const Row& r) {
    auto cell = [](double v) {
      std::ostringstream text;
      if (!std::isnan(v)) text << v;
      return text.str();
    };
    file_ << r.epoch << ',' << cell(r.train_loss) << ',' << cell(r.val_loss) << ',' << cell(r.val_accuracy) << ','
          << r.test_loss << ',' << r.test_accuracy << ',' << r.samples_per_second << ',' << r.train_seconds << '\n';
  }

  std::string path_;
  data::DataLoader test_loader_;
  std::optional<DType> half_;
  std::ofstream file_;
  std::vector<Row> rows_;
  Clock::time_point epoch_start_, last_batch_end_, validation_start_;
  double validation_seconds_ = 0, validation_before_ = 0;  // all, and before the latest batch's end
  int64_t samples_ = 0;
};

const char* kSweepUsage =
    "usage: fashion_mnist sweep --out DIR --param NAME=DOMAIN... [options] [-- TRAINING FLAGS]\n"
    "  Trials of the main job, each its own process with its own folder DIR/trial-NNN; the\n"
    "  flags after -- go to every trial, each parameter as --NAME VALUE (batch_size: --batch-size).\n"
    "  --param NAME=DOMAIN  uniform(a,b), loguniform(a,b), randint(a,b) (a <= x < b),\n"
    "                       choice(v,...), grid(v,...) or a value; repeatable\n"
    "  --space FILE         parameters from a JSON object ({\"lr\": \"loguniform(1e-4,1e-1)\",\n"
    "                       \"batch_size\": [32, 64]}: an array is a grid)\n"
    "  --search S           grid (every combination of the lists) or random (default random)\n"
    "  --trials N           random search: how many trials (default 10)\n"
    "  --seed N             random search: the draws; the same seed, the same trials (default 0)\n"
    "  --parallel K         trials at once, each with its share of the CPUs (default 1)\n"
    "  --gpus LIST          give each trial one of these GPUs, round-robin (CUDA_VISIBLE_DEVICES)\n"
    "  --metric NAME        the metrics.csv column to optimise (default val_accuracy, the\n"
    "                       held-out split's, which keeps the test set out of the choice)\n"
    "  --metrics-file PATH  where a trial writes its results, below its folder (default\n"
    "                       metrics.csv; a Trainer program: lightning_logs/version_0/metrics.csv)\n"
    "  --mode max|min       which way it is better (default max)\n"
    "  --scheduler S        none or asha: stop poor trials at rungs (default none)\n"
    "  --grace-epochs G     asha's first rung, in results: epochs of this job (default 1)\n"
    "  --reduction-factor R asha's rung spacing; 1/R of the trials go on (default 3)\n"
    "  Writes DIR/results.csv (a row per trial) and prints the best trial's command line. The\n"
    "  same command on the same DIR resumes: trials that ended are kept. Ctrl-C stops the trials\n"
    "  and exits 130. Under mpirun -np N, rank 0 schedules and the other ranks run the trials\n"
    "  (--parallel each), in a DIR they all see.\n";

int sweep(int argc, char** argv) {
  train::SweepOptions o;
  o.metric = "val_accuracy";  // the held-out split's: the test set stays out of the choice
  std::vector<std::string> params, train_flags;
  std::string space_file, scheduler = "none";
  train::AshaOptions asha;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << kSweepUsage;
      return 0;
    }
    if (flag == "--") {
      train_flags.assign(argv + i + 1, argv + argc);
      break;
    }
    VOLT_CHECK(i + 1 < argc, "sweep: missing value for ", flag);
    const std::string value = argv[++i];
    if (flag == "--out")
      o.out = value;
    else if (flag == "--param")
      params.push_back(value);
    else if (flag == "--space")
      space_file = value;
    else if (flag == "--search")
      o.search = value;
    else if (flag == "--trials")
      o.trials = parse_integer<int64_t>(flag, value);
    else if (flag == "--seed")
      o.seed = parse_integer<uint64_t>(flag, value);
    else if (flag == "--parallel")
      o.parallel = parse_integer<int64_t>(flag, value);
    else if (flag == "--gpus") {
      std::stringstream list(value);
      for (std::string g; std::getline(list, g, ',');)
        o.gpus.push_back(std::to_string(parse_integer<int>(flag, g)));
    } else if (flag == "--metric")
      o.metric = value;
    else if (flag == "--metrics-file")
      o.metrics_file = value;
    else if (flag == "--mode")
      o.mode = value;
    else if (flag == "--scheduler") {
      VOLT_CHECK(value == "none" || value == "asha", "--scheduler: expected none or asha, got '", value, "'");
      scheduler = value;
    } else if (flag == "--grace-epochs")
      asha.grace_period = parse_integer<int64_t>(flag, value);
    else if (flag == "--reduction-factor")
      asha.reduction_factor = parse_double(flag, value);
    else
      VOLT_FAIL("sweep: unknown option ", flag, " (see fashion_mnist sweep --help; training flags go after --)");
  }
  VOLT_CHECK(!o.out.empty(), "sweep: --out DIR is required (the sweep's folder)");
  o.space = space_file.empty() ? train::SearchSpace() : train::SearchSpace::from_json_file(space_file);
  const train::SearchSpace given = train::SearchSpace::parse(params);
  for (const auto& [name, domain] : given.params())
    o.space.add(name, domain);
  if (scheduler == "asha") o.asha = asha;
  for (const std::string& f : train_flags)
    VOLT_CHECK(f != "--out",
               "sweep: --out after -- would send every trial to one folder; the sweep gives each its own");
  // The trials run this very program.
  o.command = {std::filesystem::read_symlink("/proc/self/exe").string()};
  o.command.insert(o.command.end(), train_flags.begin(), train_flags.end());

  // Under mpirun (or srun) the ranks share the sweep: rank 0 schedules, the others run trials.
  bool job = false;
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"})
    if (const char* v = std::getenv(name)) job = job || std::atoi(v) > 1;
  if (job) parallel::init_process_group("mpi");
  std::vector<train::TrialResult> results;
  try {
    results = train::run_sweep(o);
  } catch (const train::SweepInterrupted& e) {
    std::cerr << e.what() << '\n';
    if (job) parallel::abort_job(130);
    return 130;
  }
  const bool chief = !job || parallel::get_rank() == 0;
  if (job) parallel::destroy_process_group();
  if (!chief) return 0;
  // The table: a column per parameter, as wide as its longest value.
  std::vector<std::size_t> width;
  for (const auto& [name, d] : o.space.params())
    width.push_back(name.size() + 2);
  for (const train::TrialResult& r : results)
    for (std::size_t p = 0; p < r.config.size(); ++p)
      width[p] = std::max(width[p], r.config[p].second.size() + 2);
  std::cout << "\n" << std::left << std::setw(7) << "trial" << std::setw(13) << "status";
  for (std::size_t p = 0; p < width.size(); ++p)
    std::cout << std::setw(static_cast<int>(width[p])) << o.space.params()[p].first;
  std::cout << "best " << o.metric << "\n";
  for (const train::TrialResult& r : results) {
    std::cout << std::setw(7) << r.id << std::setw(13) << r.status;
    for (std::size_t p = 0; p < r.config.size(); ++p)
      std::cout << std::setw(static_cast<int>(width[p])) << r.config[p].second;
    std::cout << std::setw(10) << (std::isfinite(r.best) ? std::to_string(r.best) : "-")
              << (r.reason.empty() ? "" : "  " + r.reason) << "\n";
  }
  std::cout << std::right;
  const train::TrialResult* best = train::best_trial(results, o.mode);
  std::cout << "results: " << o.out << "/results.csv\n";
  VOLT_CHECK(best != nullptr, "sweep: no trial produced a finite ", o.metric, "; see the trials' stderr.log in ",
             o.out);
  std::cout << "best: trial " << best->id << ", " << o.metric << " " << std::setprecision(6) << best->best << "\n  "
            << train::shell_line(best->command) << "\n";
  return 0;
}

// fashion_mnist lr-find: the range test over the training batches (the loader's order, again
// from the start when the steps outnumber them), in the precision asked for.
int find_lr(const Options& o, nn::Module& model, optim::Optimizer& optimizer, data::DataLoader& loader,
            const Device& device, std::optional<DType> half, Generator& gen) {
  VOLT_CHECK(o.strategy == "auto", "lr-find runs in one process, without --strategy ", o.strategy);
  VOLT_CHECK(o.precision != "16-mixed",
             "lr-find: 16-mixed needs a GradScaler, which the range test does not run; use 32-true or bf16-mixed");
  auto batch = loader.begin();
  const train::LRFinderResult r =
      train::lr_find(model, optimizer,
                     [&](int64_t) {
                       if (batch == loader.end()) batch = loader.begin();
                       const data::Batch b = *batch;
                       ++batch;
                       const AutocastGuard autocast(device.type, half, half.has_value());
                       return cross_entropy(model(b.images.to(device)), b.labels.to(device));
                     },
                     o.finder, {&gen, &default_generator()});
  std::filesystem::create_directories(o.out);
  r.write_csv(o.out + "/lr_find.csv");
  nlohmann::json summary = {
      {"min_lr", o.finder.min_lr}, {"max_lr", o.finder.max_lr}, {"num_training", o.finder.num_training},
      {"mode", o.finder.mode},     {"steps", r.lrs.size()},     {"stopped_early", r.stopped_early}};
  summary["suggestion"] = r.suggestion ? nlohmann::json(*r.suggestion) : nlohmann::json(nullptr);
  std::ofstream(o.out + "/lr_find.json") << summary.dump(2) << "\n";
  std::cout << "lr-find: " << r.lrs.size() << " steps from " << r.lrs.front() << " to " << r.lrs.back()
            << (r.stopped_early ? " (stopped early: the loss diverged)" : "") << "\n";
  VOLT_CHECK(r.suggestion.has_value(), "lr-find: too few steps to suggest a rate (", r.lrs.size(), "); see ", o.out,
             "/lr_find.csv");
  std::cout << "suggested learning rate " << *r.suggestion << "  (" << o.out << "/lr_find.csv, lr_find.json)\n";
  return 0;
}

// dp's devices: the list given, or for a count N, cuda:0 .. cuda:N-1 on a GPU (--device cuda, or
// auto with one usable) and N CPU replicas otherwise.
std::vector<Device> dp_devices(const Options& o) {
  if (o.device_count == 0) return o.devices;
  std::vector<Device> devices;
  const bool gpu = o.device != "cpu" && (o.device != "auto" || cuda::is_available());
  for (int64_t i = 0; i < o.device_count; ++i)
    devices.push_back(gpu ? Device::cuda(static_cast<int>(i)) : Device::cpu());
  return devices;
}

// --summary-json: the final figures. rows: the epochs trained (none for --epochs 0).
void write_summary(const Options& o, int world, const std::vector<EpochTable::Row>& rows, const Evaluation& test,
                   double total_seconds, int64_t steps) {
  double train_seconds = 0;
  for (const EpochTable::Row& r : rows)
    train_seconds += r.train_seconds;
  nlohmann::json devices = nlohmann::json::array();
  for (const Device& d : dp_devices(o))
    devices.push_back(d.str());
  nlohmann::json summary = {{"epochs", rows.empty() ? 0 : rows.back().epoch},
                            {"max_epochs", o.epochs},
                            {"global_step", steps},
                            {"precision", o.precision},
                            {"test_accuracy", test.accuracy},
                            {"test_loss", test.loss},
                            {"train_seconds", train_seconds},
                            {"total_seconds", total_seconds},
                            {"samples_per_second", rows.empty() ? 0.0 : rows.back().samples_per_second},
                            {"world_size", world},
                            {"strategy", o.strategy},
                            {"replica_devices", devices},
                            {"val_size", o.val_size}};
  if (!rows.empty() && !std::isnan(rows.back().val_accuracy)) {
    summary["val_accuracy"] = rows.back().val_accuracy;
    summary["val_loss"] = rows.back().val_loss;
  }
  std::ofstream file(o.summary_json);
  VOLT_CHECK(file.good(), "cannot write ", o.summary_json);
  file << summary.dump(2) << '\n';
}

// The Trainer's options from the flags.
train::TrainerOptions trainer_options(const Options& o) {
  train::TrainerOptions t;
  t.max_epochs = o.epochs;
  t.precision = o.precision;
  t.strategy = o.strategy;
  if (o.device == "cpu") t.accelerator = "cpu";
  if (o.device.rfind("cuda", 0) == 0) {
    t.accelerator = "cuda";
    // --device cuda:N picks that GPU (one process); under ddp a rank takes its local rank's.
    if (o.device != "cuda" && o.strategy == "auto") t.devices = std::vector<Device>{Device::parse(o.device)};
  }
  if (o.strategy == "dp") t.devices = dp_devices(o);
  t.accumulate_grad_batches = o.accumulate_grad_batches;
  t.gradient_clip_val = o.gradient_clip_val;
  t.gradient_clip_algorithm = o.gradient_clip_algorithm;
  t.val_check_interval = o.val_check_interval;
  t.limit_train_batches = o.limit_train_batches;
  t.fast_dev_run = o.fast_dev_run;
  t.deterministic = o.deterministic;
  if (o.cuda_graph != "auto") t.cuda_graph = o.cuda_graph == "on";
  t.data_on_device = o.data_on_device == "on";  // auto: decided in run(), where the device is known
  t.default_root_dir = o.out;
  // The bar on a terminal only: in a log the epoch lines say it all.
  t.enable_progress_bar = false;
  if (isatty(STDOUT_FILENO) != 0) t.callbacks.push_back(std::make_shared<train::ProgressBar>(25));
  // Checkpoints in one folder whatever the logger's version, so that --ckpt-path last finds the
  // previous run's: at each epoch's end and every N steps, the newest kept, `last` linking it.
  t.callbacks.push_back(std::make_shared<train::ModelCheckpoint>(train::ModelCheckpointOptions{
      .dirpath = o.out + "/checkpoints", .every_n_train_steps = o.checkpoint_every_n_steps}));
  t.callbacks.push_back(std::make_shared<train::OnExceptionCheckpoint>(o.out + "/checkpoints"));
  if (o.early_stopping_patience > 0)
    t.callbacks.push_back(std::make_shared<train::EarlyStopping>(
        train::EarlyStoppingOptions{.monitor = "val_loss", .patience = o.early_stopping_patience}));
  return t;
}

int run(int argc, char** argv, bool lr_find = false) {
  const auto started = std::chrono::steady_clock::now();
  bool weight_decay_given = false;
  const Options o = parse_args(argc, argv, weight_decay_given, lr_find);
  if (o.threads > 0) set_num_threads(o.threads);
  set_flush_denormal(o.flush_denormal);
  for (const Device& d : o.devices)
    check_device_usable("--devices", d);
  const Device device = o.strategy == "dp" ? dp_devices(o)[0] : pick_device(o.device);
  const bool distributed = o.strategy == "ddp";
  if (distributed) parallel::init_process_group(o.backend != "auto" ? o.backend : device.is_cuda() ? "nccl" : "mpi");
  const int world = distributed ? parallel::get_world_size() : 1;
  const bool chief = !distributed || parallel::get_rank() == 0;  // prints and writes

  // The training set less a fixed, seeded validation split (the same whatever --seed is).
  const data::TensorDataset full = data::FashionMnist(data::Split::train, o.data);
  VOLT_CHECK(o.val_size < full.size(), "--val-size: ", o.val_size, " of the ", full.size(),
             " training samples would leave none to train on");
  std::vector<data::TensorDataset> split{full};  // --val-size 0: the whole set, not copied
  if (o.val_size > 0) split = data::random_split(full, {full.size() - o.val_size, o.val_size}, o.split_seed);
  data::DataLoader train_loader(split[0], {.batch_size = o.batch_size, .shuffle = true, .seed = o.seed});
  std::optional<data::DataLoader> val_loader;
  if (o.val_size > 0) val_loader.emplace(split[1], data::DataLoaderOptions{.batch_size = 1000, .shuffle = false});
  data::DataLoader test_loader(data::FashionMnist(data::Split::test, o.data), {.batch_size = 1000, .shuffle = false});

  Net net(o, weight_decay_given);
  if (!o.load.empty()) {
    try {
      net.load_state_dict(nn::load_safetensors(o.load));
    } catch (const Error& e) {
      VOLT_FAIL("--load ", o.load, ": ", e.what());
    }
  }
  const std::optional<DType> half = autocast_dtype(o.precision);
  if (o.lr_find) {
    net.to(device);
    auto optimizer = make_optimizer(o, net.parameters(), weight_decay_given);
    return find_lr(o, net, *optimizer, train_loader, device, half, *net.gen);
  }

  std::ostream silent(nullptr);
  std::ostream& out = chief ? std::cout : silent;  // only rank 0 speaks
  out << "volt fashion_mnist: " << train_loader.dataset_size() << " train / " << o.val_size << " val / "
      << test_loader.dataset_size() << " test samples, device " << device << " (" << get_num_threads()
      << " CPU threads), " << o.optimizer << " lr " << o.lr << ", batch " << o.batch_size << ", " << o.epochs
      << " epochs, precision " << o.precision;
  if (distributed) out << ", ddp over " << world << " ranks (global batch " << world * o.batch_size << ")";
  if (o.strategy == "dp") {
    const train::Devices devices = dp_devices(o);
    out << ", dp over " << devices.size() << " devices (" << devices.str() << ")";
  }
  out << "\n";

  if (o.epochs == 0) {  // evaluate only
    net.to(device);
    const Evaluation eval = evaluate(net, test_loader, half);
    out << "test loss " << std::fixed << std::setprecision(4) << eval.loss << "  test accuracy " << eval.accuracy
        << "\n";
    if (chief && !o.summary_json.empty())
      write_summary(o, world, {}, eval,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(), 0);
    return 0;
  }

  train::TrainerOptions options = trainer_options(o);
  // auto: on a GPU in one process (ddp and dp cut each batch on the host).
  if (o.data_on_device == "auto") options.data_on_device = device.is_cuda() && o.strategy == "auto";
  auto table = std::make_shared<EpochTable>(o.out + "/metrics.csv", test_loader, half);
  options.callbacks.push_back(table);
  if (chief) std::filesystem::create_directories(o.out);
  train::Trainer trainer(options);
  try {
    trainer.fit(net, train_loader, val_loader, o.ckpt_path);
  } catch (const Error&) {
    if (!trainer.received_sigterm()) throw;
    out << "SIGTERM: stopped after step " << trainer.global_step() << "; checkpoint " << o.out
        << "/checkpoints/last. Resume with the same flags and --ckpt-path last\n";
    return 0;
  }
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (device.is_cuda()) {
    const std::string& off = trainer.cuda_graph_off_reason();
    out << "training step: " << (off.empty() ? "one CUDA graph per step, after a warm-up batch" : "eager, " + off)
        << "\n";
  }
  const std::vector<EpochTable::Row>& rows = table->rows();
  if (!chief) return 0;
  if (o.fast_dev_run > 0) {
    std::cout << "fast-dev-run: " << trainer.global_step() << " steps ran; nothing written\n";
    return 0;
  }
  VOLT_CHECK(!rows.empty(), "fashion_mnist: no epoch finished (", trainer.global_step(), " steps)");
  nn::save_safetensors(o.out + "/model.safetensors", net.state_dict(), {{"format", "pt"}});
  nn::save_safetensors(o.out + "/optimizer.safetensors", net.optimizer->state_dict(),
                       {{"optimizer", o.optimizer}, {"epochs", std::to_string(rows.back().epoch)}});
  std::cout << "wrote " << o.out << "/{model.safetensors, optimizer.safetensors, metrics.csv}\n";
  const EpochTable::Row& last = rows.back();
  const EpochTable::Row* best = nullptr;  // by validation accuracy
  for (const EpochTable::Row& r : rows)
    if (!std::isnan(r.val_accuracy) && (best == nullptr || r.val_accuracy > best->val_accuracy)) best = &r;
  std::cout << std::fixed << std::setprecision(4) << "done in " << std::setprecision(1) << total << " s ("
            << trainer.global_step() << " steps, " << rows.size() << " epochs)";
  if (best != nullptr)
    std::cout << std::setprecision(4) << "; best val accuracy " << best->val_accuracy << " at epoch " << best->epoch;
  std::cout << std::setprecision(4) << "; final test accuracy " << last.test_accuracy << ", test loss "
            << last.test_loss << "\n";
  if (!o.summary_json.empty())
    write_summary(o, world, rows, {last.test_loss, last.test_accuracy}, total, trainer.global_step());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc > 1 && std::string(argv[1]) == "sweep") return sweep(argc - 1, argv + 1);
    if (argc > 1 && std::string(argv[1]) == "lr-find") return run(argc - 1, argv + 1, /*lr_find=*/true);
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "fashion_mnist: error: " << e.what() << '\n';
    // The other ranks of a ddp job would wait for this one in their next collective: end them.
    if (parallel::is_initialized() && parallel::get_world_size() > 1) parallel::abort_job(1);
    return 1;
  }
}
