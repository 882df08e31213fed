// FashionMnist: the real files when installed (compared byte for byte with an independent
// zlib read, and with facts from the dataset's README: 60000/10000 samples, classes balanced
// 6000/1000 each), and small hand-made directories for the error paths, which run everywhere.
#include "volt/data/fashion_mnist.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "test_support.h"
#include "volt/core/error.h"
#include "volt/data/data_loader.h"

namespace fs = std::filesystem;
using volt::DType;
using volt::Shape;
using volt::data::FashionMnist;
using volt::data::Split;

namespace {

using Bytes = std::vector<uint8_t>;

// Every byte of a (possibly gzip'd) file, through zlib's own reader.
Bytes gz_read_all(const std::string& path) {
  Bytes out;
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return out;
  uint8_t buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0)
    out.insert(out.end(), buf, buf + n);
  gzclose(f);
  return out;
}

using volt::testing::TempDir;

void write_idx_gz(const std::string& path, const std::vector<uint32_t>& dims, const Bytes& data) {
  Bytes b = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8)
      b.push_back(static_cast<uint8_t>(d >> s));
  b.insert(b.end(), data.begin(), data.end());
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, b.data(), static_cast<unsigned>(b.size())), static_cast<int>(b.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

// A train split of n images (pixel = sample index) with the given labels.
void write_tiny_train(const TempDir& dir, uint32_t n_images, const Bytes& labels, uint32_t width = 28) {
  Bytes img(static_cast<std::size_t>(n_images) * 28 * width);
  for (std::size_t i = 0; i < img.size(); ++i)
    img[i] = static_cast<uint8_t>(i / (28 * width));
  write_idx_gz(dir.file("train-images-idx3-ubyte.gz"), {n_images, 28, width}, img);
  write_idx_gz(dir.file("train-labels-idx1-ubyte.gz"), {static_cast<uint32_t>(labels.size())}, labels);
}

using volt::testing::expect_error;

std::string installed_dir_or_empty() {
  const std::string dir = volt::data::default_fashion_mnist_dir();
  for (const char* name : {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                           "t10k-labels-idx1-ubyte.gz"})
    if (!fs::exists(fs::path(dir) / name)) return "";
  return dir;
}

}  // namespace

TEST(FashionMnist, LoadsBothSplitsExactly) {
  const std::string dir = installed_dir_or_empty();
  if (dir.empty())
    GTEST_SKIP() << "Fashion-MNIST files not in " << volt::data::default_fashion_mnist_dir()
                 << " (install dataset-fashion-mnist or set VOLT_FASHION_MNIST_DIR)";
  struct Case {
    Split split;
    const char* prefix;
    int64_t n;
  };
  for (const Case& c : {Case{Split::train, "train", 60000}, Case{Split::test, "t10k", 10000}}) {
    const FashionMnist ds(c.split, dir);
    EXPECT_EQ(ds.size(), c.n);
    EXPECT_EQ(ds.images().dtype(), DType::u8);
    EXPECT_EQ(ds.images().shape(), (Shape{c.n, 28, 28}));
    EXPECT_EQ(ds.labels().dtype(), DType::u8);
    EXPECT_EQ(ds.labels().shape(), (Shape{c.n}));

    const std::vector<uint8_t> labels = ds.labels().to_vector<uint8_t>();
    std::array<int64_t, 10> per_class{};
    for (uint8_t l : labels) {
      ASSERT_LT(l, 10);
      ++per_class[l];
    }
    for (int64_t count : per_class)
      EXPECT_EQ(count, c.n / 10);  // the dataset is balanced

    // Independent read: zlib's gzread, skipping the 8- and 16-byte headers.
    const Bytes raw_labels = gz_read_all(dir + "/" + c.prefix + "-labels-idx1-ubyte.gz");
    ASSERT_EQ(raw_labels.size(), static_cast<std::size_t>(8 + c.n));
    EXPECT_TRUE(std::equal(labels.begin(), labels.end(), raw_labels.begin() + 8));
    const Bytes raw_images = gz_read_all(dir + "/" + c.prefix + "-images-idx3-ubyte.gz");
    ASSERT_EQ(raw_images.size(), static_cast<std::size_t>(16 + c.n * 784));
    const std::vector<uint8_t> images = ds.images().to_vector<uint8_t>();
    EXPECT_TRUE(std::equal(images.begin(), images.end(), raw_images.begin() + 16));
  }
}

TEST(FashionMnist, LoaderYieldsMlpReadyBatches) {
  const std::string dir = installed_dir_or_empty();
  if (dir.empty()) GTEST_SKIP() << "Fashion-MNIST files not installed";
  volt::data::DataLoader loader(FashionMnist(Split::test, dir), {.batch_size = 64, .seed = 1});
  EXPECT_EQ(loader.size(), (10000 + 63) / 64);
  const volt::data::Batch b = *loader.begin();
  EXPECT_EQ(b.images.shape(), (Shape{64, 784}));
  EXPECT_EQ(b.images.dtype(), DType::f32);
  EXPECT_EQ(b.labels.shape(), (Shape{64}));
  EXPECT_EQ(b.labels.dtype(), DType::i64);
  for (float v : b.images.to_vector<float>()) {
    ASSERT_GE(v, 0.0f);
    ASSERT_LE(v, 1.0f);
  }
}

