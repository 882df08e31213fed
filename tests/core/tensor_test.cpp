// Tensor creation, metadata, element access and dtype conversion.
#include "volt/core/tensor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <regex>

#include "test_support.h"
#include "volt/autograd/grad_mode.h"
#include "volt/autograd/ops.h"
#include "volt/core/device_backend.h"

namespace volt {
namespace {

using testing::error_of;
using ::testing::HasSubstr;

const DType kAllDTypes[] = {DType::f32, DType::f64, DType::f16, DType::bf16,
                            DType::i32, DType::i64, DType::u8,  DType::boolean};

TEST(Tensor, EmptyHasContiguousGeometry) {
  Tensor t = empty({2, 3, 4});
  EXPECT_EQ(t.shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(t.strides(), (Shape{12, 4, 1}));
  EXPECT_EQ(t.dim(), 3);
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.size(-1), 4);
  EXPECT_EQ(t.stride(0), 12);
  EXPECT_EQ(t.storage_offset(), 0);
  EXPECT_EQ(t.dtype(), DType::f32);
  EXPECT_TRUE(t.device().is_cpu());
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.nbytes(), 24u * 4u);
  EXPECT_FALSE(t.requires_grad());
  EXPECT_TRUE(t.is_leaf());
  EXPECT_EQ(describe(empty({2, 3})), "f32[2, 3] on cpu");
}

TEST(Tensor, ItemSizes) {
  const std::size_t want[] = {4, 8, 2, 2, 4, 8, 1, 1};
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(itemsize(kAllDTypes[i]), want[i]);
    EXPECT_EQ(empty({3}, kAllDTypes[i]).nbytes(), 3 * want[i]);
  }
}

TEST(Tensor, ZerosOnesFullInEveryDType) {
  for (DType t : kAllDTypes) {
    for (int64_t n : {0, 1, 7, 1023}) {
      Tensor z = zeros({n}, t), o = ones({n}, t), f = full({n}, 5.0, t);
      EXPECT_EQ(z.dtype(), t);
      EXPECT_EQ(z.to_vector<double>(), std::vector<double>(n, 0.0)) << t;
      EXPECT_EQ(o.to_vector<double>(), std::vector<double>(n, 1.0)) << t;
      EXPECT_EQ(f.to_vector<double>(), std::vector<double>(n, t == DType::boolean ? 1.0 : 5.0)) << t;
    }
  }
  Tensor like = full_like(zeros({2, 2}, DType::f64), 2.5);
  EXPECT_EQ(like.dtype(), DType::f64);
  EXPECT_EQ(like.to_vector<double>(), std::vector<double>(4, 2.5));
  EXPECT_EQ(ones_like(like).to_vector<double>(), std::vector<double>(4, 1.0));
  EXPECT_EQ(zeros_like(like).shape(), (Shape{2, 2}));
}

TEST(Tensor, Arange) {
  EXPECT_EQ(arange(5).to_vector<float>(), (std::vector<float>{0, 1, 2, 3, 4}));
  EXPECT_EQ(arange(1.0, 2.0, 0.25).to_vector<float>(), (std::vector<float>{1.0f, 1.25f, 1.5f, 1.75f}));
  EXPECT_EQ(arange(3.0, -1.0, -1.5).to_vector<float>(), (std::vector<float>{3.0f, 1.5f, 0.0f}));
  EXPECT_EQ(arange(0).numel(), 0);
  EXPECT_EQ(arange(0).shape(), (Shape{0}));
  Tensor i = arange(0, 4, 1, DType::i64);
  EXPECT_EQ(i.dtype(), DType::i64);
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3}));
  // A one-element range is still 1-D, as torch.arange(1).
  EXPECT_EQ(arange(1).shape(), (Shape{1}));
  EXPECT_EQ(arange(2.0, 3.0, 5.0).shape(), (Shape{1}));
  EXPECT_THAT(error_of([] { arange(0, 1, 0); }), HasSubstr("step must be non-zero"));
  EXPECT_THAT(error_of([] { arange(0, 5, -1); }), HasSubstr("inconsistent signs"));
}

