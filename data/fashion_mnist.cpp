#include "volt/data/fashion_mnist.h"

#include <cstdlib>
#include <filesystem>

#include "volt/core/error.h"
#include "volt/data/idx.h"

namespace volt::data {
namespace {

// <dir>/<stem>.gz, or <dir>/<stem> when only the uncompressed file is there.
std::string find_file(const std::string& dir, const std::string& stem) {
  namespace fs = std::filesystem;
  const fs::path gz = fs::path(dir) / (stem + ".gz");
  std::error_code ec;
  if (fs::exists(gz, ec)) return gz.string();
  const fs::path raw = fs::path(dir) / stem;
  if (fs::exists(raw, ec)) return raw.string();
  VOLT_FAIL("Fashion-MNIST: '", gz.string(), "' not found", fs::is_directory(dir, ec) ? "" : " (no such directory)",
            "; install the Debian package dataset-fashion-mnist (scripts/bootstrap does) or pass --data DIR");
}

TensorDataset load(Split split, const std::string& dir) {
  const std::string prefix = split == Split::train ? "train" : "t10k";
  const std::string image_path = find_file(dir, prefix + "-images-idx3-ubyte");
  const std::string label_path = find_file(dir, prefix + "-labels-idx1-ubyte");
  Tensor images = read_idx(image_path);
  Tensor labels = read_idx(label_path);

  constexpr int64_t s = FashionMnist::kImageSize;
  VOLT_CHECK(images.dtype() == DType::u8 && images.dim() == 3 && images.size(1) == s && images.size(2) == s,
             "Fashion-MNIST: '", image_path, "' holds ", describe(images), ", expected u8[N, 28, 28]");
  VOLT_CHECK(labels.dtype() == DType::u8 && labels.dim() == 1, "Fashion-MNIST: '", label_path, "' holds ",
             describe(labels), ", expected u8[N]");
  VOLT_CHECK(images.size(0) == labels.size(0), "Fashion-MNIST: '", image_path, "' has ", images.size(0),
             " images but '", label_path, "' has ", labels.size(0), " labels");
  const auto* l = static_cast<const uint8_t*>(labels.data_ptr());
  for (int64_t i = 0; i < labels.size(0); ++i)
    VOLT_CHECK(l[i] < FashionMnist::kNumClasses, "Fashion-MNIST: '", label_path, "': label ", int{l[i]}, " at index ",
               i, " is not a class in [0, ", FashionMnist::kNumClasses, ")");
  return TensorDataset(std::move(images), std::move(labels));
}

}  // namespace

std::string default_fashion_mnist_dir() {
  const char* env = std::getenv("VOLT_FASHION_MNIST_DIR");
  if (env != nullptr && *env != '\0') return env;
  return "/usr/share/datasets/fashion-mnist";
}

FashionMnist::FashionMnist(Split split, const std::string& dir)
    : TensorDataset(load(split, dir)), split_(split), dir_(dir) {}

const std::array<std::string_view, FashionMnist::kNumClasses>& FashionMnist::class_names() {
  static constexpr std::array<std::string_view, kNumClasses> kNames = {
      "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
  return kNames;
}

std::string_view FashionMnist::class_name(int64_t label) {
  VOLT_CHECK(label >= 0 && label < kNumClasses, "FashionMnist::class_name: label ", label, " is not in [0, ",
             kNumClasses, ")");
  return class_names()[static_cast<std::size_t>(label)];
}

}  // namespace volt::data
