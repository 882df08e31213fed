// Shapes and strides, in elements, as int64.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace volt {

using Shape = std::vector<int64_t>;

// Both throw volt::Error for negative sizes or products beyond int64.
int64_t numel(const Shape& shape);
Shape contiguous_strides(const Shape& shape);
std::string shape_str(const Shape& shape);  // "[2, 3]"
// Wraps a possibly negative dim into [0, ndim); `op` names the caller in the error.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);
// NumPy broadcasting of two shapes; throws naming `op` and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace volt
