// The op table: every differentiable op of the public API (autograd/ops.h and the Tensor members
// of core/tensor.h) is a row. A row names its inputs (shape, layout, value domain), the op as a
// lambda over tensors, a reference written here from first principles over plain row-major
// vectors of doubles (its own index arithmetic, never a volt op), and tolerances. Every row runs
// four ways, registered by filter in tests/CMakeLists.txt:
//   Reference/...  on the CPU in f64, f32, f16 and bf16 against the reference computed from the
//                  same (rounded) input values; every input's gradient comes back defined with
//                  the input's shape, and in f32 and half it matches the f64 gradient of the
//                  same values;
//   Gradcheck/...  in f64 against central finite differences (volt::gradcheck);
//   Gradgradcheck/... in f64, the backward of the backward (create_graph) against finite
//                  differences of the gradient (volt::gradgradcheck);
//   OnCuda/...     on the GPU with poisoned allocations: output and every gradient against the
//                  CPU in the same dtype (DESIGN.md: 1e-5 relative in f32, 1e-2 in half).
// Adding an op means adding a row in table().
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numbers>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "test_support.h"
#include "volt/core/philox.h"
#include "volt/volt.h"
#if VOLT_TEST_WITH_CUDA
#include "volt/core/cuda/caching_allocator.h"
#endif

namespace volt {
namespace {

using Op = std::function<Tensor(const std::vector<Tensor>&)>;
const double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---------------------------------------------------------------------------------------------
// Plain values and index arithmetic, independent of the library.

// A tensor as the reference sees it: its shape and its elements in row-major order.
struct Values {
  Shape shape;
  std::vector<double> v;
  // Per element, the magnitude the op's rounding error is relative to: Σ|terms| for a sum or a
  // dot product (whose result may cancel to nearly 0), |result| when empty.
  std::vector<double> scale;
  double scale_at(std::size_t i) const { return scale.empty() ? std::abs(v[i]) : scale[i]; }
};

using Reference = std::function<Values(const std::vector<Values>&)>;

int64_t count_of(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

int64_t wrap(int64_t dim, std::size_t rank) { return dim < 0 ? dim + static_cast<int64_t>(rank) : dim; }

Shape row_major_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t step = 1;
  for (std::size_t d = shape.size(); d-- > 0;) {
    strides[d] = step;
    step *= shape[d];
  }
  return strides;
}

std::vector<int64_t> unravel(int64_t flat, const Shape& shape) {
  std::vector<int64_t> idx(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    idx[d] = flat % shape[d];
    flat /= shape[d];
  }
  return idx;
}

// Row-major position in `shape` of the element that broadcasts to output index `idx` (NumPy:
// a dim of size 1, or a missing leading dim, repeats).
int64_t broadcast_source(const Shape& shape, const std::vector<int64_t>& idx) {
  const std::size_t lead = idx.size() - shape.size();
  int64_t flat = 0;
  for (std::size_t d = 0; d < shape.size(); ++d)
    flat = flat * shape[d] + (shape[d] == 1 ? 0 : idx[lead + d]);
  return flat;
}

// x rounded to the nearest value of dtype t, ties to even, from the formats' definitions: f16
// has 11 significant bits and normals down to 2^-14, bf16 8 bits and f32's exponent range. The
// inputs stay far from overflow.
double round_to(DType t, double x) {
  if (t == DType::f64 || !std::isfinite(x) || x == 0) return x;
  if (t == DType::f32) return static_cast<float>(x);
  const int bits = t == DType::f16 ? 11 : 8;
  const int min_exponent = t == DType::f16 ? -13 : -125;  // frexp's exponent of the smallest normal
  int e = 0;
  std::frexp(x, &e);
  const double ulp = std::ldexp(1.0, std::max(e, min_exponent) - bits);
  return std::nearbyint(x / ulp) * ulp;
}

// ---------------------------------------------------------------------------------------------
// References.

Values map1(const Values& x, const std::function<double(double)>& f) {
  Values y{x.shape, {}, {}};
  y.v.reserve(x.v.size());
  for (double a : x.v)
    y.v.push_back(f(a));
  return y;
}

// f over the broadcast of a and b; `magnitude` gives the rounding scale (|f| when null).
Values map2(const Values& a, const Values& b, const std::function<double(double, double)>& f,
            const std::function<double(double, double)>& magnitude = nullptr) {
  Values y{testing::naive_broadcast_shape(a.shape, b.shape), {}, {}};
  const int64_t n = count_of(y.shape);
  for (int64_t i = 0; i < n; ++i) {
    const auto idx = unravel(i, y.shape);
    const double p = a.v[broadcast_source(a.shape, idx)], q = b.v[broadcast_source(b.shape, idx)];
    y.v.push_back(f(p, q));
    if (magnitude) y.scale.push_back(magnitude(p, q));
  }
  return y;
}

// The elements of x at offset + Σ idx[d]·strides[d] (positions in x's row-major order) for every
// index of `shape`: any view of x.
Values gather(const Values& x, const Shape& shape, const Shape& strides, int64_t offset) {
  Values y{shape, {}, {}};
  const int64_t n = count_of(shape);
  for (int64_t i = 0; i < n; ++i) {
    int64_t rest = i, at = offset;
    for (std::size_t d = shape.size(); d-- > 0;) {
      at += (rest % shape[d]) * strides[d];
      rest /= shape[d];
    }
    y.v.push_back(x.v[at]);
  }
  return y;
}

Values reshape_ref(const Values& x, const Shape& shape) { return {shape, x.v, x.scale}; }

Values permute_ref(const Values& x, const std::vector<int64_t>& order) {
  const Shape st = row_major_strides(x.shape);
  Shape shape, strides;
  for (int64_t o : order) {
    shape.push_back(x.shape[wrap(o, x.shape.size())]);
    strides.push_back(st[wrap(o, x.shape.size())]);
  }
  return gather(x, shape, strides, 0);
}

Values transpose_ref(const Values& x, int64_t d0, int64_t d1) {
  std::vector<int64_t> order(x.shape.size());
  for (std::size_t d = 0; d < order.size(); ++d)
    order[d] = static_cast<int64_t>(d);
  std::swap(order[wrap(d0, order.size())], order[wrap(d1, order.size())]);
  return permute_ref(x, order);
}

// Elements start, start + step, ... below end of dim d (start and end already in range).
Values slice_ref(const Values& x, int64_t d, int64_t start, int64_t end, int64_t step = 1) {
  d = wrap(d, x.shape.size());
  Shape shape = x.shape, strides = row_major_strides(x.shape);
  const int64_t offset = start * strides[d];
  shape[d] = (end - start + step - 1) / step;
  strides[d] *= step;
  return gather(x, shape, strides, offset);
}

Values select_ref(const Values& x, int64_t d, int64_t index) {
  d = wrap(d, x.shape.size());
  Shape shape = x.shape, strides = row_major_strides(x.shape);
  const int64_t offset = index * strides[d];
  shape.erase(shape.begin() + d);
  strides.erase(strides.begin() + d);
  return gather(x, shape, strides, offset);
}

Values expand_ref(const Values& x, const Shape& shape) {
  const Shape st = row_major_strides(x.shape);
  const std::size_t lead = shape.size() - x.shape.size();
  Shape strides(shape.size(), 0);
  for (std::size_t d = lead; d < shape.size(); ++d)
    strides[d] = x.shape[d - lead] == shape[d] ? st[d - lead] : 0;
  return gather(x, shape, strides, 0);
}

enum class Reduce { sum, mean, max };

// x reduced over `dims` (any sign; none means all).
Values reduce_ref(const Values& x, std::vector<int64_t> dims, bool keepdim, Reduce kind) {
  const std::size_t rank = x.shape.size();
  std::vector<bool> reduced(rank, dims.empty());
  for (int64_t d : dims)
    reduced[wrap(d, rank)] = true;
  Shape kept = x.shape, out;
  for (std::size_t d = 0; d < rank; ++d) {
    if (reduced[d]) kept[d] = 1;
    if (!reduced[d] || keepdim) out.push_back(kept[d]);
  }
  const int64_t n_out = count_of(kept);
  const double init = kind == Reduce::max ? -std::numeric_limits<double>::infinity() : 0.0;
  Values y{out, std::vector<double>(n_out, init), std::vector<double>(n_out, 0.0)};
  for (int64_t i = 0; i < count_of(x.shape); ++i) {
    auto idx = unravel(i, x.shape);
    for (std::size_t d = 0; d < rank; ++d)
      if (reduced[d]) idx[d] = 0;
    int64_t o = 0;
    for (std::size_t d = 0; d < rank; ++d)
      o = o * kept[d] + idx[d];
    if (kind == Reduce::max) {
      y.v[o] = std::max(y.v[o], x.v[i]);
      y.scale[o] = std::abs(y.v[o]);
    } else {
      y.v[o] += x.v[i];
      y.scale[o] += std::abs(x.v[i]);
    }
  }
  if (kind == Reduce::mean) {
    const int64_t n = n_out == 0 ? 0 : count_of(x.shape) / n_out;
    for (int64_t o = 0; o < n_out; ++o) {
      y.v[o] /= static_cast<double>(n);  // 0 / 0 = NaN over an empty dim, as PyTorch
      y.scale[o] = n == 0 ? 0.0 : y.scale[o] / static_cast<double>(n);
    }
  }
  return y;
}

// exp(x - max) / Σ exp(x - max) along dim, or its log, over [outer, n, inner].
Values softmax_ref(const Values& x, int64_t dim, bool log) {
  const std::size_t d = wrap(dim, x.shape.size());
  int64_t outer = 1, inner = 1;
  for (std::size_t k = 0; k < d; ++k)
    outer *= x.shape[k];
  for (std::size_t k = d + 1; k < x.shape.size(); ++k)
    inner *= x.shape[k];
  const int64_t n = x.shape[d];
  Values y{x.shape, std::vector<double>(x.v.size()), std::vector<double>(x.v.size())};
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      auto at = [&](int64_t j) { return static_cast<std::size_t>((o * n + j) * inner + i); };
      double m = -std::numeric_limits<double>::infinity(), s = 0;
      for (int64_t j = 0; j < n; ++j)
        m = std::max(m, x.v[at(j)]);
      for (int64_t j = 0; j < n; ++j)
        s += std::exp(x.v[at(j)] - m);
      for (int64_t j = 0; j < n; ++j) {
        const double shifted = x.v[at(j)] - m;
        y.v[at(j)] = log ? shifted - std::log(s) : std::exp(shifted) / s;
        // log(s) is off by about s's relative error in absolute terms, however small log(s) is.
        y.scale[at(j)] = log ? std::abs(shifted) + std::log(s) + 1 : std::abs(y.v[at(j)]);
      }
    }
  return y;
}

// torch.matmul by definition: a 1-D operand is promoted ([k] -> [1, k] on the left, [k, 1] on
// the right) and the promoted dim removed again; batch dims broadcast.
Values matmul_ref(const Values& a, const Values& b) {
  Shape sa = a.shape, sb = b.shape;
  if (sa.size() == 1) sa.insert(sa.begin(), 1);
  if (sb.size() == 1) sb.push_back(1);
  const int64_t m = sa[sa.size() - 2], k = sa.back(), n = sb.back();
  const Shape ba(sa.begin(), sa.end() - 2), bb(sb.begin(), sb.end() - 2);
  const Shape batch = testing::naive_broadcast_shape(ba, bb);
  Values c{batch, {}, {}};
  for (int64_t t = 0; t < count_of(batch); ++t) {
    const auto idx = unravel(t, batch);
    const int64_t oa = broadcast_source(ba, idx) * m * k, ob = broadcast_source(bb, idx) * k * n;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0, magnitude = 0;
        for (int64_t p = 0; p < k; ++p) {
          const double term = a.v[oa + i * k + p] * b.v[ob + p * n + j];
          s += term;
          magnitude += std::abs(term);
        }
        c.v.push_back(s);
        c.scale.push_back(magnitude);
      }
  }
  if (a.shape.size() > 1) c.shape.push_back(m);
  if (b.shape.size() > 1) c.shape.push_back(n);
  return c;
}

// x [..., in] · weightᵀ [in, out] + bias [out].
Values linear_ref(const Values& x, const Values& weight, const Values* bias) {
  const int64_t out = weight.shape[0], in = weight.shape[1];
  const int64_t rows = count_of(Shape(x.shape.begin(), x.shape.end() - 1));
  Values y{x.shape, {}, {}};
  y.shape.back() = out;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double s = bias ? bias->v[o] : 0.0, magnitude = std::abs(s);
      for (int64_t i = 0; i < in; ++i) {
        const double term = x.v[r * in + i] * weight.v[o * in + i];
        s += term;
        magnitude += std::abs(term);
      }
      y.v.push_back(s);
      y.scale.push_back(magnitude);
    }
  return y;
}

// Per row -(1-ε)·log p[t] - ε/C·Σ_c log p[c], log p = x - logsumexp(x); an ignored row is 0 and
// does not count towards the mean (PyTorch's semantics, an empty mean being NaN).
Values cross_entropy_ref(const Values& logits, const std::vector<int64_t>& target, Reduction reduction,
                         int64_t ignore_index, double smoothing) {
  const bool single = logits.shape.size() == 1;
  const int64_t classes = logits.shape.back(), rows = single ? 1 : logits.shape[0];
  Values per_row{single ? Shape{} : Shape{rows}, {}, {}};
  int64_t counted = 0;
  for (int64_t r = 0; r < rows; ++r) {
    if (target[r] == ignore_index) {
      per_row.v.push_back(0.0);
      per_row.scale.push_back(0.0);
      continue;
    }
    ++counted;
    const double* x = logits.v.data() + r * classes;
    double m = x[0], largest = 0;
    for (int64_t c = 0; c < classes; ++c) {
      m = std::max(m, x[c]);
      largest = std::max(largest, std::abs(x[c]));
    }
    double s = 0;
    for (int64_t c = 0; c < classes; ++c)
      s += std::exp(x[c] - m);
    const double lse = m + std::log(s);
    double smooth = 0;
    for (int64_t c = 0; c < classes; ++c)
      smooth += (lse - x[c]) / static_cast<double>(classes);
    per_row.v.push_back((1 - smoothing) * (lse - x[target[r]]) + smoothing * smooth);
    per_row.scale.push_back(std::abs(lse) + largest + 1);  // + 1: log(s), as in softmax_ref
  }
  if (reduction == Reduction::none) return per_row;
  Values total{{}, {0.0}, {0.0}};
  for (std::size_t r = 0; r < per_row.v.size(); ++r) {
    total.v[0] += per_row.v[r];
    total.scale[0] += per_row.scale[r];
  }
  if (reduction == Reduction::mean) {
    total.v[0] /= static_cast<double>(counted);
    total.scale[0] = counted == 0 ? 0.0 : total.scale[0] / static_cast<double>(counted);
  }
  return total;
}

// The mask is the Philox stream's (core/philox.h, the documented mapping the CUDA twin shares):
// a fresh Generator(seed) starts at counter 0, element i keeps when uniform i >= p in float.
Values dropout_ref(const Values& x, double p, uint64_t seed) {
  Values y{x.shape, {}, {}};
  for (std::size_t i = 0; i < x.v.size(); ++i) {
    const float u = uniform_float(philox_block(seed, i / 4).v[i % 4]);
    y.v.push_back(u >= static_cast<float>(p) ? x.v[i] / (1.0 - p) : 0.0);
  }
  return y;
}

Values cat_ref(const std::vector<Values>& pieces, int64_t dim) {
  const std::size_t d = wrap(dim, pieces[0].shape.size());
  Values y{pieces[0].shape, {}, {}};
  y.shape[d] = 0;
  for (const Values& p : pieces)
    y.shape[d] += p.shape[d];
  int64_t outer = 1, inner = 1;
  for (std::size_t k = 0; k < d; ++k)
    outer *= y.shape[k];
  for (std::size_t k = d + 1; k < y.shape.size(); ++k)
    inner *= y.shape[k];
  for (int64_t o = 0; o < outer; ++o)
    for (const Values& p : pieces) {
      const int64_t chunk = p.shape[d] * inner;
      y.v.insert(y.v.end(), p.v.begin() + o * chunk, p.v.begin() + (o + 1) * chunk);
    }
  return y;
}

Values stack_ref(const std::vector<Values>& pieces, int64_t dim) {
  const int64_t d = wrap(dim, pieces[0].shape.size() + 1);
  std::vector<Values> unsqueezed;
  for (const Values& p : pieces) {
    Shape s = p.shape;
    s.insert(s.begin() + d, 1);
    unsqueezed.push_back(reshape_ref(p, s));
  }
  return cat_ref(unsqueezed, d);
}

// g summed over the dims it was broadcast along from `shape`.
Values sum_to_ref(const Values& g, const Shape& shape) {
  const std::size_t lead = g.shape.size() - shape.size();
  std::vector<int64_t> dims;
  for (std::size_t d = 0; d < g.shape.size(); ++d)
    if (d < lead || (shape[d - lead] == 1 && g.shape[d] != 1)) dims.push_back(static_cast<int64_t>(d));
  if (dims.empty()) return g;
  return reshape_ref(reduce_ref(g, dims, true, Reduce::sum), shape);
}

double sigmoid_of(double x) { return 1 / (1 + std::exp(-x)); }
double relu_of(double x) { return x > 0 ? x : 0.0; }

