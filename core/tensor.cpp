#include "volt/core/tensor.h"

#include <algorithm>
#include <sstream>

#include "volt/core/device_backend.h"

namespace volt {

TensorImpl& Tensor::checked(const char* what) const {
  VOLT_CHECK(impl_ != nullptr, what, ": the tensor is undefined (a default-constructed Tensor holds no data)");
  return *impl_;
}

const Shape& Tensor::shape() const { return checked("shape").shape; }
const Shape& Tensor::strides() const { return checked("strides").strides; }
int64_t Tensor::size(int64_t d) const { return checked("size").shape[wrap_dim(d, dim(), "size")]; }
int64_t Tensor::stride(int64_t d) const { return checked("stride").strides[wrap_dim(d, dim(), "stride")]; }
int64_t Tensor::dim() const { return static_cast<int64_t>(checked("dim").shape.size()); }
int64_t Tensor::numel() const { return volt::numel(checked("numel").shape); }
int64_t Tensor::storage_offset() const { return checked("storage_offset").offset; }
DType Tensor::dtype() const { return checked("dtype").dtype; }
Device Tensor::device() const { return checked("device").storage->device(); }
const Storage& Tensor::storage() const { return checked("storage").storage; }
std::size_t Tensor::nbytes() const { return static_cast<std::size_t>(numel()) * itemsize(dtype()); }
uint64_t Tensor::version() const { return checked("version").storage->version(); }
void Tensor::bump_version() const { checked("bump_version").storage->bump_version(); }
bool Tensor::requires_grad() const { return checked("requires_grad").requires_grad; }

void* Tensor::data_ptr() const {
  const TensorImpl& impl = checked("data_ptr");
  return static_cast<char*>(impl.storage->data()) + impl.offset * itemsize(impl.dtype);
}

bool Tensor::is_contiguous() const {
  const TensorImpl& impl = checked("is_contiguous");
  if (volt::numel(impl.shape) == 0) return true;  // no element to be out of place, as in PyTorch
  int64_t expected = 1;
  for (std::size_t i = impl.shape.size(); i-- > 0;) {
    if (impl.shape[i] == 1) continue;
    if (impl.strides[i] != expected) return false;
    expected *= impl.shape[i];
  }
  return true;
}

Tensor Tensor::detach() const {
  const TensorImpl& impl = checked("detach");
  return make_tensor(impl.storage, impl.shape, impl.strides, impl.offset, impl.dtype);
}

Tensor make_tensor(Storage storage, Shape shape, Shape strides, int64_t offset, DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  return make_tensor(base.storage(), std::move(shape), std::move(strides), offset, base.dtype());
}

std::string describe(const Tensor& t) {
  if (!t.defined()) return "undefined tensor";
  std::ostringstream os;
  os << t.dtype() << shape_str(t.shape()) << " on " << t.device();
  return os.str();
}

namespace {

// Bytes for `shape` of `dtype`, refusing negative sizes and sizes whose product (zero sizes
// counted as 1, as numel() does) overflows.
std::size_t checked_nbytes(const char* op, const Shape& shape, DType dtype) {
  uint64_t n = itemsize(dtype);
  bool any_zero = false;
  for (int64_t s : shape) {
    VOLT_CHECK(s >= 0, op, ": negative size in shape ", shape_str(shape));
    any_zero = any_zero || s == 0;
    VOLT_CHECK(
        !__builtin_mul_overflow(n, static_cast<uint64_t>(std::max<int64_t>(s, 1)), &n) && n <= (uint64_t{1} << 62), op,
        ": shape ", shape_str(shape), " of ", dtype, " is too large to allocate");
  }
  return any_zero ? 0 : static_cast<std::size_t>(n);
}

}  // namespace

Tensor empty(const Shape& shape, TensorOptions options) {
  VOLT_CHECK(!options.requires_grad_ || is_floating(options.dtype_),
             "empty: only floating tensors can require grad, got ", options.dtype_);
  const std::size_t nbytes = checked_nbytes("empty", shape, options.dtype_);
  auto storage = std::make_shared<StorageImpl>(nbytes, allocator_for(options.device_));
  Tensor t = make_tensor(std::move(storage), shape, contiguous_strides(shape), 0, options.dtype_);
  t.impl()->requires_grad = options.requires_grad_;  // a fresh leaf
  return t;
}

Tensor from_blob(void* data, const Shape& shape, DType dtype, Device device) {
  const std::size_t nbytes = checked_nbytes("from_blob", shape, dtype);
  auto storage = std::make_shared<StorageImpl>(data, nbytes, device, nullptr);
  return make_tensor(std::move(storage), shape, contiguous_strides(shape), 0, dtype);
}

}  // namespace volt
