// A Trainer checkpoint is a folder:
//   model.safetensors         the module's state_dict, under its parameter and buffer names
//   optimizer.safetensors     Optimizer::state_dict
//   lr_scheduler.safetensors  LRScheduler::state_dict, when the run has a scheduler
//   grad_scaler.safetensors   GradScaler::state_dict, under precision "16-mixed"
//   trainer_state.json        where the loop is and everything else a resume needs (Trainer)
// It is written whole to a temporary folder beside its place (each file fsync'ed, then the
// folder), renamed into place and the parent folder fsync'ed: a reader sees the old checkpoint
// or the new one, never half of one. A folder's `last` link names the newest checkpoint there.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "volt/nn/module.h"

namespace volt::train {

struct CheckpointFiles {
  nn::StateDict model, optimizer;
  std::optional<nn::StateDict> lr_scheduler, grad_scaler;
  nlohmann::json trainer_state;
};

// Writes `files` as the folder `path` (replacing one there) atomically; on an error nothing at
// `path` has changed and the temporary folder is gone.
void write_checkpoint(const std::string& path, const CheckpointFiles& files);
// Reads the folder at `path`. A missing folder or file, a file that is not valid safetensors
// or JSON, or JSON that is not an object is an error naming the file.
CheckpointFiles read_checkpoint(const std::string& path);

// A copy that shares no memory with `state` (a state_dict() shares it with the live tensors).
nn::StateDict clone_state(const nn::StateDict& state);

// Writes `text` to `path` through a temporary file beside it, synced and renamed over it: a
// reader sees the old file or the new one, never half of one.
void write_file_atomically(const std::filesystem::path& path, const std::string& text);

// Points `folder`/last at `folder`/`name` (a relative symbolic link, replaced atomically).
void update_last_link(const std::string& folder, const std::string& name);
// `folder`/last's target as a path, or empty when there is none.
std::string last_checkpoint(const std::string& folder);

// obj[key] of JSON type `type`, or an error naming the file and the field.
const nlohmann::json& json_field(const nlohmann::json& obj, const std::string& key, nlohmann::json::value_t type,
                                 const std::string& file);

}  // namespace volt::train
