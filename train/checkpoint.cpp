#include "volt/train/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "volt/nn/serialize.h"

namespace volt::train {

namespace fs = std::filesystem;

namespace {

// A name beside `target` that no other writer (thread or process) uses.
fs::path temporary_beside(const fs::path& target) {
  static std::atomic<uint64_t> counter{0};
  std::ostringstream name;  // (not string +: GCC 12 warns falsely on its -Wrestrict there)
  name << '.' << target.filename().string() << ".tmp." << ::getpid() << '.' << counter++;
  return target.parent_path() / name.str();
}

void fsync_path(const fs::path& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  VOLT_CHECK(fd >= 0, "checkpoint: cannot open ", path.string(), " to sync it: ", std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  VOLT_CHECK(rc == 0, "checkpoint: fsync of ", path.string(), " failed: ", std::strerror(err));
}

void write_synced(const fs::path& path, const std::string& text) {
  {
    std::ofstream out(path, std::ios::binary);
    out << text;
    out.flush();
    VOLT_CHECK(out.good(), "checkpoint: cannot write ", path.string());
  }
  fsync_path(path, false);
}

const char* kind_of(nlohmann::json::value_t type) {
  using T = nlohmann::json::value_t;
  switch (type) {
    case T::object:
      return "an object";
    case T::array:
      return "an array";
    case T::string:
      return "a string";
    case T::boolean:
      return "true or false";
    case T::number_integer:
      return "a whole number";
    case T::number_unsigned:
      return "a whole number from 0";
    case T::number_float:
      return "a number";
    default:
      return "null";
  }
}

const char* kFiles[] = {"model.safetensors", "optimizer.safetensors", "lr_scheduler.safetensors",
                        "grad_scaler.safetensors"};

}  // namespace

void write_checkpoint(const std::string& path, const CheckpointFiles& files) {
  const fs::path target = fs::absolute(path);
  fs::create_directories(target.parent_path());
  const fs::path temp = temporary_beside(target);
  try {
    fs::create_directory(temp);
    nn::save_safetensors((temp / kFiles[0]).string(), files.model, {{"format", "pt"}});
    nn::save_safetensors((temp / kFiles[1]).string(), files.optimizer);
    if (files.lr_scheduler) nn::save_safetensors((temp / kFiles[2]).string(), *files.lr_scheduler);
    if (files.grad_scaler) nn::save_safetensors((temp / kFiles[3]).string(), *files.grad_scaler);
    write_synced(temp / "trainer_state.json", files.trainer_state.dump(2) + "\n");
    fsync_path(temp, true);
    if (fs::exists(target)) {  // a folder cannot be renamed over a full one: move the old aside
      const fs::path old = temporary_beside(target);
      fs::rename(target, old);
      fs::rename(temp, target);
      fs::remove_all(old);
    } else {
      fs::rename(temp, target);
    }
    fsync_path(target.parent_path(), true);
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(temp);
    VOLT_FAIL("checkpoint ", path, ": cannot write it: ", e.what());
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(temp, ignored);
    throw;
  }
}

CheckpointFiles read_checkpoint(const std::string& path) {
  VOLT_CHECK(fs::is_directory(path), "checkpoint ", path, ": no such folder");
  const fs::path dir(path);
  CheckpointFiles files;
  for (const char* required : {kFiles[0], kFiles[1], "trainer_state.json"})
    VOLT_CHECK(fs::exists(dir / required), "checkpoint ", path, ": ", required, " is missing");
  files.model = nn::load_safetensors((dir / kFiles[0]).string());
  files.optimizer = nn::load_safetensors((dir / kFiles[1]).string());
  if (fs::exists(dir / kFiles[2])) files.lr_scheduler = nn::load_safetensors((dir / kFiles[2]).string());
  if (fs::exists(dir / kFiles[3])) files.grad_scaler = nn::load_safetensors((dir / kFiles[3]).string());
  const std::string state_path = (dir / "trainer_state.json").string();
  std::ifstream in(state_path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  try {
    files.trainer_state = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    VOLT_FAIL("checkpoint ", state_path, ": not valid JSON (", e.what(), ")");
  }
  VOLT_CHECK(files.trainer_state.is_object(), "checkpoint ", state_path, ": expected a JSON object");
  return files;
}

nn::StateDict clone_state(const nn::StateDict& state) {
  nn::StateDict out;
  for (const auto& [name, t] : state)
    out[name] = t.detach().clone();
  return out;
}

void write_file_atomically(const fs::path& path, const std::string& text) {
  const fs::path target = fs::absolute(path);
  const fs::path temp = temporary_beside(target);
  try {
    write_synced(temp, text);
    fs::rename(temp, target);
  } catch (...) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    throw;
  }
  fsync_path(target.parent_path(), true);
}

void update_last_link(const std::string& folder, const std::string& name) {
  const fs::path link = fs::path(folder) / "last";
  const fs::path temp = temporary_beside(link);
  try {
    fs::create_symlink(name, temp);
    fs::rename(temp, link);
  } catch (const fs::filesystem_error& e) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    VOLT_FAIL("checkpoint: cannot point ", link.string(), " at ", name, ": ", e.what());
  }
  fsync_path(folder, true);
}

std::string last_checkpoint(const std::string& folder) {
  const fs::path link = fs::path(folder) / "last";
  std::error_code ec;
  if (!fs::is_symlink(link, ec)) return "";
  return (fs::path(folder) / fs::read_symlink(link)).string();
}

const nlohmann::json& json_field(const nlohmann::json& obj, const std::string& key, nlohmann::json::value_t type,
                                 const std::string& file) {
  auto it = obj.find(key);
  VOLT_CHECK(it != obj.end(), file, ": field '", key, "' is missing");
  const bool ok = it->type() == type || (type == nlohmann::json::value_t::number_integer && it->is_number_unsigned()) ||
                  (type == nlohmann::json::value_t::number_unsigned && it->is_number_integer() && *it >= 0) ||
                  (type == nlohmann::json::value_t::number_float && it->is_number());
  VOLT_CHECK(ok, file, ": field '", key, "' is ", it->dump().substr(0, 80), ", expected ", kind_of(type));
  return *it;
}

}  // namespace volt::train
