#include "intent/classifier.h"

namespace mangaassist::intent {

std::string_view SourceName(Source s) {
  switch (s) {
    case Source::kSession:
      return "session";
    case Source::kRule:
      return "rule";
    case Source::kModel:
      return "model";
    case Source::kNone:
      break;
  }
  return "none";
}

absl::StatusOr<std::unique_ptr<Classifier>> Classifier::Create(std::unique_ptr<Model> model,
                                                               const ClassifierOptions& options) {
  if (model == nullptr) return absl::InvalidArgumentError("intent classifier: no model");
  if (options.threshold < 0 || options.threshold >= 1) {
    return absl::InvalidArgumentError("intent classifier: threshold must be in [0, 1)");
  }
  auto rules = Rules::Create();
  if (!rules.ok()) return rules.status();
  std::unique_ptr<Classifier> c(new Classifier());
  c->model_ = std::move(model);
  c->rules_ = *std::move(rules);
  c->threshold_ = options.threshold > 0 ? options.threshold : c->model_->meta().threshold;
  c->max_rule_bytes_ = options.max_rule_bytes;
  for (const std::string_view label :
       {std::string_view("order_status"), std::string_view("complaint_escalation")}) {
    if (c->model_->LabelIndex(label) < 0) {
      return absl::InvalidArgumentError(
          "intent classifier: the model lacks a label the rules produce (order_status, "
          "complaint_escalation)");
    }
  }
  return c;
}

absl::StatusOr<std::unique_ptr<Classifier>> Classifier::Load(const std::string& model_path,
                                                             const ClassifierOptions& options) {
  auto model = Model::Load(model_path);
  if (!model.ok()) return model.status();
  return Create(*std::move(model), options);
}

Classification Classifier::Classify(std::string_view text) const {
  Classification c;
  // Rules read a bounded prefix, cut on a UTF-8 character boundary.
  std::string_view head = text;
  if (head.size() > max_rule_bytes_) {
    size_t n = max_rule_bytes_;
    while (n > 0 && (static_cast<unsigned char>(head[n]) & 0xC0) == 0x80) --n;
    head = head.substr(0, n);
  }
  RuleMatch rule = rules_->Match(head);
  if (!rule.label.empty()) {
    const int idx = model_->LabelIndex(rule.label);
    c.intent = c.best_label = model_->labels()[static_cast<size_t>(idx)];
    c.confidence = kRuleConfidence;
    c.source = Source::kRule;
    c.rule = rule.rule;
    return c;
  }
  Scores s = model_->Score(text);
  c.source = Source::kModel;
  c.features = s.features;
  c.confidence = s.confidence;
  c.best_label = model_->labels()[static_cast<size_t>(s.best)];
  c.intent = s.confidence >= threshold_ ? c.best_label : kUncertain;
  return c;
}

std::optional<double> Classifier::ClassPrecision(std::string_view label) const {
  const auto& p = model_->meta().dev_class_precision;
  auto it = p.find(std::string(label));
  if (it == p.end()) return std::nullopt;
  return it->second;
}

bool Classifier::Trusted(std::string_view label) const {
  std::optional<double> p = ClassPrecision(label);
  return p.has_value() && *p >= kPrecisionFloor;
}

}  // namespace mangaassist::intent
