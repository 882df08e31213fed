// The Trainer's checkpoints: what save_checkpoint writes into trainer_state.json and the other
// files of a checkpoint folder (checkpoint.h), and how fit(..., ckpt_path) puts it all back:
// everything is checked first, and a refused checkpoint leaves the module, optimizer,
// scheduler, scaler, generators and counters as they were.
#include <nlohmann/json.hpp>

#include "volt/autograd/ops.h"
#include "volt/core/thread_pool.h"
#include "volt/train/checkpoint.h"
#include "volt/train/model_checkpoint.h"
#include "volt/train/trainer.h"

#ifndef VOLT_VERSION_STRING
#define VOLT_VERSION_STRING "unknown"
#endif

namespace volt::train {

namespace {

constexpr const char* kFormat = "volt.train checkpoint";
constexpr int64_t kFormatVersion = 1;

// The process-wide generator and the module's, in that order.
std::vector<std::pair<std::string, Generator*>> all_generators(const LightningModule& module) {
  std::vector<std::pair<std::string, Generator*>> out{{"default", &default_generator()}};
  out.insert(out.end(), module.generators().begin(), module.generators().end());
  return out;
}

// What fixes the order of the train loader's batches: a resume must see the same.
nlohmann::json loader_identity(const data::DataLoader& loader) {
  return {{"batch_size", loader.batch_size()},
          {"dataset_size", loader.dataset_size()},
          {"shuffle", loader.options().shuffle},
          {"seed", loader.options().seed},
          {"drop_last", loader.options().drop_last}};
}

}  // namespace

// --- checkpoints ------------------------------------------------------------------------------

void Trainer::save_checkpoint(const std::string& path) {
  VOLT_CHECK(module_ != nullptr && stage_ == Stage::fitting && config_.optimizer != nullptr,
             "Trainer::save_checkpoint: there is no fit running");
  // Each rank's generators (their streams differ where their seeds do): a list by rank.
  const auto gens = all_generators(*module_);
  std::vector<int64_t> mine;
  for (const auto& [name, gen] : gens) {
    mine.push_back(static_cast<int64_t>(gen->seed()));  // u64 bits through an i64 tensor
    mine.push_back(static_cast<int64_t>(gen->offset()));
  }
  const Tensor local = tensor(mine, {static_cast<int64_t>(mine.size())}, DType::i64);
  std::vector<Tensor> by_rank{local};
  if (process_group_ != nullptr && world_size_ > 1) {
    const Device where = process_group_->device();
    by_rank.assign(static_cast<std::size_t>(world_size_), Tensor());
    for (Tensor& t : by_rank)
      t = zeros(local.shape(), TensorOptions(DType::i64).device(where));
    process_group_->all_gather(by_rank, local.to(where))->wait();
  }
  if (!is_global_zero()) return barrier();  // rank 0 writes; no rank goes on before it is whole
  nlohmann::json generators = nlohmann::json::array();
  for (const Tensor& t : by_rank) {
    const std::vector<int64_t> v = t.to_vector<int64_t>();
    nlohmann::json rank = nlohmann::json::object();
    for (std::size_t i = 0; i < gens.size(); ++i)
      rank[gens[i].first] = {{"seed", static_cast<uint64_t>(v[2 * i])},
                             {"offset", static_cast<uint64_t>(v[2 * i + 1])}};
    generators.push_back(rank);
  }
  CheckpointFiles files;
  files.model = module_->state_dict();
  files.optimizer = config_.optimizer->state_dict();
  if (config_.lr_scheduler) files.lr_scheduler = config_.lr_scheduler->scheduler->state_dict();
  if (scaler_) files.grad_scaler = scaler_->state_dict();
  nlohmann::json callbacks = nlohmann::json::object();
  for (const auto& cb : callbacks_)
    callbacks[cb->state_key()] = cb->state_dict();
  files.trainer_state = {
      {"format", kFormat},
      {"format_version", kFormatVersion},
      {"volt_version", VOLT_VERSION_STRING},
      {"epoch", current_epoch_},
      {"global_step", global_step_},
      {"batch_idx", batch_in_epoch_},
      {"epoch_done", batch_in_epoch_ >= num_training_batches_},
      {"world_size", world_size_},
      {"num_threads", get_num_threads()},
      {"dp_devices", dp_devices_.empty() ? std::string() : options_.devices.str()},
      {"precision", options_.precision},
      {"generators", generators},
      {"train_dataloader", loader_identity(*train_loader_)},
      {"callbacks", callbacks},
  };
  try {
    write_checkpoint(path, files);
  } catch (...) {
    barrier();
    throw;
  }
  barrier();
}

std::string Trainer::resolve_ckpt_path(const std::string& ckpt_path) const {
  if (ckpt_path != "last") return ckpt_path;
  for (const auto& cb : callbacks_)
    if (auto* mc = dynamic_cast<ModelCheckpoint*>(cb.get()))
      if (std::string last = last_checkpoint(mc->dirpath()); !last.empty()) return last;
  VOLT_FAIL("Trainer::fit: ckpt_path \"last\": no ModelCheckpoint folder of this trainer has a 'last' link");
}

void Trainer::restore(LightningModule& module, const std::string& path) {
  using T = nlohmann::json::value_t;
  const CheckpointFiles files = read_checkpoint(path);
  const std::string json_file = "checkpoint " + path + "/trainer_state.json";
  const nlohmann::json& s = files.trainer_state;
  auto field = [&](const nlohmann::json& obj, const std::string& key, T type) -> const nlohmann::json& {
    return json_field(obj, key, type, json_file);
  };
  VOLT_CHECK(field(s, "format", T::string) == kFormat, json_file, ": field 'format' is ", s["format"].dump(),
             ", expected \"", kFormat, "\"");
  VOLT_CHECK(field(s, "format_version", T::number_integer) == kFormatVersion, json_file, ": field 'format_version' is ",
             s["format_version"].dump(), "; this volt reads version ", kFormatVersion);
  const auto world = field(s, "world_size", T::number_integer).get<int64_t>();
  VOLT_CHECK(world == world_size_, json_file, ": field 'world_size' is ", world, " but this run has ", world_size_,
             " process", world_size_ == 1 ? "" : "es", "; resume with the world size it was saved with");
  if (options_.deterministic) {  // the bits also depend on these: refuse what would change them
    const auto threads = field(s, "num_threads", T::number_integer).get<int64_t>();
    VOLT_CHECK(threads == get_num_threads(), json_file, ": field 'num_threads' is ", threads, " but this run has ",
               get_num_threads(), " CPU threads; deterministic resumes need the same count (VOLT_NUM_THREADS=", threads,
               " or set_num_threads(", threads, "))");
    const std::string here = dp_devices_.empty() ? std::string() : options_.devices.str();
    const auto saved = field(s, "dp_devices", T::string).get<std::string>();
    VOLT_CHECK(saved == here, json_file, ": field 'dp_devices' is \"", saved, "\" but this run's are \"", here,
               "\"; deterministic resumes need the same replicas");
  }
  const auto epoch = field(s, "epoch", T::number_integer).get<int64_t>();
  const auto step = field(s, "global_step", T::number_integer).get<int64_t>();
  const auto batch_idx = field(s, "batch_idx", T::number_integer).get<int64_t>();
  const bool epoch_done = field(s, "epoch_done", T::boolean).get<bool>();
  VOLT_CHECK(epoch >= 0 && step >= 0 && batch_idx >= 0, json_file,
             ": 'epoch', 'global_step' and 'batch_idx' must be 0 or more, got ", epoch, ", ", step, ", ", batch_idx);
  VOLT_CHECK(epoch_done || batch_idx < num_training_batches_, json_file, ": field 'batch_idx' is ", batch_idx,
             " but an epoch of this run has ", num_training_batches_, " training batches");

  const nlohmann::json& saved_loader = field(s, "train_dataloader", T::object);
  const nlohmann::json this_loader = loader_identity(*train_loader_);
  for (const auto& [key, value] : this_loader.items()) {
    const nlohmann::json& saved = field(saved_loader, key, value.type());
    VOLT_CHECK(saved == value, json_file, ": field 'train_dataloader." + key + "' is ", saved.dump(),
               " but this run's train loader has ", value.dump(), ": the batches would not be the same");
  }

  // This rank's entry of the list by rank: every generator there, and no other.
  const nlohmann::json& gen_list = field(s, "generators", T::array);
  VOLT_CHECK(gen_list.size() == static_cast<std::size_t>(world_size_), json_file, ": field 'generators' has ",
             gen_list.size(), " entries, one a rank, but the world size is ", world_size_);
  const nlohmann::json& gens = gen_list[static_cast<std::size_t>(global_rank_)];
  VOLT_CHECK(gens.is_object(), json_file, ": field 'generators' entry ", global_rank_, " is not an object");
  const auto generators = all_generators(module);
  for (const auto& [name, gen] : generators) {
    const nlohmann::json& g = field(gens, name, T::object);
    field(g, "seed", T::number_unsigned);
    field(g, "offset", T::number_unsigned);
  }
  VOLT_CHECK(gens.size() == generators.size(), json_file, ": field 'generators' names ", gens.size(),
             " generators but this module registers ", generators.size() - 1, " beside the default one");
  const nlohmann::json& callback_states = field(s, "callbacks", T::object);

  // The model's names and shapes, all checked before anything is loaded.
  const nn::StateDict expected = module.state_dict();
  std::string problems;
  for (const auto& [name, t] : expected) {
    auto it = files.model.find(name);
    if (it == files.model.end())
      problems += "; tensor '" + name + "' is missing";
    else if (it->second.shape() != t.shape())
      problems += "; tensor '" + name + "' has shape " + shape_str(it->second.shape()) + " but the module's is " +
                  shape_str(t.shape());
  }
  for (const auto& [name, t] : files.model)
    if (!expected.contains(name)) problems += "; tensor '" + name + "' is not in the module";
  VOLT_CHECK(problems.empty(), "checkpoint ", path, "/model.safetensors: ", problems.substr(2));
  VOLT_CHECK(files.lr_scheduler.has_value() == config_.lr_scheduler.has_value(), "checkpoint ", path, ": ",
             files.lr_scheduler ? "has lr_scheduler.safetensors but this run configures no scheduler"
                                : "lr_scheduler.safetensors is missing but this run configures a scheduler");
  VOLT_CHECK(!scaler_ || files.grad_scaler.has_value(), "checkpoint ", path,
             ": grad_scaler.safetensors is missing, and this run's precision 16-mixed needs the scaler's state");

  // The optimizer, scheduler and scaler check their own entries; should one refuse, those
  // loaded before it are put back as they were.
  const nn::StateDict optimizer_before = clone_state(config_.optimizer->state_dict());
  const std::optional<nn::StateDict> scheduler_before =
      config_.lr_scheduler ? std::optional(clone_state(config_.lr_scheduler->scheduler->state_dict())) : std::nullopt;
  const std::optional<nn::StateDict> scaler_before =
      scaler_ ? std::optional(clone_state(scaler_->state_dict())) : std::nullopt;
  std::string loading;
  try {
    loading = "optimizer.safetensors";
    config_.optimizer->load_state_dict(files.optimizer);
    if (config_.lr_scheduler) {
      loading = "lr_scheduler.safetensors";
      config_.lr_scheduler->scheduler->load_state_dict(*files.lr_scheduler);
    }
    if (scaler_) {
      loading = "grad_scaler.safetensors";
      scaler_->load_state_dict(*files.grad_scaler);
    }
    loading = "trainer_state.json (callbacks)";
    for (const auto& cb : callbacks_)
      if (auto it = callback_states.find(cb->state_key()); it != callback_states.end()) cb->load_state_dict(*it);
  } catch (const Error& e) {
    config_.optimizer->load_state_dict(optimizer_before);
    if (scheduler_before) config_.lr_scheduler->scheduler->load_state_dict(*scheduler_before);
    if (scaler_before) scaler_->load_state_dict(*scaler_before);
    VOLT_FAIL("checkpoint ", path, "/", loading, ": ", e.what());
  }
  module.load_state_dict(files.model);
  for (const auto& [name, gen] : generators) {
    gen->manual_seed(gens[name]["seed"].get<uint64_t>());
    gen->set_offset(gens[name]["offset"].get<uint64_t>());
  }
  current_epoch_ = epoch;
  global_step_ = step;
  batch_in_epoch_ = batch_idx;
  if (epoch_done) {  // saved after the epoch's last batch: what followed it in the run is due
    step_schedulers("epoch", current_epoch_ + 1);
    ++current_epoch_;
    batch_in_epoch_ = 0;
  }
}

}  // namespace volt::train
