#include "volt/core/shape.h"

#include <algorithm>
#include <sstream>

#include "volt/core/error.h"

namespace volt {

// Products of sizes are checked: a shape read from a file may hold sizes whose product
// overflows int64, which must be an error, not undefined behaviour. Zero sizes count as 1, so
// [2^40, 2^40, 0] is refused as well: its strides would overflow although it has no element.
int64_t numel(const Shape& shape) {
  int64_t n = 1;
  bool empty = false;
  for (int64_t s : shape) {
    VOLT_CHECK(s >= 0, "shape ", shape_str(shape), " has a negative size");
    empty = empty || s == 0;
    VOLT_CHECK(!__builtin_mul_overflow(n, std::max<int64_t>(s, 1), &n), "shape ", shape_str(shape),
               " has more elements than int64 counts");
  }
  return empty ? 0 : n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t s = 1;
  for (std::size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    if (i > 0)
      VOLT_CHECK(!__builtin_mul_overflow(s, std::max<int64_t>(shape[i], 1), &s), "shape ", shape_str(shape),
                 " has strides beyond int64");
  }
  return strides;
}

std::string shape_str(const Shape& shape) {
  std::ostringstream os;
  os << '[';
  for (std::size_t i = 0; i < shape.size(); ++i)
    os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  const int64_t lo = ndim == 0 ? -1 : -ndim, hi = ndim == 0 ? 0 : ndim - 1;
  VOLT_CHECK(dim >= lo && dim <= hi, op, ": dim ", dim, " out of range for a tensor with ", ndim, " dims");
  return dim < 0 ? dim + std::max<int64_t>(ndim, 1) : dim;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const std::size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    VOLT_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ", shape_str(b),
               " cannot be broadcast together");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace volt
