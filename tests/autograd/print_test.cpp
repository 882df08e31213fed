// operator<< against the strings PyTorch prints for the same tensors (torch/_tensor_str.py:
// precision 4, threshold 1000, edgeitems 3, linewidth 80). Expected strings are written out by
// hand from those rules; volt names dtypes "f64" where PyTorch says "torch.float64".
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "volt/autograd/ops.h"
#include "volt/core/tensor.h"

namespace volt {
namespace {

std::string str(const Tensor& t) {
  std::ostringstream os;
  os << t;
  return os.str();
}

TEST(Print, FloatVectors) {
  EXPECT_EQ(str(tensor({1.0, 2.5})), "tensor([1.0000, 2.5000])");
  EXPECT_EQ(str(tensor({1.0, 2.0})), "tensor([1., 2.])");  // all integral: "1."
  EXPECT_EQ(str(tensor({-1.0, 2.0})), "tensor([-1.,  2.])");
  EXPECT_EQ(str(tensor({1.0, -10.5})), "tensor([  1.0000, -10.5000])");  // right-aligned to the widest
  EXPECT_EQ(str(tensor({100.0, 2000.0})), "tensor([ 100., 2000.])");
  EXPECT_EQ(str(zeros({3})), "tensor([0., 0., 0.])");
  EXPECT_EQ(str(tensor({0.0, 0.125})), "tensor([0.0000, 0.1250])");
}

TEST(Print, ScientificNotation) {
  // Used when the non-zero magnitudes span more than 1000x, exceed 1e8, or (non-integral) go
  // below 1e-4.
  EXPECT_EQ(str(tensor({1e-5, 1.0})), "tensor([1.0000e-05, 1.0000e+00])");
  EXPECT_EQ(str(tensor({1.0, 2000.0})), "tensor([1.0000e+00, 2.0000e+03])");
  EXPECT_EQ(str(tensor({1e9, 2e9})), "tensor([1.0000e+09, 2.0000e+09])");
  EXPECT_EQ(str(tensor({0.0, 1e-5, -3.5})), "tensor([ 0.0000e+00,  1.0000e-05, -3.5000e+00])");
  EXPECT_EQ(str(tensor({0.5, 400.25})), "tensor([  0.5000, 400.2500])");  // 800x: still fixed
}

TEST(Print, NonFiniteValues) {
  // Widths come from the finite non-zero values; nan/inf are padded to them.
  EXPECT_EQ(str(tensor({1.0, NAN, INFINITY})), "tensor([1., nan, inf])");
  EXPECT_EQ(str(tensor({1.5, NAN})), "tensor([1.5000,    nan])");
  EXPECT_EQ(str(tensor({NAN, -INFINITY})), "tensor([nan, -inf])");
  EXPECT_EQ(str(tensor({-INFINITY, 1e-5})), "tensor([      -inf, 1.0000e-05])");
}

TEST(Print, Matrices) {
  EXPECT_EQ(str(tensor({1.0, 2.0, 3.0, 4.0}).view({2, 2})), "tensor([[1., 2.],\n        [3., 4.]])");
  EXPECT_EQ(str(tensor({1.0, 2.5, -3.0, 4.0}).view({2, 2})),
            "tensor([[ 1.0000,  2.5000],\n        [-3.0000,  4.0000]])");
  // Logical order, not memory order.
  EXPECT_EQ(str(arange(4).view({2, 2}).t()), "tensor([[0., 2.],\n        [1., 3.]])");
  // Blocks of a 3-D tensor are separated by a blank line.
  EXPECT_EQ(str(arange(8).view({2, 2, 2})),
            "tensor([[[0., 1.],\n"
            "         [2., 3.]],\n"
            "\n"
            "        [[4., 5.],\n"
            "         [6., 7.]]])");
  EXPECT_EQ(str(arange(3).view({3, 1})), "tensor([[0.],\n        [1.],\n        [2.]])");
}

TEST(Print, ScalarsAndEmpty) {
  EXPECT_EQ(str(scalar_tensor(3.5)), "tensor(3.5000)");
  EXPECT_EQ(str(scalar_tensor(2)), "tensor(2.)");
  EXPECT_EQ(str(scalar_tensor(-7, DType::i64)), "tensor(-7)");
  EXPECT_EQ(str(scalar_tensor(1e-6, DType::f64)), "tensor(1.0000e-06, dtype=f64)");
  EXPECT_EQ(str(zeros({0})), "tensor([])");
  EXPECT_EQ(str(zeros({2, 0})), "tensor([], size=(2, 0))");
  // An empty tensor shows every dtype but the default float one: no element says "integer".
  EXPECT_EQ(str(zeros({0}, DType::i64)), "tensor([], dtype=i64)");
  EXPECT_EQ(str(zeros({0, 3}, DType::f64)), "tensor([], size=(0, 3), dtype=f64)");
  EXPECT_EQ(str(Tensor()), "tensor(undefined)");
}

TEST(Print, IntegerAndBoolTensors) {
  EXPECT_EQ(str(tensor(std::vector<int64_t>{1, -2, 30})), "tensor([ 1, -2, 30])");
  EXPECT_EQ(str(tensor(std::vector<int32_t>{1, 2})), "tensor([1, 2], dtype=i32)");
  EXPECT_EQ(str(tensor(std::vector<uint8_t>{0, 255})), "tensor([  0, 255], dtype=u8)");
  EXPECT_EQ(str(tensor(std::vector<bool>{true, false})), "tensor([ True, False])");
  // i64 values print exactly, even past 2^53 where a double cannot hold them.
  EXPECT_EQ(str(tensor(std::vector<int64_t>{9007199254740993, 1})), "tensor([9007199254740993,                1])");
}

TEST(Print, DTypeSuffixes) {
  EXPECT_EQ(str(tensor({1.0, 2.0}, DType::f64)), "tensor([1., 2.], dtype=f64)");
  EXPECT_EQ(str(tensor({0.5, 1.5}, DType::f16)), "tensor([0.5000, 1.5000], dtype=f16)");
  EXPECT_EQ(str(tensor({0.5, 1.5}, DType::bf16)), "tensor([0.5000, 1.5000], dtype=bf16)");
}

TEST(Print, AutogradSuffixes) {
  Tensor x = tensor({1.0, 2.0}).requires_grad_();
  EXPECT_EQ(str(x), "tensor([1., 2.], requires_grad=True)");
  EXPECT_EQ(str(x * 2.0), "tensor([2., 4.], grad_fn=<MulBackward>)");
  EXPECT_EQ(str((x + x).sum()), "tensor(6., grad_fn=<SumBackward>)");
  EXPECT_EQ(str(x.detach()), "tensor([1., 2.])");
  Tensor d = tensor({1.0, 2.0}, DType::f64).requires_grad_();
  EXPECT_EQ(str(d), "tensor([1., 2.], dtype=f64, requires_grad=True)");
}

TEST(Print, LongRowsWrapAtEightyColumns) {
  // (80 - 7) / (6 + 2) = 9 values of width 6 per line, continuation lines indented by 8.
  EXPECT_EQ(str(full({10}, 0.5)),
            "tensor([0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000,\n"
            "        0.5000])");
  // A suffix that would pass column 80 goes on its own line, indented by 7.
  EXPECT_EQ(str(full({9}, 0.5, TensorOptions().requires_grad())),
            "tensor([0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000],\n"
            "       requires_grad=True)");
  // Rows of a matrix wrap with one more space of indent.
  EXPECT_EQ(str(full({2, 10}, 0.5).select(0, 0).unsqueeze(0)),
            "tensor([[0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000,\n"
            "         0.5000]])");
}

TEST(Print, LargeTensorsAreSummarised) {
  // Over 1000 elements: three items each side of "...", formatted from those items only.
  EXPECT_EQ(str(arange(2000)),
            "tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03,\n"
            "        1.9990e+03])");
  EXPECT_EQ(str(arange(0, 2000, 1, DType::i64)), "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])");
  Tensor x = full({1001}, 0.5);
  x.narrow(0, 500, 1).fill_(12345.5);  // hidden by the summary, so it does not widen the columns
  EXPECT_EQ(str(x), "tensor([0.5000, 0.5000, 0.5000,  ..., 0.5000, 0.5000, 0.5000])");
  EXPECT_EQ(str(arange(0, 1010, 1, DType::i64).view({101, 10})),
            "tensor([[   0,    1,    2,  ...,    7,    8,    9],\n"
            "        [  10,   11,   12,  ...,   17,   18,   19],\n"
            "        [  20,   21,   22,  ...,   27,   28,   29],\n"
            "        ...,\n"
            "        [ 980,  981,  982,  ...,  987,  988,  989],\n"
            "        [ 990,  991,  992,  ...,  997,  998,  999],\n"
            "        [1000, 1001, 1002,  ..., 1007, 1008, 1009]])");
  // Exactly 1000 elements are printed in full.
  EXPECT_EQ(str(zeros({1000})).find("..."), std::string::npos);
}

TEST(Print, SummarisedThreeDims) {
  // [7, 2, 100]: 1400 elements. Blocks 0-2 and 4-6 around a "..." block line.
  const std::string s = str(arange(0, 1400, 1, DType::i64).view({7, 2, 100}));
  const std::string first_block =
      "tensor([[[   0,    1,    2,  ...,   97,   98,   99],\n"
      "         [ 100,  101,  102,  ...,  197,  198,  199]],\n"
      "\n"
      "        [[ 200,";
  EXPECT_EQ(s.substr(0, first_block.size()), first_block);
  EXPECT_NE(s.find(",  ...,  597,  598,  599]],\n\n        ...,\n\n        [[ 800,"), std::string::npos) << s;
  EXPECT_EQ(s.substr(s.size() - 14), "1398, 1399]]])");
}

}  // namespace
}  // namespace volt