Reference unary(std::function<double(double)> f) {
  return [f](const std::vector<Values>& x) { return map1(x[0], f); };
}

// ---------------------------------------------------------------------------------------------
// Rows.

// How an input tensor is laid out in memory.
enum class Layout {
  contiguous,
  transposed,  // stored with the last two dims swapped, viewed back: strides [..., 1, rows]
  sliced,      // every other element of a last dim of 2n+1 from offset 1 (stride 2, offset 1, NaN between)
  expanded,    // one row (dim 0 of size 1) expanded along dim 0: stride 0
};

// Where an input's values come from.
enum class Domain {
  any,             // uniform in [-3, 3)
  wide,            // uniform in [-8, 8): softmax's and the losses' stability
  positive,        // uniform in [0.5, 3): log, sqrt, fractional powers, divisors
  away_from_zero,  // |x| in [0.25, 3): relu and abs, where eps never crosses the kink
  distinct,        // a shuffled progression over [-2, 2]: max without ties in f64
  grid,            // multiples of 1/64 in [-3, 3): exact in every dtype, with x ± 1/64 too
  unit,            // uniform in [0.05, 0.95]: probabilities and soft targets
};

struct Input {
  Shape shape;
  Layout layout = Layout::contiguous;
  Domain domain = Domain::any;
};

// Outputs: relative to each element's rounding scale (see Values::scale).
struct Tolerance {
  double f64 = 1e-12;
  double f32 = 1e-5;
  double half = 1e-2;
  // Gradients in f32 and half against the f64 gradients of the same values, relative to the
  // largest element of all the row's gradients: the backward rounds more often than the forward.
  double grad_f32 = 1e-4;
  double grad_half = 3e-2;
  double grad_atol = 0;  // for gradients that are 0 up to rounding
};

struct Row {
  std::string name;  // [A-Za-z0-9_]: the test's name
  std::vector<Input> inputs;
  Op op;
  Reference ref;             // unused when `error` is set
  std::string error;         // set: the op throws a volt::Error containing it, on every dtype and device
  std::string no_gradcheck;  // set: why finite differences cannot check this row (the Gradcheck run skips)
  Tolerance tol;
  std::vector<DType> dtypes = {DType::f32, DType::f16, DType::bf16};  // run besides f64
  GradcheckOptions grad = default_gradcheck();

  // Finite differences cost two forward passes per checked element: at most 32 per input
  // (evenly spaced, the last 4 included). atol 1e-7 rather than 1e-5, so that the small
  // derivatives of long reductions (1/65537) are checked too.
  static GradcheckOptions default_gradcheck() {
    GradcheckOptions o;
    o.atol = 1e-7;
    o.max_checked = 32;
    return o;
  }
};

void PrintTo(const Row& row, std::ostream* os) { *os << row.name; }

class Table {
 public:
  Row& add(std::string name, std::vector<Input> inputs, Op op, Reference ref) {
    Row row;
    row.name = std::move(name);
    row.inputs = std::move(inputs);
    row.op = std::move(op);
    row.ref = std::move(ref);
    rows_.push_back(std::move(row));
    return rows_.back();
  }
  Row& add_error(std::string name, std::vector<Input> inputs, Op op, std::string error) {
    Row& row = add(std::move(name), std::move(inputs), std::move(op), nullptr);
    row.error = std::move(error);
    return row;
  }
  std::vector<Row> take() { return std::move(rows_); }

 private:
  std::vector<Row> rows_;
};

std::string shape_tag(const Shape& shape) {
  if (shape.empty()) return "scalar";
  std::string s;
  for (int64_t d : shape) {
    if (!s.empty()) s += 'x';
    s += std::to_string(d);
  }
  return s;
}

std::string tag(const Input& in) {
  const char* layout[] = {"", "_transposed", "_sliced", "_expanded"};
  return shape_tag(in.shape) + layout[static_cast<int>(in.layout)];
}

const int64_t kSizes[] = {0, 1, 7, 1023, 65537};

// The elementwise size family's inputs: 7 as a stride-2 slice, 1023 as a transposed [31, 33];
// 65537 is prime and stays 1-D.
Input sized(int64_t n, Domain domain) {
  if (n == 7) return {{7}, Layout::sliced, domain};
  if (n == 1023) return {{31, 33}, Layout::transposed, domain};
  return {{n}, Layout::contiguous, domain};
}

// Rows over [2, n] along dim 1: a stride-2 slice for 7, a transposed layout for 1023.
Input rows_of(int64_t n, Domain domain) {
  const Layout layout = n == 7 ? Layout::sliced : n == 1023 ? Layout::transposed : Layout::contiguous;
  return {{2, n}, layout, domain};
}

Tensor targets_on(const std::vector<int64_t>& t, bool single, Device device) {
  const Tensor host = single ? tensor(t).reshape({}) : tensor(t, {static_cast<int64_t>(t.size())});
  return host.to(device);
}

// With a GPU, the CPU <-> GPU round trip; without one, to(cpu) (which returns its input).
Device other_device(Device d) {
  if (!d.is_cpu()) return Device::cpu();
  return cuda::is_available() ? Device::cuda(0) : Device::cpu();
}

// A unary op's rows: the free function, and for the transposed [31, 33] the member (or another
// spelling of the same op), beside its f64 reference.
struct UnaryRow {
  const char* name;
  Domain domain;
  Op fn, member;
  std::function<double(double)> f;
};

void elementwise_rows(Table& t) {
  using D = Domain;
  // Unary ops at every size: the free function, and for the transposed [31, 33] the member.
  const UnaryRow unaries[] = {
      {"neg", D::any, [](auto& x) { return neg(x[0]); }, [](auto& x) { return -x[0]; }, [](double a) { return -a; }},
      {"exp", D::any, [](auto& x) { return exp(x[0]); }, [](auto& x) { return x[0].exp(); },
       [](double a) { return std::exp(a); }},
      {"log", D::positive, [](auto& x) { return log(x[0]); }, [](auto& x) { return x[0].log(); },
       [](double a) { return std::log(a); }},
      {"sqrt", D::positive, [](auto& x) { return sqrt(x[0]); }, [](auto& x) { return x[0].sqrt(); },
       [](double a) { return std::sqrt(a); }},
      {"tanh", D::any, [](auto& x) { return tanh(x[0]); }, [](auto& x) { return x[0].tanh(); },
       [](double a) { return std::tanh(a); }},
      {"sigmoid", D::any, [](auto& x) { return sigmoid(x[0]); }, [](auto& x) { return x[0].sigmoid(); }, sigmoid_of},
      {"relu", D::away_from_zero, [](auto& x) { return relu(x[0]); }, [](auto& x) { return x[0].relu(); }, relu_of},
      {"abs", D::away_from_zero, [](auto& x) { return abs(x[0]); }, [](auto& x) { return x[0].abs(); },
       [](double a) { return std::abs(a); }},
      {"pow_1p5", D::positive, [](auto& x) { return pow(x[0], 1.5); }, [](auto& x) { return x[0].pow(1.5); },
       [](double a) { return std::pow(a, 1.5); }},
      {"pow_2p5", D::positive, [](auto& x) { return pow(x[0], 2.5); }, [](auto& x) { return x[0].pow(2.5); },
       [](double a) { return std::pow(a, 2.5); }},
      {"pow_2", D::any, [](auto& x) { return pow(x[0], 2.0); }, [](auto& x) { return x[0].pow(2.0); },
       [](double a) { return a * a; }},
      {"pow_3", D::any, [](auto& x) { return pow(x[0], 3.0); }, [](auto& x) { return x[0].pow(3.0); },
       [](double a) { return a * a * a; }},
  };
  for (const UnaryRow& u : unaries)
    for (int64_t n : kSizes) {
      const Input in = sized(n, u.domain);
      t.add(std::string(u.name) + "_" + tag(in), {in}, n == 1023 ? u.member : u.fn, unary(u.f));
    }

  // Tensor-scalar arithmetic at every size; the operator forms, as a user writes them.
  struct Scalar {
    const char* name;
    Domain domain;
    Op op;
    std::function<double(double)> f;
  };
  const Scalar scalars[] = {
      {"mul_scalar", D::any, [](auto& x) { return x[0] * 3.0; }, [](double a) { return a * 3; }},
      {"add_scalar", D::any, [](auto& x) { return 2.0 + x[0]; }, [](double a) { return a + 2; }},
      {"sub_scalar", D::any, [](auto& x) { return x[0] - 2.0; }, [](double a) { return a - 2; }},
      {"rsub_scalar", D::any, [](auto& x) { return 2.0 - x[0]; }, [](double a) { return 2 - a; }},
      {"div_scalar", D::any, [](auto& x) { return x[0] / 4.0; }, [](double a) { return a / 4; }},
      {"rdiv_scalar", D::positive, [](auto& x) { return 1.0 / x[0]; }, [](double a) { return 1 / a; }},
  };
  for (const Scalar& s : scalars)
    for (int64_t n : kSizes) {
      const Input in = sized(n, s.domain);
      t.add(std::string(s.name) + "_" + tag(in), {in}, s.op, unary(s.f));
    }
  const Input sliced34{{3, 4}, Layout::sliced};
  t.add(
      "add_scalar_fn_3x4_sliced", {sliced34}, [](auto& x) { return add(x[0], 1.5); },
      unary([](double a) { return a + 1.5; }));
  t.add(
      "mul_scalar_fn_3x4_sliced", {sliced34}, [](auto& x) { return mul(x[0], -0.75); },
      unary([](double a) { return a * -0.75; }));
  t.add(
      "add_scalar_right_3x4", {{{3, 4}}}, [](auto& x) { return x[0] + 0.5; }, unary([](double a) { return a + 0.5; }));
  t.add(
      "mul_scalar_left_3x4", {{{3, 4}}}, [](auto& x) { return 2.5 * x[0]; }, unary([](double a) { return 2.5 * a; }));
  t.add(
       "div_rdiv_scalar_positive_4x3_transposed", {{{4, 3}, Layout::transposed, D::positive}},
       [](auto& x) { return 3.0 / x[0] + x[0] / 3.0; }, unary([](double a) { return 3 / a + a / 3; }))
      .tol.half = 2e-2;  // four roundings to half: pow, mul, mul, add
  t.add(
       "scalar_chain_2x3_sliced", {{{2, 3}, Layout::sliced}}, [](auto& x) { return (2.0 - x[0] * 3.0 + 1.5) / 4.0; },
       unary([](double a) { return (2 - a * 3 + 1.5) / 4; }))
      .tol.half = 2e-2;  // four roundings to half

  // Binary ops broadcast: every pair of shapes, each op.
  const std::pair<Shape, Shape> pairs[] = {
      {{0}, {0}},
      {{1}, {1}},
      {{7}, {7}},
      {{1023}, {1}},
      {{65537}, {65537}},
      {{3, 1}, {1, 4}},
      {{2, 3, 4}, {3, 1}},
      {{0, 3}, {1, 3}},
      {{5, 1, 7}, {2, 1}},
      {{}, {2, 3}},
      {{4, 5}, {}},
      {{1, 1, 1}, {6}},
      {{2, 1, 3, 1}, {4, 1, 5}},
  };
  const auto sum_magnitude = [](double a, double b) { return std::abs(a) + std::abs(b); };
  for (const auto& [sa, sb] : pairs) {
    const std::string shapes = shape_tag(sa) + "_" + shape_tag(sb);
    t.add(
        "add_" + shapes, {{sa}, {sb}}, [](auto& x) { return x[0] + x[1]; },
        [=](auto& x) { return map2(x[0], x[1], std::plus<>(), sum_magnitude); });
    t.add(
        "sub_" + shapes, {{sa}, {sb}}, [](auto& x) { return x[0] - x[1]; },
        [=](auto& x) { return map2(x[0], x[1], std::minus<>(), sum_magnitude); });
    t.add(
        "mul_" + shapes, {{sa}, {sb}}, [](auto& x) { return x[0] * x[1]; },
        [](auto& x) { return map2(x[0], x[1], std::multiplies<>()); });
    t.add(
        "div_" + shapes, {{sa}, {sb, Layout::contiguous, D::positive}}, [](auto& x) { return x[0] / x[1]; },
        [](auto& x) { return map2(x[0], x[1], std::divides<>()); });
  }
  // a + alpha·b and a - alpha·b.
  std::vector<std::pair<Shape, Shape>> alpha_pairs(std::begin(pairs), std::end(pairs));
  alpha_pairs.push_back({{2, 3}, {3}});
  for (const auto& [sa, sb] : alpha_pairs) {
    const std::string shapes = shape_tag(sa) + "_" + shape_tag(sb);
    t.add(
        "add_alpha_" + shapes, {{sa}, {sb}}, [](auto& x) { return add(x[0], x[1], -2.5); },
        [](auto& x) {
          return map2(
              x[0], x[1], [](double a, double b) { return a - 2.5 * b; },
              [](double a, double b) { return std::abs(a) + std::abs(2.5 * b); });
        });
    t.add(
        "sub_alpha_" + shapes, {{sa}, {sb}}, [](auto& x) { return sub(x[0], x[1], -0.5); },
        [](auto& x) {
          return map2(
              x[0], x[1], [](double a, double b) { return a + 0.5 * b; },
              [](double a, double b) { return std::abs(a) + std::abs(0.5 * b); });
        });
  }
  // b - a: the broadcast roles swapped, for the pairs where they differ.
  for (const auto& [sa, sb] : pairs) {
    if (sa == sb || (count_of(sa) == count_of(sb) && sa.size() == sb.size())) continue;
    t.add(
        "sub_swapped_" + shape_tag(sb) + "_" + shape_tag(sa), {{sb}, {sa}}, [](auto& x) { return x[0] - x[1]; },
        [=](auto& x) { return map2(x[0], x[1], std::minus<>(), sum_magnitude); });
  }
  // Non-contiguous operands, through the free functions.
  const Input t64{{6, 4}, Layout::transposed}, e64{{6, 4}, Layout::expanded}, s64{{6, 4}, Layout::sliced};
  t.add(
      "add_fn_transposed_expanded", {t64, e64}, [](auto& x) { return add(x[0], x[1]); },
      [=](auto& x) { return map2(x[0], x[1], std::plus<>(), sum_magnitude); });
  t.add(
      "sub_fn_expanded_sliced", {e64, s64}, [](auto& x) { return sub(x[0], x[1]); },
      [=](auto& x) { return map2(x[0], x[1], std::minus<>(), sum_magnitude); });
  t.add(
      "mul_fn_sliced_transposed", {s64, t64}, [](auto& x) { return mul(x[0], x[1]); },
      [](auto& x) { return map2(x[0], x[1], std::multiplies<>()); });
  t.add(
      "div_fn_transposed_sliced", {t64, {{6, 4}, Layout::sliced, D::positive}}, [](auto& x) { return div(x[0], x[1]); },
      [](auto& x) { return map2(x[0], x[1], std::divides<>()); });
  t.add(
      "mul_fn_transposed_vector", {{{3, 4}, Layout::transposed}, {{4}}}, [](auto& x) { return mul(x[0], x[1]); },
      [](auto& x) { return map2(x[0], x[1], std::multiplies<>()); });
  t.add(
      "mul_fn_same_input_twice", {{{5}}}, [](auto& x) { return mul(x[0], x[0]); },
      unary([](double a) { return a * a; }));
  t.add(
      "add_fn_3x1x4_5x4", {{{3, 1, 4}}, {{5, 4}}}, [](auto& x) { return add(x[0], x[1]); },
      [=](auto& x) { return map2(x[0], x[1], std::plus<>(), sum_magnitude); });
  t.add(
      "sub_fn_4x1_1x3", {{{4, 1}}, {{1, 3}}}, [](auto& x) { return sub(x[0], x[1]); },
      [=](auto& x) { return map2(x[0], x[1], std::minus<>(), sum_magnitude); });
  t.add(
      "div_fn_2x3_2x1", {{{2, 3}}, {{2, 1}, Layout::contiguous, D::positive}}, [](auto& x) { return div(x[0], x[1]); },
      [](auto& x) { return map2(x[0], x[1], std::divides<>()); });
  // a·b + c over a transpose, an expansion and a slice at once (PyTorch rounds a·b first too).
  t.add(
      "mul_add_mixed_layouts", {t64, e64, s64}, [](auto& x) { return x[0] * x[1] + x[2]; },
      [](auto& x) {
        return map2(map2(x[0], x[1], std::multiplies<>()), x[2], std::plus<>(),
                    [](double ab, double c) { return std::abs(ab) + std::abs(c); });
      });
  // sum_to: the backward of broadcasting, public in ops.h.
  t.add(
      "sum_to_2x3x4_3x1", {{{2, 3, 4}}},
      [](auto& x) {
        return sum_to(x[0], {3, 1});
      },
      [](auto& x) {
        return sum_to_ref(x[0], {3, 1});
      });
  t.add(
      "sum_to_4x5_5_transposed", {{{4, 5}, Layout::transposed}}, [](auto& x) { return sum_to(x[0], {5}); },
      [](auto& x) { return sum_to_ref(x[0], {5}); });
  t.add(
      "sum_to_2x0x3_1x3", {{{2, 0, 3}}},
      [](auto& x) {
        return sum_to(x[0], {1, 3});
      },
      [](auto& x) {
        return sum_to_ref(x[0], {1, 3});
      });
}

