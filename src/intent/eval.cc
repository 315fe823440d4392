#include "intent/eval.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"

namespace mangaassist::intent {
namespace {

double Ratio(int64_t a, int64_t b) {
  return b == 0 ? 0.0 : static_cast<double>(a) / static_cast<double>(b);
}

struct Counts {
  int64_t n = 0, correct = 0, covered = 0, covered_correct = 0;
};

}  // namespace

EvalReport Evaluate(const Classifier& classifier, const std::vector<Example>& examples) {
  EvalReport r;
  r.threshold = classifier.threshold();
  r.model_version = classifier.version();
  const auto& labels = classifier.model().labels();
  std::map<std::string, int64_t> tp, predicted, gold, tp_cov, predicted_cov;
  Counts all;
  std::map<std::string, Counts> lang;
  for (const Example& e : examples) {
    Classification c = classifier.Classify(e.text);
    const std::string best(c.best_label);
    const bool correct = best == e.intent;
    const bool covered = c.intent != kUncertain;
    const std::string lang_name(core::LangName(e.has_lang ? e.lang : core::DetectLanguage(e.text)));
    for (Counts* k : {&all, &lang[lang_name]}) {
      ++k->n;
      k->correct += correct;
      k->covered += covered;
      k->covered_correct += covered && correct;
    }
    ++predicted[best];
    ++gold[e.intent];
    if (correct) ++tp[best];
    if (covered) {
      ++predicted_cov[best];
      if (correct) ++tp_cov[best];
    }
    ++r.by_source[std::string(SourceName(c.source))];
  }
  r.n = all.n;
  r.accuracy = Ratio(all.correct, all.n);
  r.coverage = Ratio(all.covered, all.n);
  r.precision_at_threshold = Ratio(all.covered_correct, all.covered);
  double f1_sum = 0;
  for (const std::string& l : labels) {
    ClassMetrics m;
    m.support = gold[l];
    m.precision = Ratio(tp[l], predicted[l]);
    m.recall = Ratio(tp[l], gold[l]);
    m.f1 = m.precision + m.recall > 0 ? 2 * m.precision * m.recall / (m.precision + m.recall) : 0;
    m.predicted_at_threshold = predicted_cov[l];
    m.precision_at_threshold = Ratio(tp_cov[l], predicted_cov[l]);
    f1_sum += m.f1;
    r.per_class[l] = m;
  }
  r.macro_f1 = labels.empty() ? 0 : f1_sum / static_cast<double>(labels.size());
  for (const char* l : {"en", "ja", "mixed"}) {
    const Counts& k = lang[l];
    LangMetrics m;
    m.n = k.n;
    m.accuracy = Ratio(k.correct, k.n);
    m.coverage = Ratio(k.covered, k.n);
    m.precision_at_threshold = Ratio(k.covered_correct, k.covered);
    r.by_lang[l] = m;
  }
  return r;
}

std::string EvalJson(const EvalReport& r) {
  nlohmann::ordered_json j;
  j["n"] = r.n;
  j["model_version"] = r.model_version;
  j["accuracy"] = r.accuracy;
  j["macro_f1"] = r.macro_f1;
  j["threshold"] = r.threshold;
  j["coverage"] = r.coverage;
  j["precision_at_threshold"] = r.precision_at_threshold;
  nlohmann::ordered_json pc = nlohmann::ordered_json::object();
  for (const auto& [label, m] : r.per_class) {
    pc[label] = {{"precision", m.precision},
                 {"recall", m.recall},
                 {"f1", m.f1},
                 {"support", m.support},
                 {"precision_at_threshold", m.precision_at_threshold},
                 {"predicted_at_threshold", m.predicted_at_threshold}};
  }
  j["per_class"] = pc;
  nlohmann::ordered_json bl = nlohmann::ordered_json::object();
  for (const auto& [lang, m] : r.by_lang) {
    bl[lang] = {{"n", m.n},
                {"accuracy", m.accuracy},
                {"coverage", m.coverage},
                {"precision_at_threshold", m.precision_at_threshold}};
  }
  j["by_lang"] = bl;
  j["by_source"] = r.by_source;
  return j.dump();
}

std::string EvalText(const EvalReport& r) {
  std::string out = absl::StrFormat(
      "%d messages, model %s\naccuracy %.4f  macro F1 %.4f  threshold %.3f  coverage %.4f  "
      "precision at threshold %.4f\n",
      r.n, r.model_version, r.accuracy, r.macro_f1, r.threshold, r.coverage,
      r.precision_at_threshold);
  for (const auto& [lang, m] : r.by_lang) {
    absl::StrAppend(
        &out, absl::StrFormat("  %-5s n=%-4d accuracy %.4f coverage %.4f precision@t %.4f\n", lang,
                              m.n, m.accuracy, m.coverage, m.precision_at_threshold));
  }
  absl::StrAppend(&out, absl::StrFormat("  %-22s %9s %7s %7s %7s %12s\n", "class", "precision",
                                        "recall", "f1", "support", "precision@t"));
  for (const auto& [label, m] : r.per_class) {
    absl::StrAppend(&out,
                    absl::StrFormat("  %-22s %9.3f %7.3f %7.3f %7d %12.3f\n", label, m.precision,
                                    m.recall, m.f1, m.support, m.precision_at_threshold));
  }
  return out;
}

}  // namespace mangaassist::intent
