// Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017): 28x28 grey images of clothing in 10 classes,
// 60000 for training and 10000 for testing, as four IDX files. Debian's dataset-fashion-mnist
// package installs them gzip'd in /usr/share/datasets/fashion-mnist.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "volt/data/tensor_dataset.h"

namespace volt::data {

enum class Split { train, test };

// $VOLT_FASHION_MNIST_DIR when set and non-empty, else /usr/share/datasets/fashion-mnist.
std::string default_fashion_mnist_dir();

// A TensorDataset of one split: images u8 [N, 28, 28], labels u8 [N] with values in [0, 10).
class FashionMnist : public TensorDataset {
 public:
  static constexpr int64_t kNumClasses = 10;
  static constexpr int64_t kImageSize = 28;  // height = width
  static constexpr int64_t kTrainSize = 60000;
  static constexpr int64_t kTestSize = 10000;

  // Reads <dir>/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz (or the same names without .gz).
  // Throws volt::Error naming the file when one is missing or does not hold the expected data.
  explicit FashionMnist(Split split, const std::string& dir = default_fashion_mnist_dir());

  Split split() const { return split_; }
  const std::string& dir() const { return dir_; }

  // "T-shirt/top", "Trouser", ... in label order (the dataset's README).
  static const std::array<std::string_view, kNumClasses>& class_names();
  static std::string_view class_name(int64_t label);  // throws outside [0, 10)

 private:
  Split split_;
  std::string dir_;
};

}  // namespace volt::data