void reduction_rows(Table& t) {
  using D = Domain;
  // sum and mean over dims (non-negative): the free function with the dims as given, the member
  // with the same dims counted from the end and keepdim flipped.
  const auto over_dims = [&t](const Input& in, const std::vector<int64_t>& dims) {
    std::vector<int64_t> negative;
    std::string base = tag(in) + "_dims";
    for (int64_t d : dims) {
      negative.push_back(d - static_cast<int64_t>(in.shape.size()));
      base += '_';
      base += std::to_string(d);
    }
    t.add(
        "sum_" + base, {in}, [dims](auto& x) { return sum(x[0], dims); },
        [dims](auto& x) { return reduce_ref(x[0], dims, false, Reduce::sum); });
    t.add(
        "sum_member_keepdim_" + base, {in}, [negative](auto& x) { return x[0].sum(negative, true); },
        [negative](auto& x) { return reduce_ref(x[0], negative, true, Reduce::sum); });
    t.add(
        "mean_keepdim_" + base, {in}, [dims](auto& x) { return mean(x[0], dims, true); },
        [dims](auto& x) { return reduce_ref(x[0], dims, true, Reduce::mean); });
    t.add(
        "mean_member_" + base, {in}, [negative](auto& x) { return x[0].mean(negative); },
        [negative](auto& x) { return reduce_ref(x[0], negative, false, Reduce::mean); });
  };
  over_dims({{7}}, {0});
  over_dims({{3, 4}}, {0});
  over_dims({{3, 4}, Layout::transposed}, {1});
  over_dims({{3, 4}}, {0, 1});
  over_dims({{2, 3, 5}}, {1});
  over_dims({{2, 3, 5}, Layout::sliced}, {0, 2});
  over_dims({{4, 1, 6}}, {1});
  over_dims({{2, 0, 3}}, {1});
  over_dims({{2, 0, 3}}, {0, 2});
  over_dims({{1023}}, {0});
  over_dims({{2, 3, 4}}, {0, 2});
  over_dims({{2, 3, 4}, Layout::sliced}, {2});
  // Every size: over all elements, and along the rows of [2, n]. Over an empty dim a sum is
  // exactly 0, a mean NaN, a max an error; softmax of an empty row is empty.
  for (int64_t n : kSizes) {
    const Input all = sized(n, D::any), rows = rows_of(n, D::any), distinct_all = sized(n, D::distinct);
    const Input distinct_rows = rows_of(n, D::distinct), wide_rows = rows_of(n, D::wide);
    t.add(
        "sum_all_" + tag(all), {all}, [](auto& x) { return sum(x[0]); },
        [](auto& x) { return reduce_ref(x[0], {}, false, Reduce::sum); });
    t.add(
        "mean_all_member_" + tag(all), {all}, [](auto& x) { return x[0].mean(); },
        [](auto& x) { return reduce_ref(x[0], {}, false, Reduce::mean); });
    t.add(
        "sum_rows_member_" + tag(rows), {rows}, [](auto& x) { return x[0].sum({1}); },
        [](auto& x) { return reduce_ref(x[0], {1}, false, Reduce::sum); });
    t.add(
        "mean_rows_" + tag(rows), {rows}, [](auto& x) { return mean(x[0], {1}); },
        [](auto& x) { return reduce_ref(x[0], {1}, false, Reduce::mean); });
    Reference softmax_rows = [](auto& x) { return softmax_ref(x[0], 1, false); };
    Reference log_softmax_rows = [](auto& x) { return softmax_ref(x[0], 1, true); };
    // Over 65537 terms the f32 row sum (one term after another) is off by up to ~n/2 ulps.
    // The projection v·f of 65537 outputs carries ~1e-10 of rounding noise, which eps = 1e-6
    // turns into 1e-4 of the derivative: a wider step, whose truncation error is still ~1e-8.
    const double long_row = n > 5000 ? 2e-4 : 1e-5, eps = n > 5000 ? 1e-4 : 1e-6;
    Row& soft = t.add(
        "softmax_rows_" + tag(wide_rows), {wide_rows}, [](auto& x) { return softmax(x[0], 1); }, softmax_rows);
    Row& log_soft = t.add(
        "log_softmax_rows_member_" + tag(wide_rows), {wide_rows}, [](auto& x) { return x[0].log_softmax(1); },
        log_softmax_rows);
    soft.tol.f32 = log_soft.tol.f32 = long_row;
    soft.grad.eps = log_soft.grad.eps = eps;
    if (n == 0) {
      t.add_error(
          "max_rows_" + tag(distinct_rows), {distinct_rows}, [](auto& x) { return std::get<0>(max(x[0], 1)); },
          "cannot reduce over an empty dim");
      t.add_error(
          "max_all_member_" + tag(distinct_all), {distinct_all}, [](auto& x) { return x[0].max(); },
          "cannot reduce over an empty dim");
    } else {
      t.add(
          "max_rows_" + tag(distinct_rows), {distinct_rows}, [](auto& x) { return std::get<0>(max(x[0], 1)); },
          [](auto& x) { return reduce_ref(x[0], {1}, false, Reduce::max); });
      t.add(
          "max_all_member_" + tag(distinct_all), {distinct_all}, [](auto& x) { return x[0].max(); },
          [](auto& x) { return reduce_ref(x[0], {}, false, Reduce::max); });
    }
  }
  t.add(
      "sum_all_scalar", {{{}}}, [](auto& x) { return x[0].sum(); },
      [](auto& x) { return reduce_ref(x[0], {}, false, Reduce::sum); });
  // A 0-dim tensor has one element, and PyTorch lets dim 0 (or -1) name it.
  const Reference itself = [](auto& x) { return x[0]; };
  t.add(
      "mean_all_scalar", {{{}}}, [](auto& x) { return mean(x[0]); }, itself);
  t.add(
      "sum_dim0_scalar", {{{}}}, [](auto& x) { return sum(x[0], {0}); }, itself);
  t.add(
      "max_dim0_scalar", {{{}}}, [](auto& x) { return std::get<0>(max(x[0], 0)); }, itself);
  t.add(
      "softmax_dim0_scalar", {{{}}}, [](auto& x) { return softmax(x[0], 0); },
      [](auto&) {
        return Values{{}, {1.0}, {}};
      });
  t.add(
      "log_softmax_dim_minus1_scalar", {{{}}}, [](auto& x) { return log_softmax(x[0], -1); },
      [](auto&) {
        return Values{{}, {0.0}, {}};
      });
  t.add(
      "mean_all_3x5_transposed", {{{3, 5}, Layout::transposed}}, [](auto& x) { return mean(x[0]); },
      [](auto& x) { return reduce_ref(x[0], {}, false, Reduce::mean); });

  // max(dim)'s values along every dim, with and without keepdim.
  for (int64_t dim : {0, 1, 2})
    for (bool keepdim : {false, true}) {
      t.add(
          "max_4x5x3_dim" + std::to_string(dim) + (keepdim ? "_keepdim" : ""),
          {{{4, 5, 3}, Layout::contiguous, D::distinct}},
          [dim, keepdim](auto& x) { return std::get<0>(x[0].max(dim, keepdim)); },
          [dim, keepdim](auto& x) { return reduce_ref(x[0], {dim}, keepdim, Reduce::max); });
    }
  t.add(
      "max_3x4_dim1", {{{3, 4}, Layout::contiguous, D::distinct}}, [](auto& x) { return std::get<0>(max(x[0], 1)); },
      [](auto& x) { return reduce_ref(x[0], {1}, false, Reduce::max); });
  t.add(
      "max_4x3_transposed_dim0_keepdim", {{{4, 3}, Layout::transposed, D::distinct}},
      [](auto& x) { return std::get<0>(max(x[0], 0, true)); },
      [](auto& x) { return reduce_ref(x[0], {0}, true, Reduce::max); });
  t.add(
      "max_2x3_sliced_dim_minus1", {{{2, 3}, Layout::sliced, D::distinct}},
      [](auto& x) { return std::get<0>(x[0].max(-1)); },
      [](auto& x) { return reduce_ref(x[0], {-1}, false, Reduce::max); });

  // softmax and log_softmax along every dim of several shapes.
  struct Along {
    Input in;
    int64_t dim;
  };
  const Along alongs[] = {
      {{{3, 5}, Layout::contiguous, D::wide}, 0},     {{{3, 5}, Layout::contiguous, D::wide}, 1},
      {{{2, 4, 3}, Layout::contiguous, D::wide}, 0},  {{{2, 4, 3}, Layout::contiguous, D::wide}, 1},
      {{{2, 4, 3}, Layout::contiguous, D::wide}, 2},  {{{1, 7}, Layout::contiguous, D::wide}, 0},
      {{{1, 7}, Layout::contiguous, D::wide}, -1},    {{{2, 1023}, Layout::contiguous, D::wide}, 0},
      {{{1, 65537}, Layout::contiguous, D::wide}, 0}, {{{4, 3}, Layout::transposed, D::wide}, 0},
      {{{2, 3, 4}, Layout::sliced, D::wide}, 1},      {{{3, 5}, Layout::sliced, D::wide}, -1},
  };
  for (const Along& a : alongs) {
    std::string base = tag(a.in) + "_dim";
    base += a.dim < 0 ? "_minus" : "";
    base += std::to_string(std::abs(a.dim));
    const int64_t dim = a.dim;
    t.add(
        "softmax_" + base, {a.in}, [dim](auto& x) { return softmax(x[0], dim); },
        [dim](auto& x) { return softmax_ref(x[0], dim, false); });
    t.add(
        "log_softmax_member_" + base, {a.in}, [dim](auto& x) { return x[0].log_softmax(dim); },
        [dim](auto& x) { return softmax_ref(x[0], dim, true); });
  }
  t.add(
      "softmax_member_3x5_dim1", {{{3, 5}, Layout::contiguous, D::wide}}, [](auto& x) { return x[0].softmax(1); },
      [](auto& x) { return softmax_ref(x[0], 1, false); });
  t.add(
      "log_softmax_fn_3x5_dim0", {{{3, 5}, Layout::contiguous, D::wide}}, [](auto& x) { return log_softmax(x[0], 0); },
      [](auto& x) { return softmax_ref(x[0], 0, true); });
}

void matmul_rows(Table& t) {
  using L = Layout;
  const auto product = [](auto& x) { return matmul_ref(x[0], x[1]); };
  const Op mm = [](auto& x) { return matmul(x[0], x[1]); };
  struct Case {
    const char* name;
    Input a, b;
  };
  const Case cases[] = {
      {"dot_5", {{5}}, {{5}}},
      {"dot_7", {{7}}, {{7}}},
      {"dot_1023", {{1023}}, {{1023}}},
      {"vec_mat_4_4x3", {{4}}, {{4, 3}}},
      {"vec_mat_5_5x3", {{5}}, {{5, 3}}},
      {"mat_vec_3x4_4", {{3, 4}}, {{4}}},
      {"mat_vec_4x5_5", {{4, 5}}, {{5}}},
      {"mm_3x4_4x5", {{3, 4}}, {{4, 5}}},
      {"mm_1x1_1x1", {{1, 1}}, {{1, 1}}},
      {"mm_7x3_3x5", {{7, 3}}, {{3, 5}}},
      {"mm_1x7_7x1", {{1, 7}}, {{7, 1}}},
      {"mm_65x33_33x17", {{65, 33}}, {{33, 17}}},
      {"mm_1023x7_7x3", {{1023, 7}}, {{7, 3}}},
      {"mm_2x1023_1023x2", {{2, 1023}}, {{1023, 2}}},
      {"mm_3x0_0x4", {{3, 0}}, {{0, 4}}},  // a sum of nothing: exactly 0
      {"mm_0x4_4x2", {{0, 4}}, {{4, 2}}},
      {"mm_both_transposed_4x6_6x5", {{4, 6}, L::transposed}, {{6, 5}, L::transposed}},
      {"mm_transposed_left_4x6_6x3", {{4, 6}, L::transposed}, {{6, 3}}},
      {"mm_both_transposed_3x4_4x2", {{3, 4}, L::transposed}, {{4, 2}, L::transposed}},
      {"mm_sliced_columns_4x6_6x2", {{4, 6}, L::sliced}, {{6, 2}}},  // needs a copy
      {"mat_vec_sliced_3x5_5", {{3, 5}}, {{5}, L::sliced}},
      {"vec_mat_sliced_transposed_5_5x2", {{5}, L::sliced}, {{5, 2}, L::transposed}},
      {"bmm_4x3x5_4x5x2", {{4, 3, 5}}, {{4, 5, 2}}},
      {"batch_mat_4x3x5_5x2", {{4, 3, 5}}, {{5, 2}}},
      {"batch_mat_2x3x4_4x5", {{2, 3, 4}}, {{4, 5}}},
      {"mat_batch_3x5_4x5x2", {{3, 5}}, {{4, 5, 2}}},
      {"broadcast_batch_2x1x3x5_4x5x2", {{2, 1, 3, 5}}, {{4, 5, 2}}},
      {"broadcast_batch_2x1x3x4_3x4x2", {{2, 1, 3, 4}}, {{3, 4, 2}}},
      {"vec_batch_5_2x3x5x4", {{5}}, {{2, 3, 5, 4}}},
      {"batch_vec_2x3x4x5_5", {{2, 3, 4, 5}}, {{5}}},
      {"empty_batch_0x3x5_5x2", {{0, 3, 5}}, {{5, 2}}},
      {"bmm_sliced_2x3x2_2x2x3", {{2, 3, 2}, L::sliced}, {{2, 2, 3}}},
      {"bmm_expanded_3x2x4_3x4x2", {{3, 2, 4}, L::expanded}, {{3, 4, 2}, L::transposed}},
  };
  for (const Case& c : cases)
    t.add(std::string("matmul_") + c.name, {c.a, c.b}, mm, product);
  t.add(
      "matmul_member_7x9_9x5", {{{7, 9}}, {{9, 5}}}, [](auto& x) { return x[0].matmul(x[1]); }, product);
  // Views the GEMM reads in place: columns narrowed (leading dim > columns), rows narrowed out of
  // a transpose, permuted and expanded batches.
  t.add(
      "matmul_narrowed_columns_4x12_5x2", {{{4, 12}}, {{5, 2}}},
      [](auto& x) { return matmul(x[0].narrow(1, 3, 5), x[1]); },
      [](auto& x) { return matmul_ref(slice_ref(x[0], 1, 3, 8), x[1]); });
  t.add(
      "matmul_narrowed_transpose_rows_3x4_4x12", {{{3, 4}}, {{4, 12}}},
      [](auto& x) { return matmul(x[0], x[1].t().narrow(0, 2, 4)); },
      [](auto& x) { return matmul_ref(x[0], slice_ref(transpose_ref(x[1], 0, 1), 0, 2, 6)); });
  t.add(
      "matmul_permuted_batches_3x4x5_4x2x5", {{{3, 4, 5}}, {{4, 2, 5}}},
      [](auto& x) {
        return matmul(x[0].permute({1, 0, 2}), x[1].transpose(1, 2));
      },
      [](auto& x) {
        return matmul_ref(permute_ref(x[0], {1, 0, 2}), transpose_ref(x[1], 1, 2));
      });
  t.add(
      "matmul_expanded_batch_2x3x5_4x2x5", {{{2, 3, 5}}, {{4, 2, 5}}},
      [](auto& x) {
        return matmul(x[0].expand({4, 2, 3, 5}), x[1].transpose(1, 2).narrow(0, 0, 2));
      },
      [](auto& x) {
        return matmul_ref(expand_ref(x[0], {4, 2, 3, 5}), slice_ref(transpose_ref(x[1], 1, 2), 0, 0, 2));
      });

  // linear: x·Wᵀ + b.
  const Reference with_bias = [](auto& x) { return linear_ref(x[0], x[1], &x[2]); };
  const Reference without_bias = [](auto& x) { return linear_ref(x[0], x[1], nullptr); };
  const Op linear_b = [](auto& x) { return linear(x[0], x[1], x[2]); };
  t.add("linear_4x3_5x3_5", {{{4, 3}}, {{5, 3}}, {{5}}}, linear_b, with_bias);
  t.add("linear_2x3x4_5x4_5", {{{2, 3, 4}}, {{5, 4}}, {{5}}}, linear_b, with_bias);
  t.add(
      "linear_no_bias_2x3x4_2x4", {{{2, 3, 4}}, {{2, 4}}}, [](auto& x) { return linear(x[0], x[1]); }, without_bias);
  t.add("linear_transposed_input_3x4_2x4_2", {{{3, 4}, Layout::transposed}, {{2, 4}}, {{2}}}, linear_b, with_bias);
  t.add("linear_transposed_weight_3x4_2x4_2", {{{3, 4}}, {{2, 4}, Layout::transposed}, {{2}}}, linear_b, with_bias);
  t.add("linear_1x7_3x7_3", {{{1, 7}}, {{3, 7}}, {{3}}}, linear_b, with_bias);
  t.add("linear_1d_input_4_3x4_3", {{{4}}, {{3, 4}}, {{3}}}, linear_b, with_bias);
  t.add("linear_empty_batch_0x4_3x4_3", {{{0, 4}}, {{3, 4}}, {{3}}}, linear_b, with_bias);
  t.add("linear_no_inputs_2x0_3x0_3", {{{2, 0}}, {{3, 0}}, {{3}}}, linear_b, with_bias);  // the bias alone
  // An MNIST layer: 784 inputs. Its gradcheck samples 8 elements per input.
  t.add("linear_64x784_100x784_100", {{{64, 784}}, {{100, 784}}, {{100}}}, linear_b, with_bias).grad.max_checked = 8;
  // linear_relu: the fused relu(x·Wᵀ + b), beside its unfused twin relu(linear(...)) (the linear
  // rows above and relu's); the same shapes, the main job's among them.
  // relu of linear's reference, keeping its rounding scale (the sum of |terms|): cancellation
  // in the product, not the ReLU, sets what f32 may be off by.
  const auto relu_keeping_scale = [](Values y) {
    for (double& v : y.v)
      v = relu_of(v);
    return y;
  };
  const Reference relu_with_bias = [=](auto& x) { return relu_keeping_scale(linear_ref(x[0], x[1], &x[2])); };
  const Reference relu_without_bias = [=](auto& x) { return relu_keeping_scale(linear_ref(x[0], x[1], nullptr)); };
  const Op linear_relu_b = [](auto& x) { return linear_relu(x[0], x[1], x[2]); };
  t.add("linear_relu_4x3_5x3_5", {{{4, 3}}, {{5, 3}}, {{5}}}, linear_relu_b, relu_with_bias);
  t.add("linear_relu_2x3x4_5x4_5", {{{2, 3, 4}}, {{5, 4}}, {{5}}}, linear_relu_b, relu_with_bias);
  t.add(
      "linear_relu_no_bias_2x3x4_2x4", {{{2, 3, 4}}, {{2, 4}}}, [](auto& x) { return linear_relu(x[0], x[1]); },
      relu_without_bias);
  t.add("linear_relu_transposed_input_3x4_2x4_2", {{{3, 4}, Layout::transposed}, {{2, 4}}, {{2}}}, linear_relu_b,
        relu_with_bias);
  t.add("linear_relu_1x130_129x130_129", {{{1, 130}}, {{129, 130}}, {{129}}}, linear_relu_b, relu_with_bias)
      .grad.max_checked = 8;  // outputs past one 128-bit mask word
  t.add("linear_relu_empty_batch_0x4_3x4_3", {{{0, 4}}, {{3, 4}}, {{3}}}, linear_relu_b, relu_with_bias);
  t.add("linear_relu_64x784_100x784_100", {{{64, 784}}, {{100, 784}}, {{100}}}, linear_relu_b, relu_with_bias)
      .grad.max_checked = 8;
}

