#include "volt/core/error.h"

#include <cstring>

namespace volt::detail {

void throw_error(const char* file, int line, const std::string& message) {
  // Keep the path from volt/ on (or the file name) so messages do not leak build directories.
  const char* rel = std::strstr(file, "volt/");
  const char* base = std::strrchr(file, '/');
  throw Error(message + " (" + (rel ? rel : base ? base + 1 : file) + ":" + std::to_string(line) + ")");
}

}  // namespace volt::detail
