// matmul (torch.matmul semantics) and linear, on the matmul kernel family (Eigen's GEMM on the
// CPU, cuBLAS/cuBLASLt on CUDA). mm and bmm are the primitives; the 1-D and broadcast cases are
// built from views so autograd gets them for free.
#include "volt/kernels/matmul.h"

#include <algorithm>
#include <atomic>
#include <optional>

#include "volt/autograd/autocast.h"
#include "volt/autograd/grad_mode.h"
#include "volt/autograd/node.h"
#include "volt/autograd/ops.h"
#include "volt/autograd/ops/op_checks.h"
#include "volt/kernels/elementwise.h"

namespace volt {
namespace {

// "high" lets f32 products on the GPU use TF32 tensor cores (10-bit mantissa inputs, fp32
// accumulation); "highest" (the default, as PyTorch) keeps full fp32.
std::atomic<bool> matmul_precision_high{false};
bool allow_tf32() { return matmul_precision_high.load(std::memory_order_relaxed); }

using kernels::MatrixOperand;

// How the GEMM reads a [rows, cols] matrix with these strides without copying, if it can.
std::optional<MatrixOperand> operand_of(const void* data, int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  if (cs == 1 || cols <= 1) {
    const int64_t ld = rows <= 1 ? std::max<int64_t>(cols, 1) : rs;
    if (ld >= std::max<int64_t>(cols, 1)) return MatrixOperand{data, ld, false};
  }
  if (rs == 1 || rows <= 1) {
    const int64_t ld = cols <= 1 ? std::max<int64_t>(rows, 1) : cs;
    if (ld >= std::max<int64_t>(rows, 1)) return MatrixOperand{data, ld, true};
  }
  return std::nullopt;
}

// Batch b of a [batch, rows, cols] (or [rows, cols]) tensor, contiguous-copied if it must be.
struct MatrixView {
  Tensor keep;  // owns the memory the operand points into
  int64_t batch_stride;
  MatrixOperand op;
};
MatrixView matrix_view(const Tensor& t) {
  const int64_t r = t.size(-2), c = t.size(-1);
  const int64_t bs = t.dim() == 3 ? t.stride(0) : 0;
  if (auto op = operand_of(t.data_ptr(), r, c, t.stride(-2), t.stride(-1))) return {t, bs, *op};
  Tensor tc = t.contiguous();
  return {tc, t.dim() == 3 ? r * c : 0, MatrixOperand{tc.data_ptr(), c, false}};
}

void check_matmul_inputs(const char* op, const Tensor& a, const Tensor& b) {
  ops::check_floating(op, a);
  ops::check_floating(op, b);
  ops::check_device(op, {a, b});
  ops::check_same_dtype(op, a, b);
}

// C[b] = A[b]·B[b] for 3-D inputs (batch dims equal) or plain 2-D.
Tensor gemm_batched(const Tensor& a, const Tensor& b) {
  const int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  const int64_t batch = a.dim() == 3 ? a.size(0) : 1;
  Shape shape = a.dim() == 3 ? Shape{batch, m, n} : Shape{m, n};
  Tensor c = empty(shape, TensorOptions(a.dtype()).device(a.device()));
  const MatrixView va = matrix_view(a), vb = matrix_view(b);
  const std::size_t item = itemsize(a.dtype());
  for (int64_t i = 0; i < batch; ++i) {
    MatrixOperand pa = va.op, pb = vb.op;
    pa.data = static_cast<const char*>(pa.data) + i * va.batch_stride * item;
    pb.data = static_cast<const char*>(pb.data) + i * vb.batch_stride * item;
    void* pc = static_cast<char*>(c.data_ptr()) + i * m * n * item;
    kernels::launch(kernels::gemm, a.device(), a.dtype(), m, n, k, 1.0, pa, pb, 0.0, pc, n, allow_tf32());
  }
  return c;
}

// The primitive under mm, bmm, matmul and linear's backward: [m,k]·[k,n] or [B,m,k]·[B,k,n].
Tensor product(const Tensor& a, const Tensor& b) {
  if (is_half(a.dtype()) && a.device().is_cpu()) return product(a.to(DType::f32), b.to(DType::f32)).to(a.dtype());
  Tensor c = gemm_batched(a, b);
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  const SavedTensor sa(a);
  const SavedTensor sb(b);
  record(a.dim() == 3 ? "BmmBackward" : "MmBackward", c, {a, b},
         [sa, sb, need_a, need_b](const Tensor& g) {
           return std::vector<Tensor>{need_a ? product(g, sb.get().transpose(-1, -2)) : Tensor(),
                                      need_b ? product(sa.get().transpose(-1, -2), g) : Tensor()};
         },
         {sa, sb});
  return c;
}

// y = x2·Wᵀ + b for 2-D x2: one fused kernel (on a GPU one cuBLASLt call with the bias in its
// epilogue; on the CPU the GEMM reads W column-major, no copy, then adds the bias).
Tensor linear_forward(const Tensor& x2, const Tensor& weight, const Tensor& bias) {
  const Tensor xc = x2.contiguous(), wc = weight.contiguous();
  const Tensor bc = bias.defined() ? bias.contiguous() : Tensor();
  Tensor y = empty({x2.size(0), weight.size(0)}, TensorOptions(x2.dtype()).device(x2.device()));
  kernels::launch(kernels::linear, x2.device(), x2.dtype(), x2.size(0), weight.size(1), weight.size(0), xc.data_ptr(),
                  wc.data_ptr(), bc.defined() ? bc.data_ptr() : nullptr, y.data_ptr(),
                  bc.defined() ? kernels::LinearEpilogue::bias : kernels::LinearEpilogue::none, nullptr, allow_tf32());
  return y;
}

}  // namespace

void set_matmul_precision(const std::string& precision) {
  VOLT_CHECK(precision == "highest" || precision == "high",
             "set_matmul_precision: expected \"highest\" or \"high\", got \"", precision, "\"");
  matmul_precision_high = precision == "high";
}

std::string get_matmul_precision() { return matmul_precision_high ? "high" : "highest"; }

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  const Tensor a = autocast::to_lower(a_in);
  const Tensor b = autocast::to_lower(b_in);
  check_matmul_inputs("matmul", a, b);
  VOLT_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: both arguments need at least 1 dim, got ", describe(a), " and ",
             describe(b));
  const int64_t k_a = a.size(-1), k_b = b.dim() == 1 ? b.size(0) : b.size(-2);
  VOLT_CHECK(k_a == k_b, "matmul: shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()),
             " cannot be multiplied (", k_a, " vs ", k_b, ")");
  if (a.dim() == 1 && b.dim() == 1) return product(a.unsqueeze(0), b.unsqueeze(1)).reshape({});
  if (a.dim() == 1) return matmul(a.unsqueeze(0), b).squeeze(-2);
  if (b.dim() == 1) return matmul(a, b.unsqueeze(1)).squeeze(-1);
  if (a.dim() == 2 && b.dim() == 2) return product(a, b);
  // Broadcast the batch dims, flatten them into one, multiply, and restore them.
  const Shape batch_a(a.shape().begin(), a.shape().end() - 2), batch_b(b.shape().begin(), b.shape().end() - 2);
  Shape batch = broadcast_shapes(batch_a, batch_b, "matmul");
  const int64_t nb = numel(batch), m = a.size(-2), n = b.size(-1);
  Shape ea = batch, eb = batch;
  ea.insert(ea.end(), {m, k_a});
  eb.insert(eb.end(), {k_b, n});
  Tensor c = product(a.expand(ea).reshape({nb, m, k_a}), b.expand(eb).reshape({nb, k_b, n}));
  batch.insert(batch.end(), {m, n});
  return c.view(batch);
}

