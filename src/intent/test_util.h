// Test helpers of the intent module: the shipped training set and a small, fast model on it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "intent/dataset.h"
#include "intent/trainer.h"

namespace mangaassist::intent::testing {

inline std::string DataFile(const std::string& name) {
  return std::string(MANGAASSIST_SOURCE_DIR) + "/data/intent/" + name;
}

inline std::vector<Example> TrainSet() {
  auto ex = ReadExamples(DataFile("train.jsonl"), true);
  EXPECT_TRUE(ex.ok()) << ex.status();
  return ex.ok() ? *ex : std::vector<Example>{};
}

// Few buckets and epochs: quick to train, still a real model of the 16 intents.
inline TrainOptions SmallOptions(uint64_t seed = 7) {
  TrainOptions o;
  o.seed = seed;
  o.epochs = 6;
  o.folds = 2;
  o.ensemble = 2;
  o.features.bucket_bits = 14;
  return o;
}

}  // namespace mangaassist::intent::testing
