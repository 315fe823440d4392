// Measuring the intent classifier on a labelled set (`mangaassist intent eval`, the training
// gate, the dev-target test). accuracy and per-class precision / recall / F1 are over the top
// label (threshold ignored); `coverage` is the share of messages whose label is not `uncertain`
// (confidence at or above the threshold, or a rule); `precision_at_threshold` is the accuracy
// of those covered messages. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "intent/classifier.h"
#include "intent/dataset.h"

namespace mangaassist::intent {

struct ClassMetrics {
  double precision = 0, recall = 0, f1 = 0;
  int64_t support = 0;                // gold examples of the class
  double precision_at_threshold = 0;  // of the covered predictions of the class
  int64_t predicted_at_threshold = 0;
};

struct LangMetrics {
  int64_t n = 0;
  double accuracy = 0, coverage = 0, precision_at_threshold = 0;
};

struct EvalReport {
  int64_t n = 0;
  double accuracy = 0, macro_f1 = 0, threshold = 0, coverage = 0, precision_at_threshold = 0;
  std::map<std::string, ClassMetrics> per_class;  // every label of the model
  std::map<std::string, LangMetrics> by_lang;     // en / ja / mixed
  std::map<std::string, int64_t> by_source;       // rule / model
  std::string model_version;
};

// `examples` must carry labels; their text is classified as is (normalize it first, as the
// pipeline does). Language: the example's own `lang`, else detected.
EvalReport Evaluate(const Classifier& classifier, const std::vector<Example>& examples);

// The report as JSON with the keys named in eval.h's comment (`accuracy`, `macro_f1`,
// `threshold`, `coverage`, `precision_at_threshold`, `per_class`, `by_lang`, plus `n`,
// `by_source`, `model_version`).
std::string EvalJson(const EvalReport& report);
// A short human-readable summary.
std::string EvalText(const EvalReport& report);

}  // namespace mangaassist::intent
