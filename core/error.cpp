#include "volt/core/error.h"

namespace volt::detail {

// `file` is repo-relative ("autograd/ops/matmul.cpp") in volt's own build, which maps the source
// and staging directories away with -fmacro-prefix-map; so messages name no build machine paths.
void throw_error(const char* file, int line, const std::string& message) {
  throw Error(message + " (" + file + ":" + std::to_string(line) + ")");
}

}  // namespace volt::detail