TEST(FashionMnist, MissingDirectoryNamesTheFileAndTheFix) {
  TempDir tmp;
  const std::string dir = tmp.file("no-such-dir");
  expect_error([&] { FashionMnist(Split::train, dir); }, {dir + "/train-images-idx3-ubyte.gz", "not found",
                                                          "no such directory", "dataset-fashion-mnist", "--data DIR"});
}

TEST(FashionMnist, MissingLabelFileIsNamed) {
  TempDir tmp;
  write_tiny_train(tmp, 3, {0, 1, 2});
  fs::remove(tmp.file("train-labels-idx1-ubyte.gz"));
  expect_error([&] { FashionMnist(Split::train, tmp.path().string()); },
               {tmp.file("train-labels-idx1-ubyte.gz"), "not found", "dataset-fashion-mnist"});
  // The test split's files are absent here too.
  expect_error([&] { FashionMnist(Split::test, tmp.path().string()); },
               {tmp.file("t10k-images-idx3-ubyte.gz"), "not found"});
}

TEST(FashionMnist, SmallValidDirectoryLoads) {
  TempDir tmp;
  write_tiny_train(tmp, 3, {9, 0, 4});
  const FashionMnist ds(Split::train, tmp.path().string());
  EXPECT_EQ(ds.size(), 3);
  EXPECT_EQ(ds.dir(), tmp.path().string());
  EXPECT_EQ(ds.labels().to_vector<uint8_t>(), (std::vector<uint8_t>{9, 0, 4}));
  const std::vector<uint8_t> px = ds.images().to_vector<uint8_t>();
  EXPECT_EQ(px[0], 0);
  EXPECT_EQ(px[784], 1);
  EXPECT_EQ(px[2 * 784 + 783], 2);
}

TEST(FashionMnist, BadContentsGiveClearErrors) {
  {
    TempDir tmp;
    write_tiny_train(tmp, 3, {0, 10, 2});
    expect_error([&] { FashionMnist(Split::train, tmp.path().string()); },
                 {tmp.file("train-labels-idx1-ubyte.gz"), "label 10 at index 1"});
  }
  {
    TempDir tmp;
    write_tiny_train(tmp, 3, {0, 1, 2}, 27);
    expect_error([&] { FashionMnist(Split::train, tmp.path().string()); },
                 {tmp.file("train-images-idx3-ubyte.gz"), "u8[3, 28, 27]", "expected u8[N, 28, 28]"});
  }
  {
    TempDir tmp;
    write_tiny_train(tmp, 3, {0, 1});
    expect_error([&] { FashionMnist(Split::train, tmp.path().string()); }, {"has 3 images", "has 2 labels"});
  }
  {
    TempDir tmp;
    write_tiny_train(tmp, 2, {0, 1});
    fs::remove(tmp.file("train-images-idx3-ubyte.gz"));
    write_idx_gz(tmp.file("train-images-idx3-ubyte.gz"), {2, 784}, Bytes(2 * 784));
    expect_error([&] { FashionMnist(Split::train, tmp.path().string()); },
                 {tmp.file("train-images-idx3-ubyte.gz"), "u8[2, 784]"});
  }
}

TEST(FashionMnist, DefaultDirHonoursTheEnvironment) {
  const char* old = std::getenv("VOLT_FASHION_MNIST_DIR");
  const std::string saved = old ? old : "";
  ::setenv("VOLT_FASHION_MNIST_DIR", "/some/where", 1);
  EXPECT_EQ(volt::data::default_fashion_mnist_dir(), "/some/where");
  ::setenv("VOLT_FASHION_MNIST_DIR", "", 1);
  EXPECT_EQ(volt::data::default_fashion_mnist_dir(), "/usr/share/datasets/fashion-mnist");
  ::unsetenv("VOLT_FASHION_MNIST_DIR");
  EXPECT_EQ(volt::data::default_fashion_mnist_dir(), "/usr/share/datasets/fashion-mnist");
  if (old) ::setenv("VOLT_FASHION_MNIST_DIR", saved.c_str(), 1);
}

TEST(FashionMnist, ClassNames) {
  const auto& names = FashionMnist::class_names();
  ASSERT_EQ(names.size(), 10u);
  EXPECT_EQ(names[0], "T-shirt/top");
  EXPECT_EQ(names[5], "Sandal");
  EXPECT_EQ(FashionMnist::class_name(9), "Ankle boot");
  expect_error([] { FashionMnist::class_name(10); }, {"label 10"});
  expect_error([] { FashionMnist::class_name(-1); }, {"label -1"});
}
