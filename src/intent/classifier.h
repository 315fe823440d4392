// The intent classifier of US-02: rules first (rules.h), then the trained model (model.h), with
// a confidence threshold below which the label is `uncertain` — downstream stories must then
// take the safe path (no template answer, no tenant-wide cache sharing, no RAG bypass).
// The session layer (the `intent` stage) sits in front of it. Immutable after Create();
// Classify() is thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "intent/model.h"
#include "intent/rules.h"

namespace mangaassist::intent {

inline constexpr std::string_view kUncertain = "uncertain";
// The seed's precision floor: a class is trusted downstream only at or above it.
inline constexpr double kPrecisionFloor = 0.92;
// The confidence a rule's label carries (rules are checked to ≥ 0.95 precision on train).
inline constexpr float kRuleConfidence = 0.99f;

struct ClassifierOptions {
  double threshold = 0;          // 0: the model's own (chosen by cross-validation)
  size_t max_rule_bytes = 4096;  // rules read at most this prefix (bounded time)
};

enum class Source { kNone = 0, kSession, kRule, kModel };
std::string_view SourceName(Source s);  // "none" | "session" | "rule" | "model"

struct Classification {
  std::string_view intent;      // a label of the model, or kUncertain
  float confidence = 0;         // calibrated, in [0, 1]
  std::string_view best_label;  // the top label even when it is below the threshold
  Source source = Source::kNone;
  std::string_view rule;  // the rule's name when source == kRule
  size_t features = 0;    // features the model considered (≤ the model's cap)
};

class Classifier {
 public:
  static absl::StatusOr<std::unique_ptr<Classifier>> Create(std::unique_ptr<Model> model,
                                                            const ClassifierOptions& options);
  static absl::StatusOr<std::unique_ptr<Classifier>> Load(const std::string& model_path,
                                                          const ClassifierOptions& options);

  // `text` should be the normalized message (the `normalize` stage's output).
  Classification Classify(std::string_view text) const;

  const Model& model() const { return *model_; }
  const Rules& rules() const { return *rules_; }
  const std::string& version() const { return model_->version(); }
  double threshold() const { return threshold_; }

  // The class's precision at the threshold measured on dev when the model was trained;
  // nullopt when unknown. Only classes at or above kPrecisionFloor may drive a template.
  std::optional<double> ClassPrecision(std::string_view label) const;
  bool Trusted(std::string_view label) const;

 private:
  Classifier() = default;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Rules> rules_;
  double threshold_ = 0.5;
  size_t max_rule_bytes_ = 4096;
};

}  // namespace mangaassist::intent
