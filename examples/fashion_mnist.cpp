// volt's main job: train the classic MNIST-style network (784 → 100, ReLU, dropout 0.5,
// 100 → 10, cross-entropy) on Fashion-MNIST.
//
//   fashion_mnist [--epochs N] [--batch-size N] [--lr X] [--optimizer sgd|adam|adamw]
//                 [--momentum X] [--weight-decay X] [--seed N] [--device auto|cpu|cuda]
//                 [--precision 32-true|16-mixed|bf16-mixed] [--strategy auto|ddp|dp]
//                 [--devices LIST] [--process-group-backend auto|mpi|nccl] [--threads N]
//                 [--flush-denormal on|off]
//                 [--data DIR] [--out DIR] [--load FILE] [--summary-json FILE]
//   fashion_mnist sweep --out DIR --param NAME=DOMAIN... [sweep options] [-- training flags]
//
// Writes model.safetensors (names as PyTorch's equivalent module: fc1.weight, fc1.bias,
// fc2.weight, fc2.bias), optimizer.safetensors and metrics.csv to --out.
//
// --strategy ddp, under mpirun -np N: each rank trains on its shard of every epoch
// (DistributedSampler) with DistributedDataParallel averaging the gradients, so the global batch
// is N × --batch-size; rank 0 alone prints and writes the files.
//
// --strategy dp --devices cpu,cpu (or cuda:0,cuda:0, ...): one process, DataParallel splitting
// every batch over the devices' replicas; the network lives on the first device, the optimizer
// steps its parameters and the files hold its state, under the same names as without dp.
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
  int64_t epochs = 10;
  int64_t batch_size = 64;
  double lr = 1e-3;
  std::string optimizer = "adam";
  double momentum = 0.9;
  double weight_decay = 0.0;
  uint64_t seed = 0;
  std::string device = "auto";
  std::string precision = "32-true";  // Lightning's names
  std::string strategy = "auto";      // auto: one process; ddp: DistributedDataParallel over MPI;
                                      // dp: DataParallel over `devices` in one process
  std::vector<Device> devices;        // --devices, for dp
  std::string backend = "auto";       // ddp's process group: auto (nccl on a GPU, else mpi), mpi, nccl
  bool flush_denormal = true;
  int threads = 0;  // 0: volt's default (VOLT_NUM_THREADS, else the CPUs this process may use)
  std::string data = data::default_fashion_mnist_dir();
  std::string out = "out/fashion_mnist";
  std::string load;
  std::string summary_json;
  // fashion_mnist lr-find: the learning-rate range test instead of training.
  bool lr_find = false;
  train::LRFinderOptions finder;
};

