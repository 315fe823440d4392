// Training the intent model (US-02): softmax regression over hashed features (features.h) by
// plain SGD with a linearly decaying learning rate, in C++, deterministic by seed — the same
// examples, options and seed give a byte-identical model file (one thread, a seeded
// Fisher–Yates shuffle, no library RNG); `ensemble` runs are averaged to cut SGD's variance.
// Confidence is calibrated by temperature scaling fitted
// on k-fold cross-validation predictions of the training set (the dev set stays for
// measurement), and the recommended threshold is the lowest one whose cross-validated precision
// reaches `target_precision`. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "intent/dataset.h"
#include "intent/model.h"

namespace mangaassist::intent {

struct TrainOptions {
  uint64_t seed = 1;
  int epochs = 25;
  double learning_rate = 3.0;
  int folds = 5;  // cross-validation folds for calibration (≥ 2)
  // Runs with seeds seed, seed+1, … whose weights are averaged into one model (a linear model:
  // the average of the weights is the average of the logits), for calibration and the final
  // model alike. Costs training time only; inference is one model.
  int ensemble = 3;
  double target_precision = 0.95;  // the threshold is chosen to reach it on CV predictions
  FeatureOptions features;
  // Called with (phase, step, steps): "cv 2/5", "final"; epochs as steps.
  std::function<void(std::string_view phase, int step, int steps)> progress;
};

// Labels are the sorted distinct intents of `examples`. InvalidArgument with fewer than two
// labels or fewer examples than folds.
absl::StatusOr<std::unique_ptr<Model>> Train(const std::vector<Example>& examples,
                                             const TrainOptions& options);

// The temperature T > 0 that minimizes the negative log-likelihood of `labels` under
// softmax(logits / T); `logits` holds n rows of `classes` floats. Deterministic grid + refine.
double FitTemperature(const std::vector<float>& logits, const std::vector<int>& labels,
                      size_t classes);

}  // namespace mangaassist::intent
