// DeviceBatches gives the DataLoader's batches bit for bit (shuffled, a last smaller batch,
// flattened or not, under a sampler), and a fit with data_on_device ends with the bits of one
// without (on the CPU here; the GPU's run is scripts/gpu-check's).
#include "volt/train/device_batches.h"

#include <gtest/gtest.h>

#include "test_support.h"
#include "tiny_net.h"

namespace volt::train {
namespace {

std::vector<uint8_t> bytes_of(const Tensor& t) {
  const Tensor c = t.to(Device::cpu()).contiguous();
  const auto* p = static_cast<const uint8_t*>(c.data_ptr());
  return {p, p + c.numel() * static_cast<int64_t>(itemsize(c.dtype()))};
}

void expect_same_batches(data::DataLoader& loader, DeviceBatches& on_device) {
  for (uint64_t epoch : {0u, 3u}) {
    loader.set_epoch(epoch);
    on_device.start_epoch(loader);
    int64_t b = 0;
    for (const data::Batch& want : loader) {
      const data::Batch got = on_device.batch(b);
      EXPECT_EQ(got.images.shape(), want.images.shape()) << "batch " << b;
      EXPECT_EQ(got.images.dtype(), DType::f32);
      EXPECT_EQ(got.labels.dtype(), DType::i64);
      EXPECT_EQ(bytes_of(got.images), bytes_of(want.images)) << "epoch " << epoch << " batch " << b;
      EXPECT_EQ(bytes_of(got.labels), bytes_of(want.labels)) << "epoch " << epoch << " batch " << b;
      ++b;
    }
    EXPECT_EQ(b, loader.size());
  }
}

// Every u8 value, so that the conversion is checked for all 256 (a multiply by 1/255 would
// differ from the division in the last bit for 126 of them).
data::TensorDataset every_byte() {
  std::vector<uint8_t> images(256 * 3);
  std::vector<int64_t> labels(256);
  for (int i = 0; i < 256; ++i) {
    for (int j = 0; j < 3; ++j)
      images[static_cast<std::size_t>(i * 3 + j)] = static_cast<uint8_t>((i + 85 * j) % 256);
    labels[static_cast<std::size_t>(i)] = i % 7;
  }
  return data::TensorDataset(tensor(images, {256, 3, 1}, DType::u8), tensor(labels, {256}, DType::i64));
}

TEST(DeviceBatches, AreTheLoadersBatchesBitForBit) {
  data::DataLoader shuffled(every_byte(), {.batch_size = 30, .seed = 9});  // 8 of 30, one of 16
  DeviceBatches a(shuffled, Device::cpu());
  expect_same_batches(shuffled, a);
  data::DataLoader shaped(every_byte(), {.batch_size = 64, .shuffle = false, .flatten = false});
  DeviceBatches b(shaped, Device::cpu());
  expect_same_batches(shaped, b);
  data::DataLoader dropped(every_byte(), {.batch_size = 100, .seed = 2, .drop_last = true});
  DeviceBatches c(dropped, Device::cpu());
  expect_same_batches(dropped, c);
}

TEST(DeviceBatches, MisuseIsAClearError) {
  data::DataLoader loader(every_byte(), {.batch_size = 64});
  DeviceBatches on(loader, Device::cpu());
  EXPECT_NE(volt::testing::error_of([&] { on.batch(0); }).find("before start_epoch"), std::string::npos);
  on.start_epoch(loader);
  EXPECT_NE(volt::testing::error_of([&] { on.batch(4); }).find("out of range"), std::string::npos);
  data::DataLoader other(every_byte(), {.batch_size = 32});
  EXPECT_NE(volt::testing::error_of([&] { on.start_epoch(other); }).find("another loader"), std::string::npos);
}

TEST(DeviceBatches, AFitWithDataOnDeviceEndsWithTheSameBits) {
  auto run = [](bool on_device) {
    testing::TinyNet net(0.5, 4, 16);
    TrainerOptions o = testing::quiet_options();
    o.max_epochs = 2;
    o.data_on_device = on_device;
    Trainer trainer(o);
    trainer.fit(net, testing::tiny_loader(37, 8, true, 6));  // shuffled, a last batch of 5
    EXPECT_EQ(trainer.global_step(), 10);
    return testing::weight_bytes(net);
  };
  EXPECT_EQ(run(true), run(false));
}

}  // namespace
}  // namespace volt::train
