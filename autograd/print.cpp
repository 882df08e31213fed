// operator<< for tensors, laid out as PyTorch prints them (torch/_tensor_str.py with its
// default options: precision 4, threshold 1000, edgeitems 3, linewidth 80):
//   tensor([[1.0000, 2.5000],
//           [3.0000, 4.0000]], requires_grad=True)
// One format serves every element. For floats it is chosen from the finite non-zero values:
// integral values print as "1.", magnitudes spanning more than 1000x (or beyond 1e8, or below
// 1e-4 when not integral) switch to "1.0000e-05", the rest get 4 decimals; all are right-aligned
// to the widest. A tensor of more than 1000 elements is summarised with "..." after 3 leading and
// trailing entries per dim, and only the entries shown shape the format. Rows wrap at 80 columns.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "volt/autograd/node.h"
#include "volt/autograd/ops.h"
#include "volt/core/tensor.h"

namespace volt {
namespace {

constexpr int64_t kSummariseAbove = 1000;
constexpr int64_t kEdgeItems = 3;
constexpr int kLineWidth = 80;

// Element values in row-major order: exact integers for integral dtypes (i64 does not fit a
// double), doubles for floating ones (every f32/f16/bf16 value is exact in a double).
struct Values {
  bool floating;
  std::vector<double> f;
  std::vector<int64_t> i;
};

std::string printf_string(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string nonfinite(double v) { return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf"); }

class Formatter {
 public:
  Formatter(const Values& all, const std::vector<int64_t>& shown, DType dtype)
      : floating_(all.floating), dtype_(dtype) {
    if (!floating_) {
      for (int64_t k : shown)
        width_ = std::max(width_, static_cast<int>(raw_integer(all.i[k]).size()));
      return;
    }
    std::vector<double> finite;
    for (int64_t k : shown)
      if (std::isfinite(all.f[k]) && all.f[k] != 0) finite.push_back(all.f[k]);
    if (finite.empty()) return;
    double lo = INFINITY, hi = 0;
    for (double v : finite) {
      lo = std::min(lo, std::abs(v));
      hi = std::max(hi, std::abs(v));
      int_mode_ = int_mode_ && v == std::ceil(v);
    }
    sci_mode_ = hi / lo > 1000.0 || hi > 1.0e8 || (!int_mode_ && lo < 1.0e-4);
    for (double v : finite) {
      const std::string s = raw_float(v);
      width_ = std::max(width_, static_cast<int>(s.size()));
    }
  }

  int width() const { return width_; }

  std::string format(const Values& all, int64_t k) const {
    const std::string s = floating_ ? raw_float(all.f[k]) : raw_integer(all.i[k]);
    return std::string(std::max(0, width_ - static_cast<int>(s.size())), ' ') + s;
  }

 private:
  std::string raw_integer(int64_t v) const {
    if (dtype_ == DType::boolean) return v ? "True" : "False";
    return std::to_string(v);
  }
  std::string raw_float(double v) const {
    if (!std::isfinite(v)) return nonfinite(v);
    if (sci_mode_) return printf_string("%.4e", v);
    if (int_mode_) return printf_string("%.0f", v) + ".";
    return printf_string("%.4f", v);
  }

  bool floating_;
  DType dtype_;
  bool int_mode_ = true;
  bool sci_mode_ = false;
  int width_ = 1;
};

struct Printer {
  const Values& values;
  const Shape& shape;
  bool summarise;
  const Formatter* formatter = nullptr;

  bool elided(std::size_t dim) const { return summarise && shape[dim] > 2 * kEdgeItems; }
  int64_t stride(std::size_t dim) const { return numel(Shape(shape.begin() + dim + 1, shape.end())); }

  // Positions shown along `dim`, with -1 where "..." stands.
  std::vector<int64_t> positions(std::size_t dim) const {
    std::vector<int64_t> out;
    const int64_t n = shape[dim];
    for (int64_t i = 0; i < n; ++i) {
      if (elided(dim) && i == kEdgeItems) {
        out.push_back(-1);
        i = n - kEdgeItems;
      }
      out.push_back(i);
    }
    return out;
  }

  // Flat indices of the elements that will be printed.
  void collect(std::size_t dim, int64_t base, std::vector<int64_t>& out) const {
    if (dim == shape.size()) {
      out.push_back(base);
      return;
    }
    for (int64_t i : positions(dim))
      if (i >= 0) collect(dim + 1, base + i * stride(dim), out);
  }

  std::string str(std::size_t dim, int64_t base, int indent) const {
    if (dim == shape.size()) return formatter->format(values, base);
    std::vector<std::string> parts;
    if (dim + 1 == shape.size()) {
      for (int64_t i : positions(dim))
        parts.push_back(i < 0 ? " ..." : formatter->format(values, base + i));
      // Values per line: each takes its width plus ", ".
      const auto per_line = static_cast<std::size_t>(std::max(1, (kLineWidth - indent) / (formatter->width() + 2)));
      std::string out = "[";
      for (std::size_t k = 0; k < parts.size(); ++k) {
        if (k > 0 && k % per_line == 0) {
          out += ",\n";
          out.append(indent + 1, ' ');
        } else if (k > 0) {
          out += ", ";
        }
        out += parts[k];
      }
      return out + "]";
    }
    for (int64_t i : positions(dim))
      parts.push_back(i < 0 ? "..." : str(dim + 1, base + i * stride(dim), indent + 1));
    // Between sub-tensors of k dims: k - 1 newlines, so 2-D blocks get a blank line between them.
    std::string sep = ",";
    sep.append(shape.size() - dim - 1, '\n');
    sep.append(indent + 1, ' ');
    std::string out = "[";
    for (std::size_t k = 0; k < parts.size(); ++k) {
      if (k > 0) out += sep;
      out += parts[k];
    }
    return out + "]";
  }
};

std::string size_tuple(const Shape& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + ")";
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  if (!t.defined()) return os << "tensor(undefined)";
  constexpr int kIndent = 7;  // "tensor("
  std::vector<std::string> suffixes;
  if (!t.device().is_cpu()) suffixes.push_back("device='" + t.device().str() + "'");
  std::string body;
  if (t.numel() == 0) {
    // Nothing shows the dtype of an empty tensor, so only f32 goes unnamed.
    if (t.dim() != 1) suffixes.push_back("size=" + size_tuple(t.shape()));
    if (t.dtype() != DType::f32) suffixes.push_back(std::string("dtype=") + dtype_name(t.dtype()));
    body = "[]";
  } else {
    if (t.dtype() != DType::f32 && t.dtype() != DType::i64 && t.dtype() != DType::boolean)
      suffixes.push_back(std::string("dtype=") + dtype_name(t.dtype()));
    Values values{is_floating(t.dtype()), {}, {}};
    if (values.floating)
      values.f = t.to_vector<double>();
    else
      values.i = t.to_vector<int64_t>();
    Printer p{values, t.shape(), t.numel() > kSummariseAbove};
    std::vector<int64_t> shown;
    p.collect(0, 0, shown);
    const Formatter formatter(values, shown, t.dtype());
    p.formatter = &formatter;
    body = p.str(0, 0, kIndent);
  }
  if (t.grad_fn())
    suffixes.push_back("grad_fn=<" + t.grad_fn()->name() + ">");
  else if (t.requires_grad())
    suffixes.push_back("requires_grad=True");

  // A suffix that would run past the line width starts a new line. The length counts as PyTorch
  // does (two more than the last line), so that line breaks fall where PyTorch's do.
  std::string out = "tensor(" + body;
  const std::size_t newline = out.rfind('\n');
  std::size_t line = newline == std::string::npos ? out.size() + 2 : out.size() - newline + 1;
  for (const std::string& s : suffixes) {
    if (line + s.size() + 2 > static_cast<std::size_t>(kLineWidth)) {
      out += ",\n" + std::string(kIndent, ' ') + s;
      line = kIndent + s.size();
    } else {
      out += ", " + s;
      line += s.size() + 2;
    }
  }
  return os << out << ')';
}

}  // namespace volt