TEST(Tensor, FromVector) {
  Tensor t = tensor(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.dtype(), DType::f32);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(tensor(std::vector<int64_t>{4, 5}).dtype(), DType::i64);
  EXPECT_EQ(tensor(std::vector<int32_t>{4, 5}).dtype(), DType::i32);
  EXPECT_EQ(tensor(std::vector<uint8_t>{4, 5}).dtype(), DType::u8);
  EXPECT_EQ(tensor(std::vector<double>{4, 5}).dtype(), DType::f64);
  Tensor b = tensor(std::vector<bool>{true, false, true});
  EXPECT_EQ(b.dtype(), DType::boolean);
  EXPECT_EQ(b.to_vector<bool>(), (std::vector<bool>{true, false, true}));
  // An explicit non-default dtype converts.
  Tensor h = tensor(std::vector<float>{0.5f, 1.5f}, {}, DType::f16);
  EXPECT_EQ(h.dtype(), DType::f16);
  EXPECT_EQ(h.to_vector<float>(), (std::vector<float>{0.5f, 1.5f}));
  // initializer lists are f32 unless told otherwise.
  EXPECT_EQ(tensor({1.0, 2.0}).dtype(), DType::f32);
  EXPECT_EQ(tensor({1.0, 2.0}, DType::i32).to_vector<int32_t>(), (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(tensor(std::vector<float>{}).shape(), (Shape{0}));
  EXPECT_THAT(error_of([] { tensor(std::vector<float>{1, 2, 3}, {2, 2}); }), HasSubstr("do not fill shape [2, 2]"));
}

TEST(Tensor, FromBlobBorrowsMemory) {
  float data[6] = {1, 2, 3, 4, 5, 6};
  Tensor t = from_blob(data, {2, 3}, DType::f32);
  EXPECT_EQ(t.data_ptr(), static_cast<void*>(data));
  EXPECT_EQ(t.strides(), (Shape{3, 1}));
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  data[4] = 50;  // the tensor sees writes to the buffer...
  EXPECT_EQ(t.select(0, 1).select(0, 1).item<float>(), 50.0f);
  t.mul_(2.0);  // ...and the buffer sees writes through the tensor
  EXPECT_EQ(data[0], 2.0f);
  EXPECT_EQ(data[4], 100.0f);
  t.select(1, 2).fill_(-1);
  EXPECT_EQ(data[2], -1.0f);
  EXPECT_EQ(data[5], -1.0f);
}

TEST(Tensor, ItemAndScalars) {
  Tensor s = scalar_tensor(2.5);
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.numel(), 1);
  EXPECT_TRUE(s.shape().empty());
  EXPECT_TRUE(s.strides().empty());
  EXPECT_TRUE(s.is_contiguous());
  EXPECT_EQ(s.item<float>(), 2.5f);
  EXPECT_EQ(s.item<double>(), 2.5);
  EXPECT_EQ(s.item<int64_t>(), 2);
  EXPECT_EQ(ones({1, 1}).item<float>(), 1.0f);
  EXPECT_EQ(scalar_tensor(7, DType::i64).item<int64_t>(), 7);
  EXPECT_EQ(scalar_tensor(1, DType::boolean).item<bool>(), true);
  EXPECT_THAT(error_of([] { zeros({2, 3}).item<float>(); }), HasSubstr("f32[2, 3]"));
  EXPECT_THAT(error_of([] { zeros({0}).item<float>(); }), HasSubstr("one element"));
}

TEST(Tensor, ZeroSizedTensors) {
  Tensor a = empty({0});
  EXPECT_EQ(a.numel(), 0);
  EXPECT_EQ(a.nbytes(), 0u);
  EXPECT_TRUE(a.to_vector<float>().empty());
  Tensor b = zeros({2, 0, 3});
  EXPECT_EQ(b.numel(), 0);
  EXPECT_EQ(b.dim(), 3);
  EXPECT_EQ(b.shape(), (Shape{2, 0, 3}));
  // A tensor with no elements is contiguous whatever its strides, as in PyTorch.
  EXPECT_TRUE(b.is_contiguous());
  EXPECT_TRUE(zeros({3, 0}).is_contiguous());
  EXPECT_TRUE(b.contiguous().is_same(b));
  EXPECT_EQ(b.sum().item<float>(), 0.0f);
  EXPECT_THAT(error_of([] { empty({2, -1}); }), HasSubstr("negative size"));
}

TEST(Tensor, ToEveryDTypeAndBack) {
  // Values every dtype holds exactly (bool keeps only zero / non-zero).
  const std::vector<double> values = {0, 1, 2, 3, 100, 7};
  Tensor src = tensor(values);
  for (DType a : kAllDTypes) {
    Tensor x = src.to(a);
    EXPECT_EQ(x.dtype(), a);
    EXPECT_EQ(x.shape(), (Shape{6}));
    for (DType b : kAllDTypes) {
      const auto got = x.to(b).to_vector<double>();
      for (std::size_t i = 0; i < values.size(); ++i) {
        const double want = (a == DType::boolean || b == DType::boolean) ? (values[i] != 0) : values[i];
        EXPECT_EQ(got[i], want) << a << " -> " << b << " element " << i;
      }
    }
  }
  EXPECT_TRUE(src.to(DType::f64).is_same(src));  // already that dtype: itself
}

TEST(Tensor, FloatToIntegerTruncatesTowardZero) {
  Tensor x = tensor({2.7, -2.7, 0.5, -0.5, 3.0});
  EXPECT_EQ(x.to(DType::i64).to_vector<int64_t>(), (std::vector<int64_t>{2, -2, 0, 0, 3}));
  EXPECT_EQ(x.to(DType::i32).to_vector<int32_t>(), (std::vector<int32_t>{2, -2, 0, 0, 3}));
  EXPECT_EQ(x.to(DType::boolean).to_vector<bool>(), (std::vector<bool>{true, true, true, true, true}));
  EXPECT_EQ(tensor({0.0, -0.0, 1e-30}).to(DType::boolean).to_vector<bool>(), (std::vector<bool>{false, false, true}));
}

TEST(Tensor, HalfRounding) {
  const double third = 1.0 / 3.0;
  Tensor x = tensor(std::vector<double>{third});
  const double h = x.to(DType::f16).to(DType::f64).item<double>();
  const double b = x.to(DType::bf16).to(DType::f64).item<double>();
  EXPECT_NE(h, third);
  EXPECT_LT(std::abs(h - third), 1e-3);
  EXPECT_LT(std::abs(b - third), 2e-3);
  // 1/3 = 1.0101...b x 2^-2: f16 keeps 10 fraction bits (rounds down), bf16 7 (rounds up).
  EXPECT_EQ(h, 1365.0 / 4096.0);
  EXPECT_EQ(b, 171.0 / 512.0);
  // Round half to even: 2049 and 257 sit halfway between representable neighbours.
  EXPECT_EQ(tensor({2049.0, 2051.0, 65504.0}).to(DType::f16).to_vector<double>(),
            (std::vector<double>{2048.0, 2052.0, 65504.0}));
  EXPECT_EQ(tensor({257.0, 259.0}).to(DType::bf16).to_vector<double>(), (std::vector<double>{256.0, 260.0}));
  // f16 overflows to inf beyond its range; bf16 has f32's range.
  EXPECT_TRUE(std::isinf(tensor({1e5}).to(DType::f16).item<double>()));
  EXPECT_NEAR(tensor({1e30}).to(DType::bf16).item<double>(), 1e30, 1e28);
}

TEST(Tensor, ToKeepsAutogradForFloatTargets) {
  Tensor x = tensor({1.0, 2.0}).requires_grad_();
  Tensor y = x.to(DType::f64);
  EXPECT_TRUE(y.requires_grad());
  y.sum().backward();
  EXPECT_EQ(x.grad().dtype(), DType::f32);
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{1, 1}));
  EXPECT_FALSE(x.to(DType::i64).requires_grad());
}

