// LightningDataModule: the loaders of a run, in one place (Lightning's names). The Trainer asks
// for a loader when a stage starts (train and val for fit, val for validate, test for test,
// predict for predict) and keeps it for that stage; a stage whose loader is absent is skipped
// (fit needs a train loader). The Trainer sets the train loader's epoch each epoch, which fixes
// its shuffle order, so a resumed run draws the same batches.
#pragma once

#include <optional>
#include <utility>

#include "volt/data/data_loader.h"

namespace volt::train {

class LightningDataModule {
 public:
  virtual ~LightningDataModule() = default;
  virtual std::optional<data::DataLoader> train_dataloader() { return std::nullopt; }
  virtual std::optional<data::DataLoader> val_dataloader() { return std::nullopt; }
  virtual std::optional<data::DataLoader> test_dataloader() { return std::nullopt; }
  virtual std::optional<data::DataLoader> predict_dataloader() { return std::nullopt; }
};

// The loaders given to Trainer::fit and friends directly, as a data module.
class DataLoaders : public LightningDataModule {
 public:
  explicit DataLoaders(std::optional<data::DataLoader> train = std::nullopt,
                       std::optional<data::DataLoader> val = std::nullopt,
                       std::optional<data::DataLoader> test = std::nullopt,
                       std::optional<data::DataLoader> predict = std::nullopt)
      : train_(std::move(train)), val_(std::move(val)), test_(std::move(test)), predict_(std::move(predict)) {}
  std::optional<data::DataLoader> train_dataloader() override { return train_; }
  std::optional<data::DataLoader> val_dataloader() override { return val_; }
  std::optional<data::DataLoader> test_dataloader() override { return test_; }
  std::optional<data::DataLoader> predict_dataloader() override { return predict_; }

 private:
  std::optional<data::DataLoader> train_, val_, test_, predict_;
};

}  // namespace volt::train