const char* kUsage =
    "usage: fashion_mnist [options]\n"
    "  --epochs N           training epochs; 0 only evaluates (default 10)\n"
    "  --batch-size N       samples per step (default 64)\n"
    "  --lr X               learning rate (default 1e-3)\n"
    "  --optimizer NAME     sgd, adam or adamw (default adam)\n"
    "  --momentum X         SGD momentum (default 0.9)\n"
    "  --weight-decay X     weight decay (default 0, adamw: 0.01 unless given)\n"
    "  --seed N             seed for initialisation, dropout and shuffling (default 0)\n"
    "  --device NAME        auto, cpu or cuda (default auto)\n"
    "  --precision P        32-true, 16-mixed (f16 autocast and a GradScaler) or bf16-mixed\n"
    "                       (bf16 autocast); 32, 16 and bf16 too (default 32-true). The\n"
    "                       weights stay f32, and so does model.safetensors\n"
    "  --strategy S         auto (one process), ddp (under mpirun -np N: N ranks, each on its\n"
    "                       shard with --batch-size samples per step; rank 0 prints and writes)\n"
    "                       or dp (one process, DataParallel over --devices: each batch split\n"
    "                       along its samples over one replica a device, one thread each)\n"
    "  --devices LIST       dp's devices, comma-separated, a device may repeat: cpu,cpu or\n"
    "                       cuda:0,cuda:0 (required with dp); the network lives on the first\n"
    "                       of them, which is where the output is gathered\n"
    "  --process-group-backend B  ddp's collectives: auto (nccl with --device cuda, one GPU\n"
    "                       per rank; mpi on the CPU), mpi (any device, CUDA through host copies)\n"
    "                       or nccl (default auto)\n"
    "  --threads N          CPU threads (default $VOLT_NUM_THREADS, else the CPUs this\n"
    "                       process may run on); a fixed count gives bitwise-identical runs\n"
    "  --flush-denormal on|off  flush subnormal floats to zero on the CPU, as\n"
    "                       torch.set_flush_denormal(True) (default on: Adam's moments of\n"
    "                       always-zero pixels decay into them and slow every step)\n"
    "  --data DIR           Fashion-MNIST IDX files (default $VOLT_FASHION_MNIST_DIR or\n"
    "                       /usr/share/datasets/fashion-mnist)\n"
    "  --out DIR            where model.safetensors, optimizer.safetensors and metrics.csv go\n"
    "                       (default out/fashion_mnist)\n"
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
    if (flag == "--epochs")
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
    else if (flag == "--strategy") {
      VOLT_CHECK(value == "auto" || value == "ddp" || value == "dp", "--strategy: expected auto, ddp or dp, got '",
                 value, "'");
      o.strategy = value;
    } else if (flag == "--process-group-backend") {
      VOLT_CHECK(value == "auto" || value == "mpi" || value == "nccl",
                 "--process-group-backend: expected auto, mpi or nccl, got '", value, "'");
      o.backend = value;
    } else if (flag == "--devices")
      o.devices = parse_devices(flag, value);
    else if (flag == "--precision") {
      o.precision = value == "32" ? "32-true" : value == "16" ? "16-mixed" : value == "bf16" ? "bf16-mixed" : value;
      VOLT_CHECK(o.precision == "32-true" || o.precision == "16-mixed" || o.precision == "bf16-mixed",
                 "--precision: expected 32-true, 16-mixed or bf16-mixed (or 32, 16, bf16), got '", value, "'");
    } else if (flag == "--threads") {
      o.threads = parse_integer<int>(flag, value);
      VOLT_CHECK(o.threads >= 1, "--threads: must be at least 1, got ", o.threads);
    } else if (flag == "--flush-denormal") {
      VOLT_CHECK(value == "on" || value == "off", "--flush-denormal: expected on or off, got '", value, "'");
      o.flush_denormal = value == "on";
    } else if (flag == "--data")
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
  VOLT_CHECK(o.strategy != "dp" || !o.devices.empty(), "--strategy dp needs --devices (e.g. --devices cpu,cpu)");
  VOLT_CHECK(o.strategy == "dp" || o.devices.empty(), "--devices goes with --strategy dp");
  VOLT_CHECK(o.strategy != "dp" || o.device == "auto",
             "--device does not go with --strategy dp: the network lives on the first of --devices");
  return o;
}

// The network, under the attribute names of its PyTorch twin:
//   class Net(nn.Module): fc1 = Linear(784, 100); dropout = Dropout(0.5); fc2 = Linear(100, 10)
struct Net : nn::Module {
  explicit Net(Generator* gen)
      : fc1(register_module("fc1", std::make_shared<nn::Linear>(784, 100, true, gen))),
        dropout(register_module("dropout", std::make_shared<nn::Dropout>(0.5, gen))),
        fc2(register_module("fc2", std::make_shared<nn::Linear>(100, 10, true, gen))) {}
  Tensor forward(const Tensor& x) override { return (*fc2)(dropout->forward(relu((*fc1)(x)))); }
  // DataParallel's replicas: the children cloned, the members pointed at the clones.
  std::shared_ptr<nn::Module> clone(const TensorMap& map = {}) const override {
    auto copy = clone_as(*this, map);
    copy->fc1 = copy->registered_module<nn::Linear>("fc1");
    copy->dropout = copy->registered_module<nn::Dropout>("dropout");
    copy->fc2 = copy->registered_module<nn::Linear>("fc2");
    return copy;
  }

  std::shared_ptr<nn::Linear> fc1;
  std::shared_ptr<nn::Dropout> dropout;
  std::shared_ptr<nn::Linear> fc2;
};

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

struct Evaluation {
  double loss = 0, accuracy = 0;
};

// The forward under the run's precision: autocast to f16 or bf16 for the mixed ones.
std::optional<DType> autocast_dtype(const std::string& precision) {
  if (precision == "16-mixed") return DType::f16;
  if (precision == "bf16-mixed") return DType::bf16;
  return std::nullopt;
}

