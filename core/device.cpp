#include "volt/core/device.h"

#include "volt/core/error.h"

namespace volt {

Device Device::parse(const std::string& s) {
  if (s == "cpu") return cpu();
  if (s == "cuda") return cuda(0);
  if (s.rfind("cuda:", 0) == 0) {
    const std::string n = s.substr(5);
    VOLT_CHECK(!n.empty() && n.size() <= 4 && n.find_first_not_of("0123456789") == std::string::npos,
               "Device::parse: bad device index in '", s, "' (expected cuda:N with N from 0 to 9999)");
    return cuda(std::stoi(n));
  }
  VOLT_FAIL("Device::parse: unknown device '", s, "' (expected cpu, cuda or cuda:N)");
}

std::string Device::str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }

std::ostream& operator<<(std::ostream& os, const Device& d) { return os << d.str(); }

}  // namespace volt
