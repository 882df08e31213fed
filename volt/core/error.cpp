#include "volt/core/error.h"

#include <cstring>

namespace volt::detail {

void throw_error(const char* file, int line, const std::string& message) {
  // Keep only the path below volt/ so messages do not leak build directories.
  const char* rel = std::strstr(file, "volt/");
  throw Error(message + " (" + (rel ? rel : file) + ":" + std::to_string(line) + ")");
}

}  // namespace volt::detail