Evaluation evaluate(Net& net, data::DataLoader& loader, Device device, std::optional<DType> half) {
  NoGradGuard no_grad;
  net.eval();
  Tensor loss_sum = zeros({}, TensorOptions(DType::f32).device(device));
  Tensor correct = zeros({}, TensorOptions(DType::i64).device(device));
  for (const data::Batch& b : loader) {
    const AutocastGuard autocast(device.type, half, half.has_value());
    const Tensor logits = net(b.images.to(device));
    const Tensor labels = b.labels.to(device);
    loss_sum.add_(cross_entropy(logits, labels, {Reduction::sum}));  // f32 under autocast
    correct.add_(sum(eq(argmax(logits, 1), labels)));
  }
  const auto n = static_cast<double>(loader.dataset_size());
  return {loss_sum.item<double>() / n, static_cast<double>(correct.item<int64_t>()) / n};
}

// A one-line progress bar when stdout is a terminal; nothing otherwise.
class Progress {
 public:
  Progress(int64_t epoch, int64_t epochs, int64_t total)
      : on_(isatty(STDOUT_FILENO) != 0 && total > 0), epoch_(epoch), epochs_(epochs), total_(total) {}
  void update(int64_t done, const Tensor& loss_sum) {
    if (!on_ || (done % 25 != 0 && done != total_)) return;
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(kWidth * done / total_);
    std::cout << "\repoch " << epoch_ << '/' << epochs_ << " [" << std::string(filled, '=')
              << std::string(kWidth - filled, ' ') << "] " << done << '/' << total_ << "  loss " << std::fixed
              << std::setprecision(4) << loss_sum.item<double>() / static_cast<double>(done) << std::flush;
  }
  void finish() {
    if (on_) std::cout << "\r\033[K" << std::flush;
  }

 private:
  bool on_;
  int64_t epoch_, epochs_, total_;
};

nlohmann::json devices_json(const std::vector<Device>& devices) {
  nlohmann::json names = nlohmann::json::array();
  for (const Device& d : devices)
    names.push_back(d.str());
  return names;
}

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
    "  --metric NAME        the metrics.csv column to optimise (default test_accuracy)\n"
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

