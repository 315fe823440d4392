// The trained part of the intent classifier (US-02): a linear softmax model over hashed features
// (features.h), fastText style — one weight row of L floats per bucket, summed over a message's
// features and scaled by 1/sqrt(n), plus a bias — with a temperature that calibrates its
// confidence and the metadata measured when it was trained (threshold, per-class precision on
// dev, the training distribution). A Model is immutable once built or loaded; Score() is
// thread-safe and allocation-free after a thread's first call.
//
// File format (little-endian): "MAINTENT" magic, u32 format version, u32 metadata length, the
// metadata as JSON (sorted keys), u32 rows, then per non-zero row a u32 bucket and L float32
// weights, then L float32 biases. The model's version is "i1-" + the first 12 hex digits of
// XXH3-64 over the whole file, so two files with the same bytes have the same version and any
// change to weights or metadata changes it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "intent/features.h"

namespace mangaassist::intent {

// What was measured when the model was trained; all optional for a model built in a test.
struct ModelMeta {
  double temperature = 1.0;  // logits are divided by it before the softmax
  double threshold = 0.5;    // recommended confidence threshold (chosen by cross-validation)
  uint64_t seed = 0;
  int epochs = 0;
  std::string train_data_hash;  // XXH3 of the training examples (text, label), hex
  int64_t train_examples = 0;
  double cv_accuracy = 0;  // top-label accuracy of the cross-validation predictions
  // label -> share of the training examples; lang -> share (the drift reference of last resort).
  std::map<std::string, double> train_label_share;
  std::map<std::string, double> train_lang_share;
  // Measured on the dev set at the threshold (absent when training had no dev set).
  std::map<std::string, double> dev_class_precision;  // label -> precision at the threshold
  double dev_precision_at_threshold = 0;
  double dev_coverage = 0;
  double dev_accuracy = 0;
};

struct Scores {
  int best = -1;         // index into labels(); -1 only for a model without labels
  float confidence = 0;  // calibrated probability of `best`
  size_t features = 0;   // features considered (≤ FeatureOptions::max_features)
};

class Model {
 public:
  // A zero model for training. REQUIRES: 2 ≤ labels.size() ≤ 64.
  Model(std::vector<std::string> labels, FeatureOptions features);

  const std::vector<std::string>& labels() const { return labels_; }
  int LabelIndex(std::string_view label) const;  // -1 when unknown
  const FeatureOptions& feature_options() const { return features_; }
  const ModelMeta& meta() const { return meta_; }
  ModelMeta& mutable_meta() { return meta_; }
  // "" until Serialize() or Load() has computed it.
  const std::string& version() const { return version_; }

  // Raw (uncalibrated) logits of a feature list into `logits` (labels().size() floats).
  void Logits(const std::vector<uint32_t>& features, float* logits) const;
  // Calibrated class probabilities from logits (in place).
  void Probabilities(float* logits) const;
  // Features, logits, calibrated softmax: the best label and its confidence.
  Scores Score(std::string_view text) const;

  // Training access: the row of a bucket and the biases.
  float* Row(uint32_t bucket) { return &weights_[static_cast<size_t>(bucket) * labels_.size()]; }
  float* Bias() { return bias_.data(); }

  // The file bytes (deterministic: same weights and metadata, same bytes); sets version().
  std::string Serialize();
  absl::Status Save(const std::string& path);
  static absl::StatusOr<std::unique_ptr<Model>> Parse(std::string_view bytes);
  static absl::StatusOr<std::unique_ptr<Model>> Load(const std::string& path);

 private:
  std::vector<std::string> labels_;
  FeatureOptions features_;
  std::vector<float> weights_;  // (1 << bucket_bits) rows of labels_.size() floats
  std::vector<float> bias_;
  ModelMeta meta_;
  std::string version_;
};

// "i1-" + 12 hex digits of XXH3-64 over `bytes`.
std::string ModelVersionOf(std::string_view bytes);

}  // namespace mangaassist::intent
