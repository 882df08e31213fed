// operator<< for tensors, laid out as PyTorch prints them:
//   tensor([[1.0000, 2.5000],
//           [3.0000, 4.0000]], requires_grad=True)
// Floats get 4 decimals (integral values print as "1."), large tensors are summarised with
// "..." after 3 leading and trailing entries per dim.
#include <cmath>
#include <iomanip>
#include <sstream>

#include "volt/autograd/node.h"
#include "volt/core/tensor.h"

namespace volt {
namespace {

constexpr int64_t kSummariseAbove = 1000;
constexpr int64_t kEdgeItems = 3;

struct Printer {
  const std::vector<double>& values;
  const Shape& shape;
  DType dtype;
  bool summarise;
  bool all_integral;
  int width;

  std::string format(double v) const {
    std::ostringstream os;
    if (dtype == DType::boolean)
      os << (v != 0 ? "True" : "False");
    else if (is_integral(dtype))
      os << static_cast<int64_t>(v);
    else if (std::isnan(v))
      os << "nan";
    else if (std::isinf(v))
      os << (v > 0 ? "inf" : "-inf");
    else if (all_integral)
      os << std::fixed << std::setprecision(0) << v << '.';
    else
      os << std::fixed << std::setprecision(4) << v;
    return os.str();
  }

  void print(std::ostream& os, std::size_t dim, int64_t base, int indent) const {
    if (dim == shape.size()) {
      os << std::setw(width) << format(values[base]);
      return;
    }
    const int64_t n = shape[dim];
    const int64_t step = numel(Shape(shape.begin() + dim + 1, shape.end()));
    os << '[';
    for (int64_t i = 0; i < n; ++i) {
      if (summarise && n > 2 * kEdgeItems && i == kEdgeItems) {
        os << "...";
        i = n - kEdgeItems;
        os << (dim + 1 == shape.size() ? ", " : ",\n" + std::string(indent + 1, ' '));
      }
      print(os, dim + 1, base + i * step, indent + 1);
      if (i + 1 < n) {
        if (dim + 1 == shape.size())
          os << ", ";
        else
          os << ',' << std::string(shape.size() - dim - 1, '\n') << std::string(indent + 1, ' ');
      }
    }
    os << ']';
  }
};

}  // namespace

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  if (!t.defined()) return os << "tensor(undefined)";
  const std::vector<double> values = t.to_vector<double>();
  bool all_integral = true;
  for (double v : values)
    all_integral = all_integral && std::isfinite(v) && v == std::floor(v) && std::abs(v) < 1e8;
  Printer p{values, t.shape(), t.dtype(), t.numel() > kSummariseAbove, all_integral, 0};
  for (double v : values)
    p.width = std::max(p.width, static_cast<int>(p.format(v).size()));
  constexpr int kPrefix = 7;  // "tensor("
  os << "tensor(";
  if (t.numel() == 0)
    os << "[]";
  else
    p.print(os, 0, 0, kPrefix);
  if (t.dtype() != DType::f32 && t.dtype() != DType::i64 && t.dtype() != DType::boolean) os << ", dtype=" << t.dtype();
  if (!t.device().is_cpu()) os << ", device='" << t.device() << "'";
  if (t.grad_fn())
    os << ", grad_fn=<" << t.grad_fn()->name() << '>';
  else if (t.requires_grad())
    os << ", requires_grad=True";
  return os << ')';
}

}  // namespace volt