Tensor mm(const Tensor& a_in, const Tensor& b_in) {
  const Tensor a = autocast::to_lower(a_in);
  const Tensor b = autocast::to_lower(b_in);
  check_matmul_inputs("mm", a, b);
  VOLT_CHECK(a.dim() == 2 && b.dim() == 2, "mm: expected two matrices, got ", describe(a), " and ", describe(b));
  VOLT_CHECK(a.size(1) == b.size(0), "mm: shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()),
             " cannot be multiplied (", a.size(1), " vs ", b.size(0), ")");
  return product(a, b);
}

Tensor bmm(const Tensor& a_in, const Tensor& b_in) {
  const Tensor a = autocast::to_lower(a_in);
  const Tensor b = autocast::to_lower(b_in);
  check_matmul_inputs("bmm", a, b);
  VOLT_CHECK(a.dim() == 3 && b.dim() == 3, "bmm: expected two batches of matrices [B, m, k] and [B, k, n], got ",
             describe(a), " and ", describe(b));
  VOLT_CHECK(a.size(0) == b.size(0) && a.size(2) == b.size(1), "bmm: shapes ", shape_str(a.shape()), " and ",
             shape_str(b.shape()), " cannot be multiplied (batch ", a.size(0), " vs ", b.size(0), ", ", a.size(2),
             " vs ", b.size(1), ")");
  return product(a, b);
}

namespace {

void check_linear(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_matmul_inputs(op, x, weight);
  VOLT_CHECK(weight.dim() == 2, op, ": weight must be [out, in], got ", describe(weight));
  VOLT_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1), op, ": input ", describe(x), " does not match weight ",
             describe(weight), " (last dim must be ", weight.size(1), ")");
  if (bias.defined()) {
    ops::check_device(op, {x, bias});
    ops::check_same_dtype(op, x, bias);
    VOLT_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), op, ": bias ", describe(bias),
               " does not match weight ", describe(weight));
  }
}

// x [..., in] as the 2-D [rows, in] the kernels take, and the output's shape [..., out].
std::pair<Tensor, Shape> as_rows(const Tensor& x, int64_t out) {
  Shape out_shape = x.shape();
  out_shape.back() = out;
  // Rows spelled out: with in == 0, reshape could not infer a -1 from 0 elements.
  return {x.reshape({numel(Shape(x.shape().begin(), x.shape().end() - 1)), x.size(-1)}), out_shape};
}