void loss_rows(Table& t) {
  using D = Domain;
  // cross_entropy over its options. `target` is drawn here; -100 is the default ignore_index.
  const auto add_ce = [&t](const std::string& name, Input in, std::vector<int64_t> target,
                           CrossEntropyOptions o) -> Row& {
    const bool single = in.shape.size() == 1;
    return t.add(
        "cross_entropy_" + name, {in},
        [=](auto& x) { return cross_entropy(x[0], targets_on(target, single, x[0].device()), o); },
        [=](auto& x) { return cross_entropy_ref(x[0], target, o.reduction, o.ignore_index, o.label_smoothing); });
  };
  const auto labels = [](int64_t rows, int64_t classes, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<int64_t> t(static_cast<std::size_t>(rows));
    for (int64_t& v : t)
      v = static_cast<int64_t>(rng() % static_cast<uint64_t>(classes));
    return t;
  };
  const Reduction none = Reduction::none, total = Reduction::sum, mean = Reduction::mean;
  add_ce("mean_4x5", {{4, 5}}, {1, 0, 4, 2}, {});
  add_ce("sum_3x4_transposed", {{3, 4}, Layout::transposed}, {2, 1, 0}, {total});
  add_ce("none_3x4", {{3, 4}}, {3, 3, 0}, {none});
  add_ce("smoothing_ignore_5x4", {{5, 4}}, {1, -100, 3, 0, -100}, {mean, -100, 0.2});
  add_ce("single_6", {{6}}, {2}, {});
  add_ce("single_none_6", {{6}}, {2}, {none});
  add_ce("mean_64x10", {{64, 10}, Layout::contiguous, D::wide}, labels(64, 10, 5), {});
  add_ce("smoothing_ignore_7x5", {{7, 5}, Layout::sliced}, {1, -100, 4, 0, 2, -100, 3}, {mean, -100, 0.1});
  add_ce("sum_1023x3", {{1023, 3}}, labels(1023, 3, 6), {total});
  add_ce("ignore_index_7_3x2", {{3, 2}}, {1, 7, 0}, {mean, 7, 0.0});
  // 0 / 0 = NaN, as PyTorch; the gradient is 0 (PyTorch's too), which the Reference run checks.
  add_ce("all_ignored_mean_3x2", {{3, 2}}, {-100, -100, -100}, {}).no_gradcheck =
      "the loss is NaN for every input: there is no finite difference to take";
  add_ce("all_ignored_sum_3x2", {{3, 2}}, {-100, -100, -100}, {total});
  add_ce("empty_batch_mean_0x5", {{0, 5}}, {}, {});  // NaN
  add_ce("empty_batch_sum_0x5", {{0, 5}}, {}, {total});
  add_ce("empty_batch_none_0x5", {{0, 5}}, {}, {none});
  // Every shape with every smoothing and every reduction. Target (5r + 3) mod C, row 1 ignored
  // when there are 3+ rows.
  const std::pair<int64_t, int64_t> shapes[] = {{1, 1}, {5, 7}, {9, 1023}, {3, 10}};
  const std::pair<double, const char*> smoothings[] = {{0.0, "0"}, {0.1, "0p1"}, {1.0, "1"}};
  const std::pair<Reduction, const char*> reductions[] = {{none, "none"}, {total, "sum"}, {mean, "mean"}};
  for (const auto& [rows, classes] : shapes)
    for (const auto& [smoothing, smoothing_tag] : smoothings)
      for (const auto& [reduction, reduction_tag] : reductions) {
        std::vector<int64_t> target;
        for (int64_t r = 0; r < rows; ++r)
          target.push_back((r * 5 + 3) % classes);
        if (rows > 2) target[1] = -100;
        Row& row = add_ce(std::string(reduction_tag) + "_smoothing_" + smoothing_tag + "_" + shape_tag({rows, classes}),
                          {{rows, classes}, Layout::contiguous, D::wide}, target, {reduction, -100, smoothing});
        // One class: p = 1 and the smoothed target is 1, so the gradient is 0 up to f32's
        // rounding of the two.
        if (classes == 1) row.tol.grad_atol = 1e-6;
      }

  // dropout: a fresh Generator per call, so that every call (each of gradcheck's) draws the same mask.
  const auto add_dropout = [&t](const std::string& name, Input in, double p, uint64_t seed) {
    t.add(
        "dropout_" + name, {in},
        [=](auto& x) {
          Generator gen(seed);
          return dropout(x[0], p, true, &gen);
        },
        [=](auto& x) { return dropout_ref(x[0], p, seed); });
  };
  for (int64_t n : kSizes) {
    const Input in = sized(n, D::any);
    add_dropout("p0p3_" + tag(in), in, 0.3, 55);
  }
  add_dropout("p0p4_4x6_transposed", {{4, 6}, Layout::transposed}, 0.4, 7);
  add_dropout("p0p5_7x1023", {{7, 1023}}, 0.5, 3);
  t.add(
      "dropout_p1_3x4", {{{3, 4}}}, [](auto& x) { return dropout(x[0], 1.0, true); },
      unary([](double) { return 0.0; }));
  t.add(
      "dropout_eval_3x4", {{{3, 4}}}, [](auto& x) { return dropout(x[0], 0.5, false); },
      unary([](double a) { return a; }));
}

void shape_rows(Table& t) {
  using L = Layout;
  const auto same = [](auto& x) { return x[0]; };
  // cat and stack.
  t.add(
      "cat_pieces_2x3_1x3_4x3_sliced", {{{2, 3}}, {{1, 3}}, {{4, 3}, L::sliced}},
      [](auto& x) {
        return cat({x[0], x[1], x[2]}, 0);
      },
      [](auto& x) {
        return cat_ref({x[0], x[1], x[2]}, 0);
      });
  t.add(
      "cat_dim_minus1_2x3_transposed_2x1", {{{2, 3}, L::transposed}, {{2, 1}}},
      [](auto& x) {
        return cat({x[0], x[1]}, -1);
      },
      [](auto& x) {
        return cat_ref({x[0], x[1]}, -1);
      });
  t.add(
      "cat_empty_piece_2x3_2x2_2x0", {{{2, 3}}, {{2, 2}}, {{2, 0}}},
      [](auto& x) {
        return cat({x[0], x[1], x[2]}, 1);
      },
      [](auto& x) {
        return cat_ref({x[0], x[1], x[2]}, 1);
      });
  t.add(
      "cat_transposed_pieces_3x2_2x2", {{{3, 2}, L::transposed}, {{2, 2}, L::transposed}},
      [](auto& x) {
        return cat({x[0], x[1]});
      },
      [](auto& x) {
        return cat_ref({x[0], x[1]}, 0);
      });
  for (int64_t n : kSizes)
    t.add(
        "cat_" + std::to_string(n) + "_" + std::to_string(n), {{{n}}, {{n}, n == 7 ? L::sliced : L::contiguous}},
        [](auto& x) {
          return cat({x[0], x[1]});
        },
        [](auto& x) {
          return cat_ref({x[0], x[1]}, 0);
        });
  t.add(
      "stack_dim1_2x3_2x3_transposed", {{{2, 3}}, {{2, 3}, L::transposed}},
      [](auto& x) {
        return stack({x[0], x[1]}, 1);
      },
      [](auto& x) {
        return stack_ref({x[0], x[1]}, 1);
      });
  t.add(
      "stack_dim_minus1_3_3", {{{3}}, {{3}}},
      [](auto& x) {
        return stack({x[0], x[1]}, -1);
      },
      [](auto& x) {
        return stack_ref({x[0], x[1]}, -1);
      });
  t.add(
      "stack_scalars", {{{}}, {{}}},
      [](auto& x) {
        return stack({x[0], x[1]});
      },
      [](auto& x) {
        return stack_ref({x[0], x[1]}, 0);
      });
  t.add(
      "stack_one_3", {{{3}}}, [](auto& x) { return stack({x[0]}); }, [](auto& x) { return stack_ref({x[0]}, 0); });
  t.add(
      "stack_0x2_0x2", {{{0, 2}}, {{0, 2}}},
      [](auto& x) {
        return stack({x[0], x[1]});
      },
      [](auto& x) {
        return stack_ref({x[0], x[1]}, 0);
      });

  // Views, which return their input's memory, and the copies.
  t.add(
      "view_2x6_3xm1x2", {{{2, 6}}},
      [](auto& x) {
        return x[0].view({3, -1, 2});
      },
      [](auto& x) {
        return reshape_ref(x[0], {3, 2, 2});
      });
  t.add(
      "view_split_transposed_6x4_6x2x2", {{{6, 4}, L::transposed}},
      [](auto& x) {
        return x[0].view({6, 2, 2});
      },
      [](auto& x) {
        return reshape_ref(x[0], {6, 2, 2});
      });
  t.add(
      "view_0x4_m1x2x2", {{{0, 4}}},
      [](auto& x) {
        return x[0].view({-1, 2, 2});
      },
      [](auto& x) {
        return reshape_ref(x[0], {0, 2, 2});
      });
  t.add(
      "reshape_view_3x4_2x6", {{{3, 4}}},
      [](auto& x) {
        return x[0].reshape({2, 6});
      },
      [](auto& x) {
        return reshape_ref(x[0], {2, 6});
      });
  t.add(
      "reshape_copy_3x4_transposed_12", {{{3, 4}, L::transposed}}, [](auto& x) { return x[0].reshape({12}); },
      [](auto& x) { return reshape_ref(x[0], {12}); });
  t.add(
      "reshape_copy_sliced_3x4_m1x2", {{{3, 4}, L::sliced}},
      [](auto& x) {
        return x[0].reshape({-1, 2});
      },
      [](auto& x) {
        return reshape_ref(x[0], {6, 2});
      });
  t.add(
      "transpose_2x3x4_0_2", {{{2, 3, 4}}}, [](auto& x) { return x[0].transpose(0, 2); },
      [](auto& x) { return transpose_ref(x[0], 0, 2); });
  t.add(
      "transpose_2x3x4_m1_m2", {{{2, 3, 4}, L::sliced}}, [](auto& x) { return x[0].transpose(-1, -2); },
      [](auto& x) { return transpose_ref(x[0], -1, -2); });
  t.add(
      "permute_2x3x4_2_0_1", {{{2, 3, 4}}},
      [](auto& x) {
        return x[0].permute({2, 0, 1});
      },
      [](auto& x) {
        return permute_ref(x[0], {2, 0, 1});
      });
  t.add(
      "permute_negative_2x3x4_m1_0_1", {{{2, 3, 4}}},
      [](auto& x) {
        return x[0].permute({-1, 0, 1});
      },
      [](auto& x) {
        return permute_ref(x[0], {-1, 0, 1});
      });
  t.add(
      "permute_transpose_2x3x4", {{{2, 3, 4}}},
      [](auto& x) {
        return x[0].permute({2, 0, 1}).transpose(0, 1);
      },
      [](auto& x) {
        return transpose_ref(permute_ref(x[0], {2, 0, 1}), 0, 1);
      });
  t.add(
      "t_3x4", {{{3, 4}}}, [](auto& x) { return x[0].t(); }, [](auto& x) { return transpose_ref(x[0], 0, 1); });
  t.add(
      "t_1d_5", {{{5}}}, [](auto& x) { return x[0].t(); }, same);
  t.add(
      "narrow_5x3_0_1_3", {{{5, 3}}}, [](auto& x) { return x[0].narrow(0, 1, 3); },
      [](auto& x) { return slice_ref(x[0], 0, 1, 4); });
  t.add(
      "narrow_negative_start_4x5_0_m1_1", {{{4, 5}}}, [](auto& x) { return x[0].narrow(0, -1, 1); },
      [](auto& x) { return slice_ref(x[0], 0, 3, 4); });
  t.add(
      "narrow_empty_4x5_0_4_0", {{{4, 5}}}, [](auto& x) { return x[0].narrow(0, 4, 0); },
      [](auto& x) { return slice_ref(x[0], 0, 4, 4); });
  t.add(
      "slice_step3_9x2_0_1_8", {{{9, 2}}}, [](auto& x) { return x[0].slice(0, 1, 8, 3); },
      [](auto& x) { return slice_ref(x[0], 0, 1, 8, 3); });
  t.add(
      "slice_step2_columns_4x5", {{{4, 5}, L::transposed}}, [](auto& x) { return x[0].slice(1, 0, 5, 2); },
      [](auto& x) { return slice_ref(x[0], 1, 0, 5, 2); });
  t.add(
      "slice_clamped_10_m3_100", {{{10}}}, [](auto& x) { return x[0].slice(0, -3, 100); },
      [](auto& x) { return slice_ref(x[0], 0, 7, 10); });
  t.add(
      "slice_empty_10_6_2", {{{10}}}, [](auto& x) { return x[0].slice(0, 6, 2); },
      [](auto& x) { return slice_ref(x[0], 0, 6, 6); });
  t.add(
      "select_4x3_transposed_1_m1", {{{4, 3}, L::transposed}}, [](auto& x) { return x[0].select(1, -1); },
      [](auto& x) { return select_ref(x[0], 1, 2); });
  t.add(
      "select_3x4_0_1", {{{3, 4}}}, [](auto& x) { return x[0].select(0, 1); },
      [](auto& x) { return select_ref(x[0], 0, 1); });
  t.add(
      "select_to_scalar_3", {{{3}}}, [](auto& x) { return x[0].select(0, -3); },
      [](auto& x) { return select_ref(x[0], 0, 0); });
  t.add(
      "expand_3x1_2x3x4", {{{3, 1}}},
      [](auto& x) {
        return x[0].expand({2, 3, 4});
      },
      [](auto& x) {
        return expand_ref(x[0], {2, 3, 4});
      });
  t.add(
      "expand_keep_3x1_m1x5", {{{3, 1}}},
      [](auto& x) {
        return x[0].expand({-1, 5});
      },
      [](auto& x) {
        return expand_ref(x[0], {3, 5});
      });
  t.add(
      "expand_scalar_4", {{{}}}, [](auto& x) { return x[0].expand({4}); },
      [](auto& x) { return expand_ref(x[0], {4}); });
  t.add(
      "expand_squared_3x1_2x3x4", {{{3, 1}}},
      [](auto& x) {
        return x[0].expand({2, 3, 4}) * x[0].expand({2, 3, 4});
      },
      [](auto& x) {
        const Values e = expand_ref(x[0], {2, 3, 4});
        return map2(e, e, std::multiplies<>());
      });
  t.add(
      "squeeze_all_1x3x1x2", {{{1, 3, 1, 2}}}, [](auto& x) { return x[0].squeeze(); },
      [](auto& x) {
        return reshape_ref(x[0], {3, 2});
      });
  t.add(
      "squeeze_0_1x3x1x2", {{{1, 3, 1, 2}}}, [](auto& x) { return x[0].squeeze(0); },
      [](auto& x) {
        return reshape_ref(x[0], {3, 1, 2});
      });
  t.add(
      "squeeze_m2_1x3x1x2", {{{1, 3, 1, 2}}}, [](auto& x) { return x[0].squeeze(-2); },
      [](auto& x) {
        return reshape_ref(x[0], {1, 3, 2});
      });
  t.add(
      "squeeze_not_size1_1x3x1x2", {{{1, 3, 1, 2}}}, [](auto& x) { return x[0].squeeze(1); }, same);
  t.add(
      "unsqueeze_0_3x2_transposed", {{{3, 2}, L::transposed}}, [](auto& x) { return x[0].unsqueeze(0); },
      [](auto& x) {
        return reshape_ref(x[0], {1, 3, 2});
      });
  t.add(
      "unsqueeze_m1_3x2", {{{3, 2}}}, [](auto& x) { return x[0].unsqueeze(-1); },
      [](auto& x) {
        return reshape_ref(x[0], {3, 2, 1});
      });
  t.add(
      "unsqueeze_1_3x2_transposed", {{{3, 2}, L::transposed}}, [](auto& x) { return x[0].unsqueeze(1); },
      [](auto& x) {
        return reshape_ref(x[0], {3, 1, 2});
      });
  t.add(
      "squeeze_unsqueeze_3x1x2", {{{3, 1, 2}}}, [](auto& x) { return x[0].squeeze().unsqueeze(0).squeeze(1); },
      [](auto& x) {
        return reshape_ref(x[0], {1, 3, 2});
      });
  t.add(
      "flatten_2x3x4", {{{2, 3, 4}}}, [](auto& x) { return x[0].flatten(); },
      [](auto& x) { return reshape_ref(x[0], {24}); });
  t.add(
      "flatten_1_2x3x4_sliced", {{{2, 3, 4}, L::sliced}}, [](auto& x) { return x[0].flatten(1); },
      [](auto& x) {
        return reshape_ref(x[0], {2, 12});
      });
  t.add(
      "flatten_0_1_2x3x4", {{{2, 3, 4}}}, [](auto& x) { return x[0].flatten(0, 1); },
      [](auto& x) {
        return reshape_ref(x[0], {6, 4});
      });
  t.add(
      "flatten_copy_2x3x4_transposed", {{{2, 3, 4}, L::transposed}}, [](auto& x) { return x[0].flatten(); },
      [](auto& x) { return reshape_ref(x[0], {24}); });
  t.add(
      "flatten_scalar", {{{}}}, [](auto& x) { return x[0].flatten(); }, [](auto& x) { return reshape_ref(x[0], {1}); });
  t.add(
      "contiguous_already_3x4", {{{3, 4}}}, [](auto& x) { return x[0].contiguous(); }, same);
  t.add(
      "contiguous_copy_3x4_transposed", {{{3, 4}, L::transposed}}, [](auto& x) { return x[0].contiguous(); }, same);
  t.add(
      "clone_3x4_sliced", {{{3, 4}, L::sliced}}, [](auto& x) { return x[0].clone(); }, same);
  t.add(
      "contiguous_clone_3x4_transposed", {{{3, 4}, L::transposed}},
      [](auto& x) { return x[0].contiguous().clone() * 2.0; }, unary([](double a) { return 2 * a; }));
  // to(dtype) there and back: the values the narrower dtype holds. On the grid they are exact in
  // every dtype and so are x ± 1/64, gradcheck's steps: its finite differences are exact.
  for (DType via : {DType::f64, DType::f32, DType::f16, DType::bf16}) {
    Row& row = t.add(
        std::string("to_") + dtype_name(via) + "_and_back_5x3_transposed", {{{5, 3}, L::transposed, Domain::grid}},
        [via](auto& x) { return x[0].to(via).to(x[0].dtype()); }, same);
    row.grad.eps = 1.0 / 64;
    // The backward rounds the gradient to `via` too (as PyTorch's): 2^-9 relative in bf16.
    if (via == DType::bf16) row.grad.rtol = 4e-3;
  }
  // Off the grid, through f32: each value rounds to its nearest float.
  t.add(
       "to_f32_and_back_rounds_7", {{{7}}}, [](auto& x) { return x[0].to(DType::f32).to(x[0].dtype()); },
       unary([](double a) { return static_cast<double>(static_cast<float>(a)); }))
      .grad.eps = 1e-2;  // wider than f32's steps near 3 (2.4e-7)
  t.add(
      "to_device_and_back_2x3_sliced", {{{2, 3}, L::sliced}},
      [](auto& x) { return x[0].to(other_device(x[0].device())).to(x[0].device()); }, same);
  t.add(
      "views_chain_4x6", {{{4, 6}}},
      [](auto& x) {
        return x[0].view({2, 12}).narrow(1, 3, 5).expand({3, 2, 5}).contiguous() * 3.0;
      },
      [](auto& x) {
        return map1(expand_ref(slice_ref(reshape_ref(x[0], {2, 12}), 1, 3, 8), {3, 2, 5}),
                    [](double a) { return 3 * a; });
      });
  t.add(
      "cat_stack_chain_2x3_4x3", {{{2, 3}}, {{4, 3}}},
      [](auto& x) {
        return stack({cat({x[0], x[1]}, 0), cat({x[1], x[0]}, 0)}, 1);
      },
      [](auto& x) {
        return stack_ref({cat_ref({x[0], x[1]}, 0), cat_ref({x[1], x[0]}, 0)}, 1);
      });
}

