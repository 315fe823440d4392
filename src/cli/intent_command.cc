#include "cli/intent_command.h"

#include <chrono>
#include <cmath>
#include <fstream>
#include <istream>
#include <ostream>

#include "absl/strings/str_format.h"
#include "core/config.h"
#include "intent/classifier.h"
#include "intent/dataset.h"
#include "intent/eval.h"
#include "intent/trainer.h"
#include "nlohmann/json.hpp"
#include "privacy/sanitize.h"

namespace mangaassist::cli {
namespace {

// The `normalize` stage's defaults: NFKC, cleanup, redaction; long texts are cut, not refused.
privacy::SanitizeOptions SanitizeOptionsForIntent() {
  privacy::SanitizeOptions o;
  o.normalize.max_chars = core::NormalizeConfig().max_chars;
  o.normalize.on_oversize = core::Oversize::kTruncate;
  o.normalize.invalid_utf8 = core::InvalidUtf8::kReplace;
  return o;
}

// Normalizes and redacts each example's text in place; the language stays the label's.
void NormalizeExamples(std::vector<intent::Example>* examples) {
  const privacy::SanitizeOptions o = SanitizeOptionsForIntent();
  const privacy::Redactor& redactor = privacy::Redactor::Default();
  for (intent::Example& e : *examples) {
    auto clean = privacy::Sanitize(e.text, o, redactor);
    if (clean.ok()) {
      if (!e.has_lang) e.lang = clean->lang, e.has_lang = true;
      e.text = std::move(clean->text);
    }
  }
}

std::string DefaultModelPath() { return core::DefaultConfig().DataPath("intent/model.bin"); }

absl::StatusOr<std::vector<intent::Example>> ReadNormalized(const std::string& path) {
  auto ex = intent::ReadExamples(path, /*require_label=*/true);
  if (!ex.ok()) return ex.status();
  NormalizeExamples(&*ex);
  return ex;
}

}  // namespace

int RunIntentTrain(const IntentTrainOptions& options, std::ostream& out, std::ostream& err) {
  if (options.data.empty() || options.out.empty()) {
    err << "intent train: --data and --out are required\n";
    return 2;
  }
  std::vector<intent::Example> train;
  for (const std::string& path : options.data) {
    auto ex = ReadNormalized(path);
    if (!ex.ok()) {
      err << "intent train: " << ex.status().message() << "\n";
      return 2;
    }
    train.insert(train.end(), ex->begin(), ex->end());
  }
  const std::string dev_path =
      options.dev.empty() ? core::DefaultConfig().DataPath("intent/dev.jsonl") : options.dev;
  auto dev = ReadNormalized(dev_path);
  if (!dev.ok()) {
    err << "intent train: dev set: " << dev.status().message() << "\n";
    return 2;
  }
  const auto start = std::chrono::steady_clock::now();
  intent::TrainOptions t;
  t.seed = options.seed;
  t.epochs = options.epochs;
  t.learning_rate = options.learning_rate;
  t.target_precision = options.target_precision;
  if (!options.quiet) {
    t.progress = [&err, &start](std::string_view phase, int step, int steps) {
      const double s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      err << absl::StrFormat("\rtraining %-8s epoch %2d/%d  %.1f s", std::string(phase), step,
                             steps, s);
      if (step == steps) err << "\n";
      err.flush();
    };
  }
  auto model = intent::Train(train, t);
  if (!model.ok()) {
    err << "intent train: " << model.status().message() << "\n";
    return 2;
  }
  if (options.threshold > 0) (*model)->mutable_meta().threshold = options.threshold;
  // Measure on dev with the rules, exactly as the pipeline will classify.
  auto copy = intent::Model::Parse((*model)->Serialize());
  if (!copy.ok()) {
    err << "intent train: " << copy.status().message() << "\n";
    return 1;
  }
  auto classifier = intent::Classifier::Create(*std::move(copy), {});
  if (!classifier.ok()) {
    err << "intent train: " << classifier.status().message() << "\n";
    return 2;
  }
  intent::EvalReport report = intent::Evaluate(**classifier, *dev);
  intent::ModelMeta& meta = (*model)->mutable_meta();
  meta.dev_precision_at_threshold = report.precision_at_threshold;
  meta.dev_coverage = report.coverage;
  meta.dev_accuracy = report.accuracy;
  meta.dev_class_precision.clear();
  for (const auto& [label, m] : report.per_class) {
    meta.dev_class_precision[label] = m.precision_at_threshold;
  }
  out << absl::StrFormat(
      "trained on %d examples (%d labels), seed %d; cross-validation accuracy %.4f; temperature "
      "%.3f, threshold %.2f\n"
      "dev %s: accuracy %.4f, coverage %.4f, precision at threshold %.4f (floor %.2f)\n",
      train.size(), (*model)->labels().size(), options.seed, meta.cv_accuracy, meta.temperature,
      meta.threshold, dev_path, report.accuracy, report.coverage, report.precision_at_threshold,
      options.floor);
  if (report.precision_at_threshold < options.floor && !options.force) {
    err << absl::StrFormat(
        "intent train: refusing to write %s: precision at threshold %.4f on dev is below the "
        "floor %.2f (use --force to write it anyway)\n",
        options.out, report.precision_at_threshold, options.floor);
    return 1;
  }
  absl::Status saved = (*model)->Save(options.out);
  if (!saved.ok()) {
    err << "intent train: " << saved.message() << "\n";
    return 1;
  }
  out << "wrote " << options.out << " (version " << (*model)->version() << ")\n";
  return 0;
}

int RunIntentEval(const IntentEvalOptions& options, std::ostream& out, std::ostream& err) {
  auto data = ReadNormalized(options.data);
  if (!data.ok()) {
    err << "intent eval: " << data.status().message() << "\n";
    return 2;
  }
  intent::ClassifierOptions co;
  co.threshold = options.threshold;
  auto classifier =
      intent::Classifier::Load(options.model.empty() ? DefaultModelPath() : options.model, co);
  if (!classifier.ok()) {
    err << "intent eval: " << classifier.status().message() << "\n";
    return 2;
  }
  intent::EvalReport report = intent::Evaluate(**classifier, *data);
  out << (options.json ? intent::EvalJson(report) + "\n" : intent::EvalText(report));
  return 0;
}

int RunIntentClassify(const IntentClassifyOptions& options, std::istream& in, std::ostream& out,
                      std::ostream& err) {
  intent::ClassifierOptions co;
  co.threshold = options.threshold;
  auto classifier =
      intent::Classifier::Load(options.model.empty() ? DefaultModelPath() : options.model, co);
  if (!classifier.ok()) {
    err << "intent classify: " << classifier.status().message() << "\n";
    return 2;
  }
  std::ifstream file;
  std::istream* src = &in;
  if (options.input != "-") {
    file.open(options.input, std::ios::binary);
    if (!file) {
      err << "intent classify: cannot open " << options.input << "\n";
      return 2;
    }
    src = &file;
  }
  const privacy::SanitizeOptions so = SanitizeOptionsForIntent();
  const privacy::Redactor& redactor = privacy::Redactor::Default();
  int status = 0;
  std::string line;
  size_t number = 0;
  while (std::getline(*src, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::string text = line;
    if (!line.empty() && line.front() == '{') {
      nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded() || !j.is_object() || !j.contains("text") || !j["text"].is_string()) {
        out << nlohmann::json{{"error", "not a JSON object with a string `text`"}, {"line", number}}
                   .dump()
            << '\n';
        status = 1;
        continue;
      }
      text = j["text"].get<std::string>();
    }
    auto clean = privacy::Sanitize(text, so, redactor);
    const std::string normalized = clean.ok() ? clean->text : std::string();
    const core::Lang lang = clean.ok() ? clean->lang : core::DetectLanguage(normalized);
    intent::Classification c = (*classifier)->Classify(normalized);
    nlohmann::ordered_json o;
    o["text"] = text;
    o["intent"] = c.intent;
    o["confidence"] = std::round(c.confidence * 10000.0) / 10000.0;
    o["lang"] = core::LangName(lang);
    o["source"] = intent::SourceName(c.source);
    o["version"] = (*classifier)->version();
    out << o.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  }
  return status;
}

}  // namespace mangaassist::cli