Tensor linear_impl(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_linear("linear", x, weight, bias);
  if (is_half(x.dtype()) && x.device().is_cpu()) {
    return linear_impl(x.to(DType::f32), weight.to(DType::f32), bias.defined() ? bias.to(DType::f32) : Tensor())
        .to(x.dtype());
  }
  const auto [x2, out_shape] = as_rows(x, weight.size(0));
  Tensor y = linear_forward(x2, weight, bias);
  const bool need_x = x.requires_grad(), need_w = weight.requires_grad();
  const bool need_b = bias.defined() && bias.requires_grad();
  const SavedTensor sx(x2);
  const SavedTensor sw(weight);
  record("LinearBackward", y, {x2, weight, bias},
         [sx, sw, need_x, need_w, need_b](const Tensor& g) {
           return std::vector<Tensor>{need_x ? product(g, sw.get()) : Tensor(),
                                      need_w ? product(g.t(), sx.get()) : Tensor(), need_b ? sum(g, {0}) : Tensor()};
         },
         {sx, sw});
  return x.dim() == 2 ? y : y.view(out_shape);
}

// relu(x·Wᵀ + b) in one kernel. On a GPU: cuBLASLt's RELU_AUX_BIAS epilogue, which also writes a
// bit per output saying it was positive, and the backward masks the gradient by those bits
// (relu_mask_backward: an eighth of the bytes of re-reading y). On the CPU: the GEMM, then one
// pass for bias and ReLU, and the backward masks by y > 0 with relu's own backward kernel
// (packing and unpacking bits would cost two passes more). Then linear's backward. Its unfused
// twin, relu(linear(x, w, b)), gives the same numbers.
Tensor linear_relu_impl(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_linear("linear_relu", x, weight, bias);
  if (!bias.defined()) return relu(linear_impl(x, weight, bias));  // no epilogue without a bias
  if (is_half(x.dtype()) && x.device().is_cpu())
    return linear_relu_impl(x.to(DType::f32), weight.to(DType::f32), bias.to(DType::f32)).to(x.dtype());
  const auto [x2, out_shape] = as_rows(x, weight.size(0));
  const int64_t rows = x2.size(0), in = weight.size(1), out = weight.size(0);
  const Tensor xc = x2.contiguous(), wc = weight.contiguous(), bc = bias.contiguous();
  const TensorOptions on = TensorOptions(x.dtype()).device(x.device());
  Tensor y = empty({rows, out}, on);
  const bool bits = !x.device().is_cpu();
  Tensor mask;
  if (bits)
    mask =
        empty({static_cast<int64_t>(kernels::relu_mask_bytes(rows, out))}, TensorOptions(DType::u8).device(x.device()));
  kernels::launch(kernels::linear, x.device(), x.dtype(), rows, in, out, xc.data_ptr(), wc.data_ptr(), bc.data_ptr(),
                  y.data_ptr(), kernels::LinearEpilogue::bias_relu, bits ? mask.data_ptr() : nullptr, allow_tf32());
  const bool need_x = x.requires_grad(), need_w = weight.requires_grad(), need_b = bias.requires_grad();
  const SavedTensor sx(x2);
  const SavedTensor sw(weight);
  const SavedTensor sy(y);
  const SavedTensor smask(mask);
  record("LinearReluBackward", y, {x2, weight, bias},
         [sx, sw, sy, smask, bits, need_x, need_w, need_b](const Tensor& g) {
           Tensor pre;  // the gradient before the ReLU
           if (is_grad_enabled()) {
             // Differentiable (create_graph): the mask is constant, as relu's.
             pre = mul(g, gt(sy.get().detach(), 0.0).to(g.dtype()));
           } else {
             const Tensor gc = g.contiguous();
             pre = empty(gc.shape(), TensorOptions(gc.dtype()).device(gc.device()));
             if (bits) {
               kernels::launch(kernels::relu_mask_backward, gc.device(), gc.dtype(), gc.size(0), gc.size(1),
                               gc.data_ptr(), smask.get().data_ptr(), pre.data_ptr());
             } else {
               const Tensor yv = sy.get();
               kernels::launch(kernels::binary, gc.device(), kernels::Binary::relu_backward, gc.dtype(), pre.data_ptr(),
                               gc.data_ptr(), yv.data_ptr(), ops::loop_for(gc.shape(), pre, gc, yv), 1.0);
             }
           }
           return std::vector<Tensor>{need_x ? product(pre, sw.get()) : Tensor(),
                                      need_w ? product(pre.t(), sx.get()) : Tensor(),
                                      need_b ? sum(pre, {0}) : Tensor()};
         },
         {sx, sw, sy, smask});
  return x.dim() == 2 ? y : y.view(out_shape);
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  return linear_impl(autocast::to_lower(x), autocast::to_lower(weight), autocast::to_lower(bias));
}

Tensor linear_relu(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  return linear_relu_impl(autocast::to_lower(x), autocast::to_lower(weight), autocast::to_lower(bias));
}

Tensor Tensor::matmul(const Tensor& other) const { return volt::matmul(*this, other); }

}  // namespace volt
