// volt::Error and VOLT_CHECK: every failure on user input is an exception that says
// which op failed and with what shapes, dtypes and devices.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace volt {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
template <class... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
[[noreturn]] void throw_error(const char* file, int line, const std::string& message);
}  // namespace detail

}  // namespace volt

// VOLT_CHECK(cond, "op: ", a, " vs ", b) throws volt::Error with the streamed message.
#define VOLT_CHECK(cond, ...)                                                               \
  do {                                                                                      \
    if (!(cond)) [[unlikely]]                                                               \
      ::volt::detail::throw_error(__FILE__, __LINE__, ::volt::detail::concat(__VA_ARGS__)); \
  } while (0)

#define VOLT_FAIL(...) ::volt::detail::throw_error(__FILE__, __LINE__, ::volt::detail::concat(__VA_ARGS__))