TEST(Tensor, CloneAndDetach) {
  Tensor x = tensor({1.0, 2.0, 3.0});
  Tensor c = x.clone();
  EXPECT_NE(c.data_ptr(), x.data_ptr());
  c.fill_(0);
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{1, 2, 3}));
  Tensor d = x.detach();
  EXPECT_EQ(d.data_ptr(), x.data_ptr());
  d.fill_(9);
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{9, 9, 9}));
  // A clone of a non-contiguous tensor is contiguous and holds the same values.
  Tensor m = arange(6).view({2, 3}).t();
  Tensor mc = m.clone();
  EXPECT_TRUE(mc.is_contiguous());
  EXPECT_EQ(mc.to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
}

TEST(Tensor, RequiresGrad) {
  Tensor x = zeros({2}, TensorOptions().requires_grad());
  EXPECT_TRUE(x.requires_grad());
  EXPECT_TRUE(x.is_leaf());
  Tensor y = x * 2.0;
  EXPECT_TRUE(y.requires_grad());
  EXPECT_FALSE(y.is_leaf());
  EXPECT_THAT(error_of([&] { y.requires_grad_(false); }), HasSubstr("only leaf tensors"));
  {
    NoGradGuard guard;
    EXPECT_FALSE((x * 2.0).requires_grad());
  }
  EXPECT_THAT(error_of([] { zeros({2}, DType::i64).requires_grad_(); }), HasSubstr("i64[2]"));
  EXPECT_THAT(error_of([] { zeros({2}, DType::boolean).requires_grad_(); }), HasSubstr("only floating"));
  EXPECT_THROW(zeros({2}, TensorOptions(DType::i32).requires_grad()), Error);
}