// Chains of ops, as models use them; each op's numbers are in its own rows.
void chain_rows(Table& t) {
  t.add(
       "chain_mlp_4x3", {{{4, 3}}, {{5, 3}}, {{5}}, {{2, 5}}, {{2}}},
       [](auto& x) {
         return cross_entropy(linear(relu(linear(x[0], x[1], x[2])), x[3], x[4]),
                              targets_on({0, 1, 1, 0}, false, x[0].device()));
       },
       [](auto& x) {
         const Values hidden = map1(linear_ref(x[0], x[1], &x[2]), relu_of);
         return cross_entropy_ref(linear_ref(hidden, x[3], &x[4]), {0, 1, 1, 0}, Reduction::mean, -100, 0.0);
       })
      .tol.half = 3e-2;  // the hidden layer rounds to half before the second
  Row& chain = t.add(
      "chain_unary_1023", {{{1023}}}, [](auto& x) { return tanh(sigmoid(exp(x[0]) * 0.5) + sqrt(abs(x[0]) + 1.0)); },
      unary([](double a) { return std::tanh(sigmoid_of(std::exp(a) * 0.5) + std::sqrt(std::abs(a) + 1.0)); }));
  chain.tol.half = 2e-2;  // six roundings to half
  // sigmoid saturates near 1, where 1 - y, its backward's factor, loses its bits to bf16's rounding of y.
  chain.tol.grad_half = 0.1;
  t.add(
       "chain_sub_mul_div_6x7_7", {{{6, 7}}, {{7}}},
       [](auto& x) { return div(mul(sub(x[0], x[1]), x[0]), add(abs(x[1]), 1.0)); },
       [](auto& x) {
         const Values d = map2(x[0], x[1], std::minus<>());
         const Values n = map2(d, x[0], std::multiplies<>());
         Values y = map2(n, map1(x[1], [](double b) { return std::abs(b) + 1.0; }), std::divides<>());
         // a - b cancels: its rounding is relative to |a| + |b|, then scaled by the next two ops.
         y.scale = map2(x[0], x[1], [](double a, double b) {
                     return (std::abs(a) + std::abs(b)) * std::abs(a) / (std::abs(b) + 1);
                   }).v;
         return y;
       })
      .tol.half = 2e-2;  // four roundings to half
  t.add(
       "chain_pow_log_33", {{{33}}}, [](auto& x) { return log(pow(abs(x[0]) + 0.5, 2.5)); },
       [](auto& x) {
         Values y = map1(x[0], [](double a) { return std::log(std::pow(std::abs(a) + 0.5, 2.5)); });
         // log turns the relative rounding error of its input (near 1) into an absolute one.
         for (double v : y.v)
           y.scale.push_back(std::abs(v) + 1);
         return y;
       })
      .tol.half = 2e-2;  // four roundings to half, the first two amplified by the power 2.5
  t.add(
      "chain_relu_of_t_7x9", {{{7, 9}, Layout::contiguous, Domain::away_from_zero}},
      [](auto& x) { return relu(x[0].t()) * 2.0; },
      [](auto& x) { return map1(transpose_ref(x[0], 0, 1), [](double a) { return 2 * relu_of(a); }); });
  t.add(
      "chain_relu_plus_one_0x5", {{{0, 5}}}, [](auto& x) { return relu(x[0]) + 1.0; },
      unary([](double a) { return relu_of(a) + 1; }));
}

double gelu_of(double a) { return 0.5 * a * (1 + std::erf(a / std::sqrt(2.0))); }
double gelu_tanh_of(double a) {
  return 0.5 * a * (1 + std::tanh(std::sqrt(2 / std::numbers::pi) * (a + 0.044715 * a * a * a)));
}

// Same-shape inputs mapped element by element: f(values of element i across the inputs), with
// `magnitude` the rounding scale.
Values zip_ref(const std::vector<Values>& x, const std::function<double(const std::vector<double>&)>& f,
               const std::function<double(const std::vector<double>&)>& magnitude) {
  Values y{x[0].shape, {}, {}};
  std::vector<double> at(x.size());
  for (std::size_t i = 0; i < x[0].v.size(); ++i) {
    for (std::size_t k = 0; k < x.size(); ++k)
      at[k] = x[k].v[i];
    y.v.push_back(f(at));
    y.scale.push_back(magnitude(at));
  }
  return y;
}

Values reduced_ref(const Values& v, Reduction r) {
  if (r == Reduction::none) return v;
  return reduce_ref(v, {}, false, r == Reduction::sum ? Reduce::sum : Reduce::mean);
}