int run(int argc, char** argv, bool lr_find = false) {
  bool weight_decay_given = false;
  const Options o = parse_args(argc, argv, weight_decay_given, lr_find);
  if (o.threads > 0) set_num_threads(o.threads);
  set_flush_denormal(o.flush_denormal);
  for (const Device& d : o.devices)
    check_device_usable("--devices", d);
  const Device device = o.strategy == "dp" ? o.devices[0] : pick_device(o.device);
  const bool distributed = o.strategy == "ddp";
  if (distributed) parallel::init_process_group(o.backend != "auto" ? o.backend : device.is_cuda() ? "nccl" : "mpi");
  const int rank = distributed ? parallel::get_rank() : 0, world = distributed ? parallel::get_world_size() : 1;
  const bool chief = rank == 0;  // prints and writes

  const data::DataLoaderOptions train_options{.batch_size = o.batch_size, .shuffle = true, .seed = o.seed};
  const data::TensorDataset train_set = data::FashionMnist(data::Split::train, o.data);
  data::DataLoader train_loader = distributed ? data::DataLoader(train_set, train_options,
                                                                 std::make_shared<parallel::DistributedSampler>(
                                                                     train_set.size(), world, rank, true, o.seed))
                                              : data::DataLoader(train_set, train_options);
  data::DataLoader test_loader(data::FashionMnist(data::Split::test, o.data), {.batch_size = 1000, .shuffle = false});

  Generator gen(o.seed);
  const auto net_holder = std::make_shared<Net>(&gen);
  Net& net = *net_holder;
  if (!o.load.empty()) {
    try {
      net.load_state_dict(nn::load_safetensors(o.load));
    } catch (const Error& e) {
      VOLT_FAIL("--load ", o.load, ": ", e.what());
    }
  }
  net.to(device);
  // DDP starts every rank from rank 0's weights and averages the gradients during backward.
  // DataParallel splits each batch over its replicas; their dropout streams are seeded from gen.
  std::shared_ptr<nn::Module> wrapper;
  if (distributed) wrapper = std::make_shared<parallel::DistributedDataParallel>(net_holder);
  if (o.strategy == "dp") wrapper = std::make_shared<parallel::DataParallel>(net_holder, o.devices, device, &gen);
  nn::Module& model = wrapper ? *wrapper : net;
  auto optimizer = make_optimizer(o, net.parameters(), weight_decay_given);  // the wrappers' are these
  const std::optional<DType> half = autocast_dtype(o.precision);
  // f16's narrow range needs loss scaling; bf16 has f32's and goes without (as Lightning).
  amp::GradScaler scaler(65536.0, 2.0, 0.5, 2000, /*enabled=*/o.precision == "16-mixed");
  if (o.lr_find) return find_lr(o, model, *optimizer, train_loader, device, half, gen);

  std::ofstream metrics;
  if (chief) {
    std::filesystem::create_directories(o.out);
    metrics.open(o.out + "/metrics.csv");
    VOLT_CHECK(metrics.good(), "cannot write ", o.out, "/metrics.csv");
    metrics << "epoch,train_loss,test_loss,test_accuracy,samples_per_second,train_seconds\n";
  }
  // Only rank 0 speaks; the others' output goes nowhere.
  std::ostream silent(nullptr);
  std::ostream& out = chief ? std::cout : silent;

  out << "volt fashion_mnist: " << train_loader.dataset_size() << " train / " << test_loader.dataset_size()
      << " test samples, device " << device << " (" << get_num_threads() << " CPU threads), " << o.optimizer << " lr "
      << o.lr << ", batch " << o.batch_size << ", " << o.epochs << " epochs, precision " << o.precision;
  if (distributed) out << ", ddp over " << world << " ranks (global batch " << world * o.batch_size << ")";
  if (o.strategy == "dp") {
    out << ", dp over " << o.devices.size() << " devices (";
    for (std::size_t i = 0; i < o.devices.size(); ++i)
      out << (i ? "," : "") << o.devices[i];
    out << ")";
  }
  out << "\n";

  Evaluation eval = evaluate(net, test_loader, device, half);
  double train_seconds = 0, samples_per_second = 0;
  if (o.epochs == 0)
    out << "test loss " << std::fixed << std::setprecision(4) << eval.loss << "  test accuracy " << eval.accuracy
        << "\n";
  for (int64_t epoch = 1; epoch <= o.epochs; ++epoch) {
    net.train();
    Progress progress(epoch, o.epochs, chief ? train_loader.size() : 0);
    Tensor loss_sum = zeros({}, TensorOptions(DType::f32).device(device));
    int64_t steps = 0;
    const auto start = std::chrono::steady_clock::now();
    for (const data::Batch& b : train_loader) {
      Tensor loss;
      {
        const AutocastGuard autocast(device.type, half, half.has_value());
        loss = cross_entropy(model(b.images.to(device)), b.labels.to(device));  // f32 under autocast
      }
      optimizer->zero_grad();
      scaler.scale(loss).backward();  // without a scaler: loss.backward()
      scaler.step(*optimizer);
      scaler.update();
      {
        NoGradGuard no_grad;
        loss_sum.add_(loss.detach());  // stays on the device; read once per epoch
      }
      progress.update(++steps, loss_sum);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    progress.finish();
    train_seconds += seconds;
    samples_per_second = static_cast<double>(train_loader.dataset_size()) / seconds;  // all ranks'
    if (distributed) parallel::get_default_group().all_reduce(loss_sum, parallel::ReduceOp::avg)->wait();
    const double train_loss = loss_sum.item<double>() / static_cast<double>(steps);
    eval = evaluate(net, test_loader, device, half);
    out << "epoch " << epoch << '/' << o.epochs << std::fixed << std::setprecision(4) << "  train loss " << train_loss
        << "  test loss " << eval.loss << "  test accuracy " << eval.accuracy << "  " << std::setprecision(0)
        << samples_per_second << " samples/s" << std::endl;  // flushed: a log being followed sees each epoch
    if (chief)
      metrics << epoch << ',' << train_loss << ',' << eval.loss << ',' << eval.accuracy << ',' << samples_per_second
              << ',' << seconds << '\n'
              << std::flush;
  }

  if (!chief) return 0;
  nn::save_safetensors(o.out + "/model.safetensors", net.state_dict(), {{"format", "pt"}});
  nn::save_safetensors(o.out + "/optimizer.safetensors", optimizer->state_dict(),
                       {{"optimizer", o.optimizer}, {"epochs", std::to_string(o.epochs)}});
  std::cout << "wrote " << o.out << "/{model.safetensors, optimizer.safetensors, metrics.csv}\n";

  if (!o.summary_json.empty()) {
    const nlohmann::json summary = {
        {"epochs", o.epochs},     {"precision", o.precision},       {"test_accuracy", eval.accuracy},
        {"test_loss", eval.loss}, {"train_seconds", train_seconds}, {"samples_per_second", samples_per_second},
        {"world_size", world},    {"strategy", o.strategy},         {"replica_devices", devices_json(o.devices)}};
    std::ofstream file(o.summary_json);
    VOLT_CHECK(file.good(), "cannot write ", o.summary_json);
    file << summary.dump(2) << '\n';
  }
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