TEST(Tensor, CudaUnavailableIsAClearError) {
  if (cuda::is_available()) GTEST_SKIP() << "a CUDA device is present; the cuda tests cover CUDA tensors";
  // With the CUDA backend linked in, the driver says why; without it, the message says so.
  const char* why = find_device_backend(DeviceType::cuda) ? "no CUDA device" : "no CUDA backend";
  EXPECT_THAT(error_of([] { empty({2}, Device::cuda()); }), HasSubstr(why));
  EXPECT_THAT(error_of([] { zeros({2}, Device::cuda(1)); }), HasSubstr("cuda:1"));
  EXPECT_THAT(error_of([] { zeros({2, 3}).to(Device::cuda()); }), HasSubstr("f32[2, 3]"));
  EXPECT_TRUE(zeros({2}).to(Device::cpu()).device().is_cpu());
  EXPECT_EQ(Device::parse("cuda:3"), Device::cuda(3));
  EXPECT_EQ(Device::parse("cpu"), Device::cpu());
  EXPECT_THROW(Device::parse("tpu"), Error);
  EXPECT_THROW(Device::parse("cuda:x"), Error);
}

// Every accessor of an undefined tensor is a volt::Error naming the accessor, never a crash.
TEST(Tensor, UndefinedTensorAccessorsThrow) {
  const Tensor u;
  EXPECT_FALSE(u.defined());
  const std::vector<std::pair<std::string, std::function<void()>>> calls = {
      {"shape", [&] { (void)u.shape(); }},
      {"shape", [&] { (void)u.sizes(); }},
      {"strides", [&] { (void)u.strides(); }},
      {"size", [&] { (void)u.size(0); }},
      {"stride", [&] { (void)u.stride(0); }},
      {"dim", [&] { (void)u.dim(); }},
      {"numel", [&] { (void)u.numel(); }},
      {"storage_offset", [&] { (void)u.storage_offset(); }},
      {"dtype", [&] { (void)u.dtype(); }},
      {"device", [&] { (void)u.device(); }},
      {"is_contiguous", [&] { (void)u.is_contiguous(); }},
      {"numel", [&] { (void)u.nbytes(); }},
      {"storage", [&] { (void)u.storage(); }},
      {"data_ptr", [&] { (void)u.data_ptr(); }},
      {"dtype", [&] { (void)u.data_ptr<float>(); }},
      {"version", [&] { (void)u.version(); }},
      {"bump_version", [&] { u.bump_version(); }},
      {"detach", [&] { (void)u.detach(); }},
      {"requires_grad", [&] { (void)u.requires_grad(); }},
      {"is_leaf", [&] { (void)u.is_leaf(); }},
      {"grad", [&] { (void)u.grad(); }},
      {"grad_fn", [&] { (void)u.grad_fn(); }},
      {"undefined", [&] { (void)u.to_vector<float>(); }},
      {"item", [&] { (void)u.item<float>(); }},
      {"contiguous", [&] { (void)u.contiguous(); }},
      {"view", [&] { (void)u.view({1}); }},
      {"relu", [&] { (void)u.relu(); }},
      {"backward", [&] { u.backward(); }},
  };
  for (const auto& [name, call] : calls)
    EXPECT_THAT(error_of(call), HasSubstr(name)) << name;
  EXPECT_THAT(error_of([&] { (void)u.dim(); }), HasSubstr("undefined"));
  EXPECT_EQ(describe(u), "undefined tensor");
}

// Locations in messages are repo-relative (core/shape.cpp:58), never a build machine's path.
TEST(Tensor, ErrorLocationsAreRepoRelative) {
  const std::regex location(R"(\((core|kernels|autograd|nn|data)/[a-z_/]+\.(h|cpp):[0-9]+\)$)");
  EXPECT_TRUE(std::regex_search(error_of([] { add(zeros({2}), zeros({3})); }), location));
  EXPECT_TRUE(std::regex_search(error_of([] { zeros({2}).data_ptr<double>(); }), location));  // a header's check
  EXPECT_TRUE(std::regex_search(error_of([] { Tensor().dim(); }), location));
}

TEST(Tensor, DataPtrChecksDType) {
  Tensor x = zeros({2});
  EXPECT_NE(x.data_ptr<float>(), nullptr);
  EXPECT_THAT(error_of([&] { x.data_ptr<double>(); }), HasSubstr("tensor is f32, asked for f64"));
}

}  // namespace
}  // namespace volt