// The activations beyond relu, tanh and sigmoid, and the elementwise losses (autograd/ops/
// elementwise.cpp and loss.cpp).
void activation_rows(Table& t) {
  using D = Domain;
  // The bounds of clamp are exact in every dtype, so that a bound rounded to half does not move
  // an element across it.
  const UnaryRow unaries[] = {
      {"log1p", D::positive, [](auto& x) { return log1p(x[0]); }, [](auto& x) { return x[0].log1p(); },
       [](double a) { return std::log1p(a); }},
      {"log1p_small", D::unit, [](auto& x) { return log1p(mul(x[0], 1e-3)); },
       [](auto& x) { return (x[0] * 1e-3).log1p(); }, [](double a) { return std::log1p(a * 1e-3); }},
      {"expm1", D::any, [](auto& x) { return expm1(x[0]); }, [](auto& x) { return x[0].expm1(); },
       [](double a) { return std::expm1(a); }},
      {"square", D::any, [](auto& x) { return square(x[0]); }, [](auto& x) { return x[0].square(); },
       [](double a) { return a * a; }},
      {"sin", D::any, [](auto& x) { return sin(x[0]); }, [](auto& x) { return x[0].sin(); },
       [](double a) { return std::sin(a); }},
      {"cos", D::any, [](auto& x) { return cos(x[0]); }, [](auto& x) { return x[0].cos(); },
       [](double a) { return std::cos(a); }},
      {"softplus", D::wide, [](auto& x) { return softplus(x[0]); },
       [](auto& x) { return nn::functional::softplus(x[0]); }, [](double a) { return std::log1p(std::exp(a)); }},
      // beta 2, threshold 3: x above 1.5 passes through (the discontinuity PyTorch has too).
      {"softplus_beta2_threshold3", D::any, [](auto& x) { return softplus(x[0], 2.0, 3.0); },
       [](auto& x) { return softplus(x[0], 2.0, 3.0); },
       [](double a) { return 2 * a > 3 ? a : std::log1p(std::exp(2 * a)) / 2; }},
      {"gelu", D::any, [](auto& x) { return gelu(x[0]); }, [](auto& x) { return nn::functional::gelu(x[0]); }, gelu_of},
      {"gelu_tanh", D::any, [](auto& x) { return gelu(x[0], "tanh"); },
       [](auto& x) { return nn::functional::gelu(x[0], "tanh"); }, gelu_tanh_of},
      {"silu", D::any, [](auto& x) { return silu(x[0]); }, [](auto& x) { return nn::functional::silu(x[0]); },
       [](double a) { return a / (1 + std::exp(-a)); }},
      {"leaky_relu", D::away_from_zero, [](auto& x) { return leaky_relu(x[0], 0.1); },
       [](auto& x) { return nn::functional::leaky_relu(x[0], 0.1); }, [](double a) { return a > 0 ? a : 0.1 * a; }},
      {"leaky_relu_default", D::away_from_zero, [](auto& x) { return leaky_relu(x[0]); },
       [](auto& x) { return leaky_relu(x[0]); }, [](double a) { return a > 0 ? a : 0.01 * a; }},
      {"clamp", D::any, [](auto& x) { return clamp(x[0], -1.25, 0.75); },
       [](auto& x) { return x[0].clamp(-1.25, 0.75); }, [](double a) { return std::min(std::max(a, -1.25), 0.75); }},
      {"clamp_min", D::any, [](auto& x) { return clamp_min(x[0], -0.375); },
       [](auto& x) { return x[0].clamp_min(-0.375); }, [](double a) { return std::max(a, -0.375); }},
      {"clamp_max", D::any, [](auto& x) { return clamp_max(x[0], 1.125); },
       [](auto& x) { return x[0].clamp(std::nullopt, 1.125); }, [](double a) { return std::min(a, 1.125); }},
      // A min above the max: every element becomes the max (PyTorch's rule), gradient 0.
      {"clamp_crossed", D::any, [](auto& x) { return clamp(x[0], 1.0, -1.0); },
       [](auto& x) { return x[0].clamp(1.0, -1.0); }, [](double) { return -1.0; }},
  };
  for (const UnaryRow& u : unaries)
    for (int64_t n : kSizes) {
      const Input in = sized(n, u.domain);
      const std::string name = u.name;
      // gelu's 1 + erf(x/√2) cancels for negative x: its rounding is relative to |x|, not |y|.
      const bool cancels = name == "gelu" || name == "gelu_tanh";
      const auto f = u.f;
      Reference ref = cancels ? Reference([f](const std::vector<Values>& x) {
        return zip_ref(
            x, [f](auto& v) { return f(v[0]); }, [](auto& v) { return std::abs(v[0]); });
      })
                              : unary(u.f);
      Row& row = t.add(name + "_" + tag(in), {in}, n == 1023 ? u.member : u.fn, ref);
      if (name == "log1p_small") row.tol.half = 2e-2;  // the scaling rounds first
    }
  t.add_error(
      "clamp_no_bounds_3", {{{3}}}, [](auto& x) { return clamp(x[0], std::nullopt); },
      "clamp: at least one of min and max must be given");
  t.add_error(
      "gelu_bad_approximate_3", {{{3}}}, [](auto& x) { return gelu(x[0], "fast"); },
      "gelu: approximate must be \"none\" or \"tanh\", got \"fast\"");
  t.add_error(
      "softplus_beta_0_3", {{{3}}}, [](auto& x) { return softplus(x[0], 0.0); },
      "softplus: beta must be finite and non-zero, got 0");

  // The elementwise losses at each reduction, on a contiguous, a sliced and a transposed pair.
  const Reduction reductions[] = {Reduction::none, Reduction::mean, Reduction::sum};
  const char* reduction_names[] = {"none", "mean", "sum"};
  const std::pair<Input, Input> pairs[] = {
      {{{3, 4}}, {{3, 4}}},
      {{{7}, Layout::sliced}, {{7}}},
      {{{5, 6}, Layout::transposed}, {{5, 6}, Layout::sliced}},
  };
  const auto with_domains = [](Input in, Domain d) {
    in.domain = d;
    return in;
  };
  const auto diff_scale = [](const std::vector<double>& a) { return std::abs(a[0]) + std::abs(a[1]); };
  for (std::size_t r = 0; r < 3; ++r)
    for (const auto& [a, b] : pairs) {
      const Reduction red = reductions[r];
      const std::string suffix = std::string("_") + reduction_names[r] + "_" + tag(a);
      t.add(
           "mse_loss" + suffix, {a, b}, [red](auto& x) { return mse_loss(x[0], x[1], red); },
           [red, diff_scale](auto& x) {
             return reduced_ref(zip_ref(
                                    x, [](auto& v) { return (v[0] - v[1]) * (v[0] - v[1]); },
                                    [](auto& v) { return (std::abs(v[0]) + std::abs(v[1])) * std::abs(v[0] - v[1]); }),
                                red);
           })
          .tol.half = 3e-2;
      (void)diff_scale;
      t.add(
          "l1_loss" + suffix, {with_domains(a, D::away_from_zero), with_domains(b, D::unit)},
          [red](auto& x) { return l1_loss(x[0], x[1], red); },
          [red, diff_scale](auto& x) {
            return reduced_ref(zip_ref(
                                   x, [](auto& v) { return std::abs(v[0] - v[1]); }, diff_scale),
                               red);
          });
      t.add(
           "smooth_l1_loss" + suffix, {a, b}, [red](auto& x) { return smooth_l1_loss(x[0], x[1], red, 0.8); },
           [red](auto& x) {
             return reduced_ref(
                 zip_ref(
                     x,
                     [](auto& v) {
                       const double z = std::abs(v[0] - v[1]);
                       return z < 0.8 ? 0.5 * z * z / 0.8 : z - 0.4;
                     },
                     [](auto& v) { return (std::abs(v[0]) + std::abs(v[1])) * (1 + std::abs(v[0] - v[1])); }),
                 red);
           })
          .tol.half = 3e-2;
      const auto bce = [](const std::vector<double>& v) {
        return -(v[1] * std::max(std::log(v[0]), -100.0) + (1 - v[1]) * std::max(std::log(1 - v[0]), -100.0));
      };
      const auto bce_scale = [](const std::vector<double>& v) {
        return std::abs(v[1] * std::log(v[0])) + std::abs((1 - v[1]) * std::log(1 - v[0])) + 1;
      };
      t.add(
           "binary_cross_entropy" + suffix, {with_domains(a, D::unit), with_domains(b, D::unit)},
           [red](auto& x) { return binary_cross_entropy(x[0], x[1], Tensor(), red); },
           [red, bce, bce_scale](auto& x) { return reduced_ref(zip_ref(x, bce, bce_scale), red); })
          .tol.half = 3e-2;
      const auto bce_logits = [](const std::vector<double>& v) {
        return (1 - v[1]) * v[0] + std::log1p(std::exp(-v[0]));
      };
      const auto logits_scale = [](const std::vector<double>& v) { return std::abs(v[0]) + 1; };
      t.add(
           "bce_with_logits" + suffix, {with_domains(a, D::wide), with_domains(b, D::unit)},
           [red](auto& x) { return binary_cross_entropy_with_logits(x[0], x[1], Tensor(), red); },
           [red, bce_logits, logits_scale](auto& x) { return reduced_ref(zip_ref(x, bce_logits, logits_scale), red); })
          .tol.half = 3e-2;
    }
  // Weights (and pos_weight), each a third input of the input's shape; the module forms.
  t.add(
       "binary_cross_entropy_weighted_3x4",
       {{{3, 4}, Layout::contiguous, D::unit},
        {{3, 4}, Layout::contiguous, D::unit},
        {{3, 4}, Layout::contiguous, D::positive}},
       [](auto& x) { return nn::BCELoss(x[2])(x[0], x[1]); },
       [](auto& x) {
         return reduced_ref(
             zip_ref(
                 x, [](auto& v) { return -v[2] * (v[1] * std::log(v[0]) + (1 - v[1]) * std::log(1 - v[0])); },
                 [](auto& v) { return v[2] * (std::abs(std::log(v[0])) + std::abs(std::log(1 - v[0]))) + 1; }),
             Reduction::mean);
       })
      .tol.half = 3e-2;
  t.add(
       "bce_with_logits_pos_weight_sum_4x3",
       {{{4, 3}, Layout::contiguous, D::wide},
        {{4, 3}, Layout::contiguous, D::unit},
        {{4, 3}, Layout::contiguous, D::positive}},
       [](auto& x) { return nn::BCEWithLogitsLoss(Tensor(), Reduction::sum, x[2])(x[0], x[1]); },
       [](auto& x) {
         return reduced_ref(
             zip_ref(
                 x, [](auto& v) { return (1 - v[1]) * v[0] + (1 + (v[2] - 1) * v[1]) * std::log1p(std::exp(-v[0])); },
                 [](auto& v) { return std::abs(v[0]) * (1 + v[2]) + 1; }),
             Reduction::sum);
       })
      .tol.half = 3e-2;
  t.add(
      "mse_loss_module_4", {{{4}}, {{4}}}, [](auto& x) { return nn::MSELoss(Reduction::sum)(x[0], x[1]); },
      [](auto& x) {
        return reduced_ref(zip_ref(
                               x, [](auto& v) { return (v[0] - v[1]) * (v[0] - v[1]); },
                               [](auto& v) { return (std::abs(v[0]) + std::abs(v[1])) * std::abs(v[0] - v[1]); }),
                           Reduction::sum);
      });
  // where (the branch each element takes gets the gradient) and masked_fill, broadcasting; the
  // condition is a fixed pattern (true unless i % 3 == 1), not an input, as nothing flows to it.
  const auto pattern = [](int64_t i) { return i % 3 != 1; };
  const auto pattern_mask = [pattern](const Shape& shape, Device device) {
    std::vector<double> on(static_cast<std::size_t>(count_of(shape)));
    for (std::size_t i = 0; i < on.size(); ++i)
      on[i] = pattern(static_cast<int64_t>(i)) ? 1.0 : 0.0;
    return gt(tensor(on, shape).to(device), 0.5);
  };
  t.add(
      "where_3x4", {{{3, 4}}, {{3, 4}, Layout::transposed}},
      [=](auto& x) {
        return where(pattern_mask({3, 4}, x[0].device()), x[0], x[1]);
      },
      [=](auto& x) {
        Values y{x[0].shape, {}, {}};
        for (std::size_t i = 0; i < x[0].v.size(); ++i)
          y.v.push_back(pattern(static_cast<int64_t>(i)) ? x[0].v[i] : x[1].v[i]);
        return y;
      });
  t.add(
      "where_broadcast_2x3_3_scalar", {{{3}}, {{}}},
      [=](auto& x) {
        return where(pattern_mask({2, 3}, x[0].device()), x[0], x[1]);
      },
      [=](auto& x) {
        Values y{{2, 3}, {}, {}};
        for (std::size_t i = 0; i < 6; ++i)
          y.v.push_back(pattern(static_cast<int64_t>(i)) ? x[0].v[i % 3] : x[1].v[0]);
        return y;
      });
  t.add(
      "masked_fill_4x3", {{{4, 3}, Layout::sliced}},
      [=](auto& x) {
        return masked_fill(x[0], pattern_mask({4, 3}, x[0].device()), -2.5);
      },
      [=](auto& x) {
        Values y{x[0].shape, {}, {}};
        for (std::size_t i = 0; i < x[0].v.size(); ++i)
          y.v.push_back(pattern(static_cast<int64_t>(i)) ? -2.5 : x[0].v[i]);
        return y;
      });
  t.add_error(
      "where_condition_not_bool", {{{3}}, {{3}}, {{3}}}, [](auto& x) { return where(x[0], x[1], x[2]); },
      "where: the condition must be a bool tensor");

  // amax/amin over several dims, min(dim), logsumexp, var and std.
  const Input cube{{3, 4, 5}, Layout::contiguous, D::distinct};
  const auto negated = [](const Values& x) { return map1(x, [](double a) { return -a; }); };
  t.add(
      "amax_dims_0_2_3x4x5", {cube},
      [](auto& x) {
        return amax(x[0], {0, 2});
      },
      [](auto& x) {
        return reduce_ref(x[0], {0, 2}, false, Reduce::max);
      });
  t.add(
      "amax_all_keepdim_3x4x5", {cube}, [](auto& x) { return amax(x[0], {}, true); },
      [](auto& x) { return reduce_ref(x[0], {}, true, Reduce::max); });
  t.add(
      "amin_dim_1_3x4x5", {cube}, [](auto& x) { return amin(x[0], 1); },
      [=](auto& x) { return negated(reduce_ref(negated(x[0]), {1}, false, Reduce::max)); });
  t.add(
      "min_values_dim_2_3x4x5", {cube}, [](auto& x) { return std::get<0>(min(x[0], 2, true)); },
      [=](auto& x) { return negated(reduce_ref(negated(x[0]), {2}, true, Reduce::max)); });
  const auto lse = [](const Values& x, std::vector<int64_t> dims, bool keepdim) {
    return map1(reduce_ref(map1(x, [](double a) { return std::exp(a); }), dims, keepdim, Reduce::sum),
                [](double a) { return std::log(a); });
  };
  t.add(
      "logsumexp_dim_1_3x4x5", {{{3, 4, 5}, Layout::contiguous, D::wide}}, [](auto& x) { return logsumexp(x[0], 1); },
      [=](auto& x) { return lse(x[0], {1}, false); });
  t.add(
      "logsumexp_dims_0_2_keepdim_3x4x5", {{{3, 4, 5}, Layout::transposed}},
      [](auto& x) {
        return logsumexp(x[0], {0, 2}, true);
      },
      [=](auto& x) {
        return lse(x[0], {0, 2}, true);
      });
  const auto var_ref = [](const Values& x, std::vector<int64_t> dims, int64_t correction, bool keepdim, bool root) {
    const Values m = reduce_ref(x, dims, true, Reduce::mean);
    const Values d2 = map2(
        x, m, [](double a, double b) { return (a - b) * (a - b); },
        [](double a, double b) { return (std::abs(a) + std::abs(b)) * std::abs(a - b); });
    int64_t n = 1;
    for (std::size_t i = 0; i < x.shape.size(); ++i)
      if (dims.empty() || std::find(dims.begin(), dims.end(), static_cast<int64_t>(i)) != dims.end()) n *= x.shape[i];
    Values v = reduce_ref(d2, dims, keepdim, Reduce::sum);
    for (double& e : v.v)
      e /= static_cast<double>(n - correction);
    for (double& e : v.scale)
      e /= static_cast<double>(n - correction);
    if (root) {
      for (double& e : v.v)
        e = std::sqrt(e);
      v.scale.clear();
    }
    return v;
  };
  t.add(
       "var_dim_1_3x4x5", {{{3, 4, 5}}}, [](auto& x) { return var(x[0], 1); },
       [=](auto& x) { return var_ref(x[0], {1}, 1, false, false); })
      .tol.half = 3e-2;
  t.add(
       "var_all_correction_0_7_sliced", {{{7}, Layout::sliced}}, [](auto& x) { return var(x[0], {}, 0); },
       [=](auto& x) { return var_ref(x[0], {}, 0, false, false); })
      .tol.half = 3e-2;
  t.add(
       "std_dims_0_2_keepdim_3x4x5", {{{3, 4, 5}, Layout::transposed}},
       [](auto& x) {
         return std(x[0], {0, 2}, 1, true);
       },
       [=](auto& x) {
         return var_ref(x[0], {0, 2}, 1, true, true);
       })
      .tol.half = 3e-2;
  // mm and bmm, the matrix products under their own names.
  t.add(
      "mm_3x4_4x5", {{{3, 4}}, {{4, 5}, Layout::transposed}}, [](auto& x) { return mm(x[0], x[1]); },
      [](auto& x) { return matmul_ref(x[0], x[1]); });
  t.add(
      "bmm_2x3x4_2x4x2", {{{2, 3, 4}}, {{2, 4, 2}}}, [](auto& x) { return bmm(x[0], x[1]); },
      [](auto& x) { return matmul_ref(x[0], x[1]); });
  t.add_error(
      "mm_not_matrices", {{{3}}, {{3, 2}}}, [](auto& x) { return mm(x[0], x[1]); }, "mm: expected two matrices");
  t.add_error(
      "bmm_batch_mismatch", {{{2, 3, 4}}, {{3, 4, 2}}}, [](auto& x) { return bmm(x[0], x[1]); },
      "cannot be multiplied (batch 2 vs 3");

  // norm: p = 2 (with its own backward), 1, infinity and 3, over all dims and over some.
  const auto p_norm = [](const Values& x, std::vector<int64_t> dims, bool keepdim, double p) {
    if (std::isinf(p)) return reduce_ref(map1(x, [](double a) { return std::abs(a); }), dims, keepdim, Reduce::max);
    const Values powered = map1(x, [p](double a) { return std::pow(std::abs(a), p); });
    Values s = reduce_ref(powered, dims, keepdim, Reduce::sum);
    Values y{s.shape, {}, {}};
    for (double e : s.v)
      y.v.push_back(std::pow(e, 1 / p));
    return y;
  };
  t.add(
      "norm_2_all_3x4_transposed", {{{3, 4}, Layout::transposed}}, [](auto& x) { return norm(x[0]); },
      [=](auto& x) { return p_norm(x[0], {}, false, 2); });
  t.add(
      "norm_2_dim_1_keepdim_3x4x5", {{{3, 4, 5}}}, [](auto& x) { return norm(x[0], 2.0, 1, true); },
      [=](auto& x) { return p_norm(x[0], {1}, true, 2); });
  t.add(
      "norm_2_dims_0_2_3x4x5", {{{3, 4, 5}, Layout::sliced}},
      [](auto& x) {
        return norm(x[0], 2.0, {0, 2});
      },
      [=](auto& x) {
        return p_norm(x[0], {0, 2}, false, 2);
      });
  t.add(
      "norm_1_dim_0_4x3", {{{4, 3}, Layout::contiguous, D::away_from_zero}}, [](auto& x) { return norm(x[0], 1.0, 0); },
      [=](auto& x) { return p_norm(x[0], {0}, false, 1); });
  t.add(
      "norm_inf_4x3", {{{4, 3}, Layout::contiguous, D::away_from_zero}},  // no ties in |x|
      [](auto& x) { return norm(x[0], std::numeric_limits<double>::infinity()); },
      [=](auto& x) { return p_norm(x[0], {}, false, std::numeric_limits<double>::infinity()); });
  t.add(
       "norm_3_dim_1_4x3", {{{4, 3}, Layout::contiguous, D::away_from_zero}},
       [](auto& x) { return norm(x[0], 3.0, 1); }, [=](auto& x) { return p_norm(x[0], {1}, false, 3); })
      .tol.half = 3e-2;

  t.add_error(
      "amax_repeated_dim", {{{3, 4}}},
      [](auto& x) {
        return amax(x[0], {1, -1});
      },
      "amax: a dim appears twice");

  // nll_loss over log-probabilities: plain, weighted, with ignored rows; kl_div both ways.
  const std::vector<int64_t> nll_target = {2, 0, -100, 1};
  const auto nll_ref = [nll_target](const std::vector<Values>& x, bool weighted, Reduction red) {
    const int64_t classes = x[0].shape[1];
    Values rows{{static_cast<int64_t>(nll_target.size())}, {}, {}};
    double total = 0, weights = 0;
    for (std::size_t i = 0; i < nll_target.size(); ++i) {
      const int64_t t = nll_target[i];
      const double w = t < 0 ? 0 : (weighted ? x[1].v[static_cast<std::size_t>(t)] : 1.0);
      const double l = t < 0 ? 0 : -w * x[0].v[i * static_cast<std::size_t>(classes) + static_cast<std::size_t>(t)];
      rows.v.push_back(l);
      rows.scale.push_back(std::abs(l));
      total += l;
      weights += w;
    }
    if (red == Reduction::none) return rows;
    return Values{{}, {red == Reduction::sum ? total : total / weights}, {}};
  };
  // Made per call: a tensor captured in a row would outlive the allocator at exit.
  const auto nll_t = [nll_target](Device d) { return tensor(nll_target, {4}).to(d); };
  for (auto [red, name] : std::vector<std::pair<Reduction, std::string>>{
           {Reduction::mean, "mean"}, {Reduction::sum, "sum"}, {Reduction::none, "none"}}) {
    t.add(
        "nll_loss_" + name + "_4x3", {{{4, 3}}},
        [=](auto& x) { return nll_loss(x[0], nll_t(x[0].device()), Tensor(), red); },
        [=](auto& x) { return nll_ref(x, false, red); });
    t.add(
        "nll_loss_weighted_" + name + "_4x3", {{{4, 3}, Layout::transposed}, {{3}, Layout::contiguous, D::positive}},
        [=](auto& x) { return nn::NLLLoss(x[1], red)(x[0], nll_t(x[0].device())); },
        [=](auto& x) { return nll_ref(x, true, red); });
  }
  t.add_error(
      "nll_loss_target_out_of_range", {{{2, 3}}},
      [](auto& x) {
        return nll_loss(x[0], tensor(std::vector<int64_t>{0, 3}).to(x[0].device()));
      },
      "nll_loss: target 3 at position 1 is out of range for 3 classes");
  t.add(
      "kl_div_sum_3x4", {{{3, 4}}, {{3, 4}, Layout::contiguous, D::unit}},
      [](auto& x) { return kl_div(x[0], x[1], Reduction::sum); },
      [](auto& x) {
        return reduced_ref(zip_ref(
                               x, [](auto& v) { return v[1] * (std::log(v[1]) - v[0]); },
                               [](auto& v) { return v[1] * (std::abs(std::log(v[1])) + std::abs(v[0])) + 1e-3; }),
                           Reduction::sum);
      });
  t.add(
       "kl_div_log_target_none_5", {{{5}}, {{5}}},
       [](auto& x) { return nn::KLDivLoss(Reduction::none, true)(x[0], x[1]); },
       [](auto& x) {
         return zip_ref(
             x, [](auto& v) { return std::exp(v[1]) * (v[1] - v[0]); },
             [](auto& v) { return std::exp(v[1]) * (std::abs(v[1]) + std::abs(v[0])); });
       })
      .tol.half = 3e-2;

  t.add_error(
      "mse_loss_shape_mismatch", {{{3, 4}}, {{4, 3}}}, [](auto& x) { return mse_loss(x[0], x[1]); },
      "must have the input's shape");
  t.add_error(
      "smooth_l1_negative_beta", {{{3}}, {{3}}},
      [](auto& x) { return smooth_l1_loss(x[0], x[1], Reduction::mean, -1.0); },
      "smooth_l1_loss: beta must be finite and 0 or more, got -1");
}

