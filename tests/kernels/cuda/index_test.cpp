// The CUDA indexing kernels against their CPU twins: gather of every element size, per element
// and by rows (index_select); scatter_add with colliding indices, bitwise the same run to run
// and equal to the CPU's in-order sums in f64; what an index out of range gives on the device.
#include "volt/kernels/index.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "cuda_test_support.h"

namespace volt {
namespace {

using testing::all_close;
using testing::same_bytes;

const Device kGpu = Device::cuda(0);

Tensor indices(int64_t count, int64_t below, uint64_t seed) {
  Generator gen(seed);
  return mul(rand({count}, DType::f64, &gen), static_cast<double>(below)).to(DType::i64);
}

TEST(CudaIndex, GatherMatchesTheCpuForEveryElementSize) {
  VOLT_REQUIRE_CUDA();
  for (DType dtype : {DType::f64, DType::f32, DType::f16, DType::bf16, DType::i64, DType::i32, DType::u8}) {
    const Tensor x = mul(randn({5, 301, 7}, DType::f64), 10.0).to(dtype);
    const Tensor index = indices(5 * 40 * 7, 301, 1).reshape({5, 40, 7});
    const Tensor cpu = gather(x, 1, index);
    EXPECT_TRUE(same_bytes(gather(x.to(kGpu), 1, index.to(kGpu)), cpu)) << dtype_name(dtype);
    const Tensor rows = indices(1000, 301, 2);
    EXPECT_TRUE(same_bytes(index_select(x.to(kGpu), 1, rows.to(kGpu)), index_select(x, 1, rows))) << dtype_name(dtype);
  }
}

TEST(CudaIndex, ScatterAddIsTheCpuSumAndReproducible) {
  VOLT_REQUIRE_CUDA();
  for (DType dtype : {DType::f64, DType::f32, DType::f16}) {
    const Tensor self = randn({3, 50, 64}, DType::f64).to(dtype);
    const Tensor src = randn({3, 2000, 64}, DType::f64).to(dtype);
    const Tensor index = indices(3 * 2000 * 64, 50, 3).reshape({3, 2000, 64});
    const Tensor gpu = scatter_add(self.to(kGpu), 1, index.to(kGpu), src.to(kGpu));
    EXPECT_TRUE(same_bytes(gpu, scatter_add(self.to(kGpu), 1, index.to(kGpu), src.to(kGpu)))) << dtype_name(dtype);
    const Tensor cpu = scatter_add(self, 1, index, src);
    // Both add in index order per column: f64 and f32 agree to the bit, half after one rounding.
    if (dtype == DType::f16) {
      EXPECT_TRUE(all_close(gpu, cpu, 1e-3));
    } else {
      EXPECT_TRUE(same_bytes(gpu, cpu)) << dtype_name(dtype);
    }
    const Tensor rows = indices(4000, 50, 4);
    const Tensor source = randn({3, 4000, 64}, DType::f64).to(dtype);
    const Tensor by_rows = index_add(self.to(kGpu), 1, rows.to(kGpu), source.to(kGpu), 0.5);
    EXPECT_TRUE(all_close(by_rows, index_add(self, 1, rows, source, 0.5), dtype == DType::f16 ? 1e-3 : 1e-12));
  }
}

TEST(CudaIndex, AnIndexOutOfRangeGivesNanOrIsSkipped) {
  VOLT_REQUIRE_CUDA();
  // The CPU refuses these; the device, which cannot report without synchronising, marks them.
  const Tensor x = tensor({1.0, 2.0, 3.0}).to(kGpu);
  const Tensor bad = tensor(std::vector<int64_t>{0, 7, -1, 2}).to(kGpu);
  const std::vector<double> got = gather(x, 0, bad).to_vector<double>();
  EXPECT_EQ(got[0], 1.0);
  EXPECT_TRUE(std::isnan(got[1]));
  EXPECT_TRUE(std::isnan(got[2]));
  EXPECT_EQ(got[3], 3.0);
  const Tensor added = scatter_add(zeros({3}, TensorOptions(DType::f64).device(kGpu)), 0, bad,
                                   ones({4}, TensorOptions(DType::f64).device(kGpu)));
  EXPECT_EQ(added.to_vector<double>(), (std::vector<double>{1.0, 0.0, 1.0}));
}

}  // namespace
}  // namespace volt
