#include "volt/train/callback.h"

#include <nlohmann/json.hpp>

namespace volt::train {

nlohmann::json Callback::state_dict() const { return nlohmann::json::object(); }

}  // namespace volt::train