// gather, scatter_add, index_select, index_add, embedding and layer_norm. Indices are made per
// call (a tensor captured in a row would outlive the allocator at exit); the references index
// row-major vectors of doubles directly.
Tensor index_on(const std::vector<int64_t>& values, const Shape& shape, Device device) {
  return tensor(values, shape).to(device);
}

// Row-major position of idx in shape.
int64_t flat_of(const std::vector<int64_t>& idx, const Shape& shape) {
  int64_t f = 0;
  for (std::size_t d = 0; d < shape.size(); ++d)
    f = f * shape[d] + idx[d];
  return f;
}

void indexing_rows(Table& t) {
  using D = Domain;
  // gather along dim 1, the index [4, 3] with repeats; along dim 0 with an index narrower than
  // the input in dim 1 (the input is read through a narrowed view).
  const std::vector<int64_t> g1 = {0, 4, 4, 2, 2, 1, 3, 0, 3, 1, 1, 1};
  const std::vector<int64_t> g0 = {3, 0, 1, 3, 2, 2, 0, 0};
  auto gather_ref = [](const Values& x, int64_t dim, const std::vector<int64_t>& index, const Shape& ishape) {
    Values y{ishape, {}, {}};
    for (int64_t e = 0; e < count_of(ishape); ++e) {
      auto idx = unravel(e, ishape);
      idx[static_cast<std::size_t>(dim)] = index[static_cast<std::size_t>(e)];
      y.v.push_back(x.v[static_cast<std::size_t>(flat_of(idx, x.shape))]);
    }
    return y;
  };
  t.add(
      "gather_dim_1_4x5", {{{4, 5}}},
      [=](auto& x) {
        return gather(x[0], 1, index_on(g1, {4, 3}, x[0].device()));
      },
      [=](auto& x) {
        return gather_ref(x[0], 1, g1, {4, 3});
      });
  t.add(
      "gather_dim_0_narrower_4x5_transposed", {{{4, 5}, Layout::transposed}},
      [=](auto& x) {
        return x[0].gather(0, index_on(g0, {2, 4}, x[0].device()));
      },
      [=](auto& x) {
        return gather_ref(x[0], 0, g0, {2, 4});
      });

  // scatter_add along dim 0 with colliding indices, from a src larger than the index in dim 1.
  const std::vector<int64_t> s0 = {0, 2, 1, 2, 2, 2, 0, 1, 0, 0, 1, 1, 1, 0, 2, 0, 2, 1, 2, 0};
  t.add(
      "scatter_add_dim_0_3x4_from_5x6", {{{3, 4}}, {{5, 6}, Layout::sliced}},
      [=](auto& x) {
        return scatter_add(x[0], 0, index_on(s0, {5, 4}, x[0].device()), x[1]);
      },
      [=](auto& x) {
        Values y = x[0];
        y.scale.assign(y.v.size(), 0.0);
        for (std::size_t k = 0; k < y.v.size(); ++k)
          y.scale[k] = std::abs(y.v[k]);
        for (int64_t j = 0; j < 5; ++j)
          for (int64_t i = 0; i < 4; ++i) {
            const auto at = static_cast<std::size_t>(s0[static_cast<std::size_t>(j * 4 + i)] * 4 + i);
            const double v = x[1].v[static_cast<std::size_t>(j * 6 + i)];
            y.v[at] += v;
            y.scale[at] += std::abs(v);
          }
        return y;
      });

  // index_select with a repeated index (its gradient adds up); along the middle dim of a 3-D input.
  const std::vector<int64_t> sel = {4, 0, 4, 2};
  auto select_ref = [](const Values& x, int64_t dim, const std::vector<int64_t>& index) {
    Shape shape = x.shape;
    shape[static_cast<std::size_t>(dim)] = static_cast<int64_t>(index.size());
    Values y{shape, {}, {}};
    for (int64_t e = 0; e < count_of(shape); ++e) {
      auto idx = unravel(e, shape);
      idx[static_cast<std::size_t>(dim)] = index[static_cast<std::size_t>(idx[static_cast<std::size_t>(dim)])];
      y.v.push_back(x.v[static_cast<std::size_t>(flat_of(idx, x.shape))]);
    }
    return y;
  };
  t.add(
      "index_select_dim_0_6x3", {{{6, 3}}},
      [=](auto& x) { return index_select(x[0], 0, index_on(sel, {4}, x[0].device())); },
      [=](auto& x) { return select_ref(x[0], 0, sel); });
  t.add(
      "index_select_dim_1_2x5x3_transposed", {{{2, 5, 3}, Layout::transposed}},
      [=](auto& x) { return x[0].index_select(1, index_on(sel, {4}, x[0].device())); },
      [=](auto& x) { return select_ref(x[0], 1, sel); });

  // index_add along dim 1 with alpha and a repeated index.
  const std::vector<int64_t> add_at = {1, 3, 1, 0, 2};
  t.add(
      "index_add_dim_1_alpha_3x4", {{{3, 4}}, {{3, 5}}},
      [=](auto& x) { return x[0].index_add(1, index_on(add_at, {5}, x[0].device()), x[1], 0.5); },
      [=](auto& x) {
        Values y = x[0];
        y.scale.resize(y.v.size());
        for (std::size_t k = 0; k < y.v.size(); ++k)
          y.scale[k] = std::abs(y.v[k]);
        for (int64_t r = 0; r < 3; ++r)
          for (int64_t j = 0; j < 5; ++j) {
            const auto at = static_cast<std::size_t>(r * 4 + add_at[static_cast<std::size_t>(j)]);
            const double v = 0.5 * x[1].v[static_cast<std::size_t>(r * 5 + j)];
            y.v[at] += v;
            y.scale[at] += std::abs(v);
          }
        return y;
      });

  // embedding: rows of a [6, 3] table for [2, 2] indices (padding_idx has its own test: its
  // gradient is 0 by definition, not by finite differences).
  const std::vector<int64_t> tokens = {1, 5, 1, 0};
  t.add(
      "embedding_6x3", {{{6, 3}}},
      [=](auto& x) {
        return nn::functional::embedding(index_on(tokens, {2, 2}, x[0].device()), x[0]);
      },
      [=](auto& x) {
        Values y = select_ref(x[0], 0, tokens);
        y.shape = {2, 2, 3};
        return y;
      });

  // layer_norm over the last dim with weight and bias; over the last two without.
  auto layer_norm_ref = [](const std::vector<Values>& x, int64_t normalized) {
    const Values& in = x[0];
    Values y{in.shape, {}, {}};
    const auto n = static_cast<std::size_t>(normalized);
    for (std::size_t start = 0; start < in.v.size(); start += n) {
      double mu = 0, var = 0, spread = 0;
      for (std::size_t k = 0; k < n; ++k)
        mu += in.v[start + k] / static_cast<double>(n);
      for (std::size_t k = 0; k < n; ++k)
        var += (in.v[start + k] - mu) * (in.v[start + k] - mu) / static_cast<double>(n);
      for (std::size_t k = 0; k < n; ++k)
        spread += std::abs(in.v[start + k]);
      const double inv = 1.0 / std::sqrt(var + 1e-5);
      for (std::size_t k = 0; k < n; ++k) {
        double v = (in.v[start + k] - mu) * inv, scale = (std::abs(in.v[start + k]) + spread / n) * inv;
        if (x.size() > 1) {
          scale = scale * std::abs(x[1].v[k]) + std::abs(x[2].v[k]);
          v = v * x[1].v[k] + x[2].v[k];
        }
        y.v.push_back(v);
        y.scale.push_back(scale);
      }
    }
    return y;
  };
  t.add(
       "layer_norm_affine_4x6", {{{4, 6}, Layout::sliced}, {{6}}, {{6}}},
       [](auto& x) { return layer_norm(x[0], {6}, x[1], x[2]); }, [=](auto& x) { return layer_norm_ref(x, 6); })
      .tol.half = 3e-2;
  t.add(
       "layer_norm_2d_3x2x5", {{{3, 2, 5}, Layout::contiguous, D::wide}},
       [](auto& x) {
         return nn::LayerNorm(Shape{2, 5}, 1e-5, false)(x[0]);
       },
       [=](auto& x) { return layer_norm_ref(x, 10); })
      .tol.half = 3e-2;

  t.add_error(
      "gather_index_out_of_range", {{{2, 3}}},
      [](auto& x) {
        return gather(x[0], 1, index_on({0, 3}, {2, 1}, x[0].device()));
      },
      "gather: index 3 at flat position 1 is out of range for a dim of size 3");
  t.add_error(
      "index_select_two_dim_index", {{{2, 3}}},
      [](auto& x) {
        return index_select(x[0], 0, index_on({0, 1}, {1, 2}, x[0].device()));
      },
      "index_select: the index must be 1-D");
  t.add_error(
      "layer_norm_wrong_trailing_shape", {{{2, 3}}}, [](auto& x) { return layer_norm(x[0], {2}); },
      "does not end in normalized_shape");
}

const std::vector<Row>& table() {
  static const std::vector<Row> rows = [] {
    Table t;
    elementwise_rows(t);
    reduction_rows(t);
    matmul_rows(t);
    loss_rows(t);
    activation_rows(t);
    shape_rows(t);
    chain_rows(t);
    indexing_rows(t);
    return t.take();
  }();
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Running a row.

// n values in `domain`, the same for the same seed.
std::vector<double> draw(Domain domain, int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<double> v(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < v.size(); ++i) {
    switch (domain) {
      case Domain::any:
        v[i] = -3 + 6 * u(rng);
        break;
      case Domain::wide:
        v[i] = -8 + 16 * u(rng);
        break;
      case Domain::positive:
        v[i] = 0.5 + 2.5 * u(rng);
        break;
      case Domain::away_from_zero: {
        const double sign = u(rng) < 0.5 ? -1.0 : 1.0;
        v[i] = sign * (0.25 + 2.75 * u(rng));
        break;
      }
      case Domain::distinct:
        v[i] = n == 1 ? 0.3 : -2 + 4 * static_cast<double>(i) / static_cast<double>(n - 1);
        break;
      case Domain::grid:
        v[i] = std::floor(384 * u(rng)) / 64 - 3;
        break;
      case Domain::unit:
        v[i] = 0.05 + 0.9 * u(rng);
        break;
    }
  }
  if (domain == Domain::distinct) std::shuffle(v.begin(), v.end(), rng);
  return v;
}

// The logical values of a row's inputs for a run in `dtype`: drawn in f64, then rounded to the
// dtype, so that the reference sees exactly what the op sees.
std::vector<Values> inputs_for(const Row& row, DType dtype) {
  std::vector<Values> all;
  for (std::size_t i = 0; i < row.inputs.size(); ++i) {
    const Input& in = row.inputs[i];
    Values x{in.shape, {}, {}};
    if (in.layout == Layout::expanded) {
      const int64_t per_row = count_of(in.shape) / in.shape[0];
      const auto first = draw(in.domain, per_row, 1000 + i);
      for (int64_t r = 0; r < in.shape[0]; ++r)
        x.v.insert(x.v.end(), first.begin(), first.end());
    } else {
      x.v = draw(in.domain, count_of(in.shape), 1000 + i);
    }
    for (double& e : x.v)
      e = round_to(dtype, e);
    all.push_back(std::move(x));
  }
  return all;
}

Tensor upload(const std::vector<double>& v, const Shape& shape, DType dtype, Device device) {
  return tensor(v, {static_cast<int64_t>(v.size())}, TensorOptions(dtype).device(device)).reshape(shape);
}

// A leaf of `dtype` on `device` whose elements, read in row-major order, are x.v, laid out in
// memory as `layout` says.
Tensor make_leaf(const Values& x, Layout layout, DType dtype, Device device) {
  const Shape& s = x.shape;
  const std::size_t rank = s.size();
  Tensor t;
  switch (layout) {
    case Layout::contiguous:
      t = upload(x.v, s, dtype, device);
      break;
    case Layout::transposed: {
      const int64_t rows = s[rank - 2], cols = s[rank - 1], batches = count_of(Shape(s.begin(), s.end() - 2));
      Shape stored = s;
      std::swap(stored[rank - 1], stored[rank - 2]);
      std::vector<double> b(x.v.size());
      for (int64_t k = 0; k < batches; ++k)
        for (int64_t i = 0; i < rows; ++i)
          for (int64_t j = 0; j < cols; ++j)
            b[(k * cols + j) * rows + i] = x.v[(k * rows + i) * cols + j];
      t = upload(b, stored, dtype, device).transpose(-1, -2);
      break;
    }
    case Layout::sliced: {
      const int64_t n = s.back(), outer = count_of(Shape(s.begin(), s.end() - 1));
      Shape stored = s;
      stored.back() = 2 * n + 1;
      std::vector<double> b(static_cast<std::size_t>(count_of(stored)), kNaN);  // an op that reads a gap gives NaN
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t k = 0; k < n; ++k)
          b[o * (2 * n + 1) + 2 * k + 1] = x.v[o * n + k];
      t = upload(b, stored, dtype, device).slice(-1, 1, 2 * n + 1, 2);
      break;
    }
    case Layout::expanded: {
      Shape stored = s;
      stored[0] = 1;
      t = upload(std::vector<double>(x.v.begin(), x.v.begin() + count_of(stored)), stored, dtype, device).expand(s);
      break;
    }
  }
  t.requires_grad_(true);
  return t;
}

struct Outcome {
  Tensor out;  // on the CPU
  Device out_device = Device::cpu();
  std::vector<Tensor> leaves;
  std::vector<Tensor> grads;  // on the CPU; undefined where none came back
};

// The loss's weights: multiples of 1/8 in [-1, 1], exact in every dtype.
std::vector<double> weights(int64_t n) {
  std::mt19937_64 rng(7);
  std::vector<double> w(static_cast<std::size_t>(n));
  for (double& e : w)
    e = static_cast<double>(static_cast<int64_t>(rng() % 17) - 8) / 8;
  return w;
}

// Runs the row's op on leaves holding `values` in `dtype` on `device` and back-propagates the
// loss sum(out · w).
Outcome run(const Row& row, const std::vector<Values>& values, DType dtype, Device device) {
  Outcome o;
  for (std::size_t i = 0; i < values.size(); ++i)
    o.leaves.push_back(make_leaf(values[i], row.inputs[i].layout, dtype, device));
  const Tensor out = row.op(o.leaves);
  o.out_device = out.device();
  o.out = out.detach().to(Device::cpu());
  if (out.requires_grad())
    sum(mul(out, upload(weights(out.numel()), out.shape(), out.dtype(), out.device()))).backward();
  for (const Tensor& leaf : o.leaves)
    o.grads.push_back(leaf.grad().defined() ? leaf.grad().to(Device::cpu()) : Tensor());
  return o;
}

double tolerance_for(const Tolerance& t, DType dtype) {
  return dtype == DType::f64 ? t.f64 : dtype == DType::f32 ? t.f32 : t.half;
}

// A result rounded into f16's subnormals is off by up to half their spacing, 2^-25, whatever
// its magnitude: softmax of long rows lands there.
double absolute_floor(DType dtype) { return dtype == DType::f16 ? 0x1.0p-25 : 0.0; }

// Elementwise |actual - expected| <= rtol · scale + atol, with the reference's scale. NaN only
// matches NaN and an infinity only itself, so an element left unwritten (poisoned) fails.
::testing::AssertionResult agrees(const std::vector<double>& actual, const Values& expected, double rtol, double atol) {
  if (actual.size() != expected.v.size())
    return ::testing::AssertionFailure() << actual.size() << " elements, expected " << expected.v.size();
  std::size_t bad = 0, first = 0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double a = actual[i], e = expected.v[i];
    const bool same = a == e || (std::isnan(a) && std::isnan(e));
    if (same || std::abs(a - e) <= rtol * expected.scale_at(i) + atol) continue;
    if (bad++ == 0) first = i;
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " of " << actual.size() << " elements differ; element " << first
                                       << " (at " << shape_str(unravel(first, expected.shape)) << "): " << actual[first]
                                       << " vs " << expected.v[first] << ", allowed " << rtol << " × "
                                       << expected.scale_at(first) << " + " << atol;
}

// Tensors on any devices: the shapes match and the elements agree as DESIGN.md's CPU-vs-CUDA
// rule says, |a - e| <= tol · max(1, |e|).
::testing::AssertionResult agrees_with(const Tensor& actual, const Tensor& expected, double tol) {
  if (actual.shape() != expected.shape())
    return ::testing::AssertionFailure() << "shapes " << shape_str(actual.shape()) << " vs "
                                         << shape_str(expected.shape());
  Values e{expected.shape(), expected.to_vector<double>(), {}};
  for (double v : e.v)
    e.scale.push_back(std::max(1.0, std::abs(v)));
  return agrees(actual.to_vector<double>(), e, tol, 0.0);
}

// max |a - e| <= tol, NaN only matching NaN.
::testing::AssertionResult within(const Tensor& actual, const Tensor& expected, double tol) {
  const auto a = actual.to_vector<double>(), e = expected.to_vector<double>();
  if (a.size() != e.size()) return ::testing::AssertionFailure() << a.size() << " vs " << e.size() << " elements";
  for (std::size_t i = 0; i < a.size(); ++i) {
    const bool same = a[i] == e[i] || (std::isnan(a[i]) && std::isnan(e[i]));
    if (!same && !(std::abs(a[i] - e[i]) <= tol))
      return ::testing::AssertionFailure() << "element " << i << ": " << a[i] << " vs " << e[i] << ", allowed " << tol;
  }
  return ::testing::AssertionSuccess();
}

// Check (1) and (3): the row on the CPU in `dtype` against its reference, its gradients' shapes,
// and in f32 and half the gradients against f64's on the same values.
::testing::AssertionResult matches_reference(const Row& row, DType dtype) {
  const std::vector<Values> values = inputs_for(row, dtype);
  if (!row.error.empty()) {
    const std::string msg = testing::error_of([&] { run(row, values, dtype, Device::cpu()); });
    if (msg.find(row.error) != std::string::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "expected a volt::Error containing '" << row.error << "', got: " << msg;
  }
  const Outcome got = run(row, values, dtype, Device::cpu());
  for (std::size_t i = 0; i < values.size(); ++i)
    if (got.leaves[i].to_vector<double>() != values[i].v)
      return ::testing::AssertionFailure() << "input " << i << " does not hold the drawn values (harness bug)";
  const Values want = row.ref(values);
  if (got.out.dtype() != dtype) return ::testing::AssertionFailure() << "output dtype " << got.out.dtype();
  if (got.out.shape() != want.shape)
    return ::testing::AssertionFailure() << "output shape " << shape_str(got.out.shape()) << ", expected "
                                         << shape_str(want.shape);
  const auto close = agrees(got.out.to_vector<double>(), want, tolerance_for(row.tol, dtype), absolute_floor(dtype));
  if (!close) return ::testing::AssertionFailure() << "output: " << close.message();
  for (std::size_t i = 0; i < got.grads.size(); ++i) {
    const Tensor& g = got.grads[i];
    if (!g.defined()) return ::testing::AssertionFailure() << "no gradient for input " << i;
    if (g.shape() != values[i].shape || g.dtype() != dtype)
      return ::testing::AssertionFailure()
             << "gradient " << i << " is " << describe(g) << " for input " << describe(got.leaves[i]);
  }
  if (dtype == DType::f64) return ::testing::AssertionSuccess();
  // Normwise over all of the row's gradients together: a gradient summed over broadcast dims can
  // cancel far below the terms it was summed from, and its siblings bound those terms.
  const Outcome exact = run(row, values, DType::f64, Device::cpu());
  double largest = 0;
  for (const Tensor& g : exact.grads)
    for (double e : g.to_vector<double>())
      if (!std::isnan(e)) largest = std::max(largest, std::abs(e));
  const double tol = (dtype == DType::f32 ? row.tol.grad_f32 : row.tol.grad_half) * largest + row.tol.grad_atol;
  for (std::size_t i = 0; i < got.grads.size(); ++i) {
    const auto grad_close = within(got.grads[i], exact.grads[i], tol);
    if (!grad_close) return ::testing::AssertionFailure() << "gradient " << i << " vs f64: " << grad_close.message();
  }
  return ::testing::AssertionSuccess();
}

std::vector<DType> dtypes_of(const Row& row) {
  std::vector<DType> all;
  all.push_back(DType::f64);
  for (DType t : row.dtypes)
    all.push_back(t);
  return all;
}

std::string row_name(const ::testing::TestParamInfo<Row>& info) { return info.param.name; }

// ---------------------------------------------------------------------------------------------
// The three runs of every row.

class ReferenceRow : public ::testing::TestWithParam<Row> {};

TEST_P(ReferenceRow, MatchesTheF64Reference) {
  const Row& row = GetParam();
  for (DType dtype : dtypes_of(row))
    EXPECT_TRUE(matches_reference(row, dtype)) << row.name << " in " << dtype_name(dtype);
}

INSTANTIATE_TEST_SUITE_P(Reference, ReferenceRow, ::testing::ValuesIn(table()), row_name);

class GradcheckRow : public ::testing::TestWithParam<Row> {};

TEST_P(GradcheckRow, MatchesFiniteDifferences) {
  const Row& row = GetParam();
  if (!row.no_gradcheck.empty()) GTEST_SKIP() << row.no_gradcheck;
  const std::vector<Values> values = inputs_for(row, DType::f64);
  std::vector<Tensor> leaves;
  for (std::size_t i = 0; i < values.size(); ++i) {
    // gradcheck perturbs its inputs in place, which an expanded view refuses: that one is copied.
    const Layout layout = row.inputs[i].layout == Layout::expanded ? Layout::contiguous : row.inputs[i].layout;
    leaves.push_back(make_leaf(values[i], layout, DType::f64, Device::cpu()));
  }
  if (!row.error.empty()) {
    testing::expect_error([&] { gradcheck(row.op, leaves, row.grad); }, {row.error});
    return;
  }
  const GradcheckResult r = gradcheck(row.op, leaves, row.grad);
  EXPECT_TRUE(r.ok) << r.message;
}

INSTANTIATE_TEST_SUITE_P(Gradcheck, GradcheckRow, ::testing::ValuesIn(table()), row_name);

// Second derivatives: the backward of every row's backward, taken with create_graph, against
// finite differences of its first-order gradients.
class GradgradcheckRow : public ::testing::TestWithParam<Row> {};

TEST_P(GradgradcheckRow, MatchesFiniteDifferencesOfTheGradient) {
  const Row& row = GetParam();
  if (!row.no_gradcheck.empty()) GTEST_SKIP() << row.no_gradcheck;
  if (!row.error.empty()) GTEST_SKIP() << "an error row: the Gradcheck run covers it";
  const std::vector<Values> values = inputs_for(row, DType::f64);
  std::vector<Tensor> leaves;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const Layout layout = row.inputs[i].layout == Layout::expanded ? Layout::contiguous : row.inputs[i].layout;
    leaves.push_back(make_leaf(values[i], layout, DType::f64, Device::cpu()));
  }
  const GradcheckResult r = gradgradcheck(row.op, leaves, row.grad);
  EXPECT_TRUE(r.ok) << r.message;
}

INSTANTIATE_TEST_SUITE_P(Gradgradcheck, GradgradcheckRow, ::testing::ValuesIn(table()), row_name);

const Device kGpu = Device::cuda(0);

// Fills every CUDA allocation with NaN bytes, so that an element a kernel leaves unwritten fails.
void poison_cuda_allocations() {
#if VOLT_TEST_WITH_CUDA
  cuda::set_poison_allocations(true);
#endif
}

// Use first in every CUDA test: skips, saying why, without a usable GPU.
#define VOLT_OP_TABLE_REQUIRE_CUDA()                                                       \
  do {                                                                                     \
    if (!::volt::cuda::is_available()) GTEST_SKIP() << ::volt::cuda::unavailable_reason(); \
    poison_cuda_allocations();                                                             \
  } while (0)

// DESIGN.md's CPU-vs-CUDA tolerances; f64, which it does not name, differs in summation order
// and by the ulps of CUDA's math library.
double agreement_tolerance(DType t) {
  return t == DType::f64 ? 1e-10 : (t == DType::f16 || t == DType::bf16) ? 1e-2 : 1e-5;
}

class OnCudaRow : public ::testing::TestWithParam<Row> {};

TEST_P(OnCudaRow, MatchesTheCpu) {
  VOLT_OP_TABLE_REQUIRE_CUDA();
  const Row& row = GetParam();
  for (DType dtype : dtypes_of(row)) {
    SCOPED_TRACE(dtype_name(dtype));
    const std::vector<Values> values = inputs_for(row, dtype);
    if (!row.error.empty()) {
      testing::expect_error([&] { run(row, values, dtype, Device::cpu()); }, {row.error});
      testing::expect_error([&] { run(row, values, dtype, kGpu); }, {row.error});
      continue;
    }
    const Outcome cpu = run(row, values, dtype, Device::cpu());
    const Outcome gpu = run(row, values, dtype, kGpu);
    const double tol = agreement_tolerance(dtype);
    EXPECT_EQ(gpu.out_device, kGpu);
    EXPECT_TRUE(agrees_with(gpu.out, cpu.out, tol)) << "output";
    for (std::size_t i = 0; i < cpu.grads.size(); ++i) {
      ASSERT_TRUE(cpu.grads[i].defined() && gpu.grads[i].defined()) << "gradient " << i;
      EXPECT_TRUE(agrees_with(gpu.grads[i], cpu.grads[i], tol)) << "gradient " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(OnCuda, OnCudaRow, ::testing::ValuesIn(table()), row_name);

// ---------------------------------------------------------------------------------------------
// The machinery can fail.

const Row& row_named(const std::string& name) {
  for (const Row& row : table())
    if (row.name == name) return row;
  throw std::runtime_error("no row " + name);
}

TEST(OpTable, ReferenceComparisonDetectsAWrongReference) {
  Row relu_row = row_named("relu_31x33_transposed");
  ASSERT_TRUE(matches_reference(relu_row, DType::f32));
  // Off by 1e-4 relative: outside f32's tolerance, and f64's.
  relu_row.ref = unary([](double a) { return relu_of(a) * (1 + 1e-4); });
  EXPECT_FALSE(matches_reference(relu_row, DType::f32));
  EXPECT_FALSE(matches_reference(relu_row, DType::f64));
  // The wrong op: the right shape, another function.
  Row exp_row = row_named("exp_7_sliced");
  exp_row.op = [](auto& x) { return tanh(x[0]); };
  EXPECT_FALSE(matches_reference(exp_row, DType::bf16));
  // A size-0 output of the wrong shape.
  Row empty_row = row_named("sum_rows_member_2x0");
  ASSERT_TRUE(matches_reference(empty_row, DType::f32));
  empty_row.ref = [](auto&) { return Values{{1}, {0.0}, {}}; };
  EXPECT_FALSE(matches_reference(empty_row, DType::f32));
  // An error row whose op does not throw.
  Row error_row = row_named("max_rows_2x0");
  ASSERT_TRUE(matches_reference(error_row, DType::f64));
  error_row.op = [](auto& x) { return sum(x[0], {1}); };
  EXPECT_FALSE(matches_reference(error_row, DType::f64));
}

TEST(OpTable, ElementComparisonCatchesNaNAndScales) {
  const Values want{{3}, {1.0, 0.0, -2.0}, {1.0, 4.0, 2.0}};
  EXPECT_TRUE(agrees({1.0, 0.0, -2.0}, want, 0.0, 0.0));
  EXPECT_TRUE(agrees({1.0 + 1e-6, 3.9e-6, -2.0}, want, 1e-6, 0.0));  // relative to the scale, 4 for element 1
  EXPECT_FALSE(agrees({1.0, 4.1e-6, -2.0}, want, 1e-6, 0.0));
  EXPECT_FALSE(agrees({1.0, kNaN, -2.0}, want, 1.0, 1.0));  // an unwritten, poisoned element
  EXPECT_FALSE(agrees({1.0, 0.0}, want, 1.0, 1.0));
  EXPECT_TRUE(agrees({kNaN}, Values{{1}, {kNaN}, {}}, 0.0, 0.0));  // NaN where NaN is right (an empty mean)
  EXPECT_FALSE(within(tensor({1.0, 2.0}), tensor({1.0, 2.1}), 1e-2));
  EXPECT_TRUE(within(tensor({1.0, 2.0}), tensor({1.01, 2.0}), 1e-2));
  EXPECT_FALSE(within(tensor({1.0, 2.0}), tensor({1.0, NAN}), 1.0));
  EXPECT_FALSE(agrees_with(tensor({1.0, 2.0}), tensor({1.0, 2.0, 3.0}), 1.0));
}

// The table names no row twice and every row names an op that throws or a reference.
TEST(OpTable, RowsAreWellFormed) {
  std::vector<std::string> names;
  for (const Row& row : table()) {
    EXPECT_TRUE(row.op) << row.name;
    EXPECT_NE(static_cast<bool>(row.ref), !row.error.empty()) << row.name;
    EXPECT_FALSE(row.inputs.empty()) << row.name;
    names.push_back(row.name);
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
}

TEST(OpTable, RoundingMatchesTheFormats) {
  // f16: 11 bits, ties to even; subnormals step by 2^-24. bf16: 8 bits.
  EXPECT_EQ(round_to(DType::f16, 1 + 0x1.0p-11), 1.0);
  EXPECT_EQ(round_to(DType::f16, 1 + 3 * 0x1.0p-11), 1 + 0x1.0p-9);
  EXPECT_EQ(round_to(DType::f16, 0x1.8p-25), 0x1.0p-24);
  EXPECT_EQ(round_to(DType::bf16, 1 + 0x1.0p-8), 1.0);
  EXPECT_EQ(round_to(DType::bf16, 1 + 3 * 0x1.0p-8), 1 + 0x1.0p-6);
  for (double x : {0.1, -2.7, 1e-6, 3.14159})
    for (DType t : {DType::f16, DType::bf16, DType::f32})
      EXPECT_EQ(round_to(t, x), tensor(std::vector<double>{x}).to(t).to_vector<double>()[0]) << x << " " << t;
}

// gradcheck must be able to fail: an op whose backward is off by a factor is caught.
TEST(Gradcheck, DetectsAWrongBackward) {
  Tensor x = randn({4}, DType::f64).requires_grad_(true);
  auto wrong_identity = [](const std::vector<Tensor>& in) {
    Tensor y = in[0].detach().clone();
    record("WrongBackward", y, {in[0]}, [](const Tensor& g) { return std::vector<Tensor>{mul(g, 2.0)}; });
    return y;
  };
  const GradcheckResult r = gradcheck(wrong_identity, {x});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.message.find("analytic"), std::string::npos);
}

TEST(Gradcheck, RejectsF32Inputs) {
  Tensor x = randn({3}).requires_grad_(true);
  EXPECT_THROW(gradcheck([](const std::vector<Tensor>& in) { return in[0]; }, {x}), Error);
}

// ---------------------------------------------------------------------------------------------
// Device behaviour beyond the rows: argmax, the random streams and the fused optimizers through
// the public API.

TEST(OnCuda, ArgmaxAndAccuracyOnTheDevice) {
  VOLT_OP_TABLE_REQUIRE_CUDA();
  Generator gen(5);
  const Tensor logits = randn({1000, 10}, {}, &gen);
  const Tensor y = randint(0, 10, {1000}, DType::i64, &gen);
  const Tensor correct_cpu = sum(eq(argmax(logits, 1), y));
  const Tensor correct_gpu = sum(eq(argmax(logits.to(kGpu), 1), y.to(kGpu)));
  EXPECT_EQ(correct_gpu.device(), kGpu);
  EXPECT_EQ(correct_gpu.item<int64_t>(), correct_cpu.item<int64_t>());
}

TEST(OnCuda, RandomTensorsMatchTheCpuStream) {
  VOLT_OP_TABLE_REQUIRE_CUDA();
  for (DType t : {DType::f32, DType::f64}) {
    Generator a(9), b(9);
    EXPECT_EQ(rand({1027}, TensorOptions(t).device(kGpu), &a).to_vector<double>(),
              rand({1027}, TensorOptions(t), &b).to_vector<double>());
    EXPECT_EQ(a.offset(), b.offset());
  }
  Generator a(4), b(4);
  EXPECT_EQ(randint(-3, 1000, {777}, TensorOptions(DType::i64).device(kGpu), &a).to_vector<int64_t>(),
            randint(-3, 1000, {777}, DType::i64, &b).to_vector<int64_t>());
}

// The fused optimizer kernels against the CPU optimizers, several steps, lr changed in between.
template <class Opt, class Options>
void expect_same_training(Options options) {
  Generator gen(2);
  const Tensor init = randn({37, 5}, {}, &gen);
  std::vector<Tensor> grads;
  for (int s = 0; s < 4; ++s)
    grads.push_back(randn({37, 5}, {}, &gen));
  Tensor p_cpu = init.clone().requires_grad_(true);
  Tensor p_gpu = init.to(kGpu).detach().requires_grad_(true);
  Opt cpu_opt({p_cpu}, options), gpu_opt({p_gpu}, options);
  for (int s = 0; s < 4; ++s) {
    if (s == 2) {
      cpu_opt.set_lr(options.lr() * 0.5);
      gpu_opt.set_lr(options.lr() * 0.5);
    }
    p_cpu.set_grad(grads[s]);
    p_gpu.set_grad(grads[s].to(kGpu));
    cpu_opt.step();
    gpu_opt.step();
  }
  EXPECT_TRUE(agrees_with(p_gpu.detach(), p_cpu.detach(), 1e-5));
  EXPECT_EQ(gpu_opt.step_count(), 4);
}

TEST(OnCuda, FusedOptimizerStepsMatchTheCpu) {
  VOLT_OP_TABLE_REQUIRE_CUDA();
  expect_same_training<optim::SGD>(optim::SGDOptions(0.1));
  expect_same_training<optim::SGD>(optim::SGDOptions(0.1).momentum(0.9).dampening(0.1).weight_decay(1e-2));
  expect_same_training<optim::SGD>(optim::SGDOptions(0.1).momentum(0.9).nesterov(true));
  expect_same_training<optim::Adam>(optim::AdamOptions(1e-2).weight_decay(1e-2));
  expect_same_training<optim::AdamW>(optim::AdamWOptions());
}

}  // namespace
}  // namespace volt
