// The `intent` stage (SPEC §2 stage 4, US-02; issue 9), after `normalize` and before the stages
// that read the label (template router, response cache, RAG bypass, tier routing):
//   1. session intent cache (keyspace intent_sess, `intent:sess:`): a short follow-up such as
//      "and vol 2?" / 「2巻は？」 inherits the session's last confident intent and title;
//   2. rules, then the trained model (intent::Classifier), with the confidence threshold below
//      which the label is `uncertain` (downstream stories then take the safe path).
// The label, its calibrated confidence, the classifier version (model content hash), the source
// and the catalog title go on the context, and from there into the cost event and the response
// cache key. Every label is counted by intent, source and language, and fed to the drift monitor
// (intent/drift.h). The measured per-class precision of the model is exported as gauges so the
// template router (US-01) can enable only classes at or above the 0.92 floor.
// A cache that is down only loses the inheritance; it never fails a request.
#include <array>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "cache/cache.h"
#include "core/bounded_memo.h"
#include "core/metrics.h"
#include "core/strings.h"
#include "intent/classifier.h"
#include "intent/drift.h"
#include "pipeline/stage_registry.h"
#include "rag/catalog.h"
#include "xxhash.h"

namespace mangaassist::pipeline {
namespace {

constexpr size_t kSourceCount = 4;  // intent::Source values

// What a session remembers (the intent_sess value): its last confident label and title.
struct SessionIntent {
  std::string intent;
  float confidence = 0;
  std::string title;
};

// "1\t<intent>\t<confidence>\t<title>"; titles never hold tabs or newlines (replaced by spaces).
std::string EncodeSession(const SessionIntent& s) {
  std::string title = s.title;
  for (char& c : title) {
    if (c == '\t' || c == '\n') c = ' ';
  }
  return absl::StrFormat("1\t%s\t%.4f\t%s", s.intent, s.confidence, title);
}

std::optional<SessionIntent> DecodeSession(const std::string& v) {
  std::vector<std::string> parts = absl::StrSplit(v, '\t');
  if (parts.size() != 4 || parts[0] != "1" || parts[1].empty()) return std::nullopt;
  SessionIntent s;
  s.intent = parts[1];
  if (!absl::SimpleAtof(parts[2], &s.confidence)) return std::nullopt;
  s.title = parts[3];
  return s;
}

struct IntentMetrics {
  // mangaassist_intent_classifications_total{intent, source, lang}: label index × source × lang.
  std::vector<std::array<std::array<core::Counter*, core::kLangCount>, kSourceCount>> by_label;
  core::Counter* inherited = nullptr;  // mangaassist_intent_session_total{result}
  core::Counter* session_miss = nullptr;

  IntentMetrics(core::Registry* r, const intent::Classifier& c) {
    if (r == nullptr) return;
    std::vector<std::string> labels = c.model().labels();
    labels.emplace_back(intent::kUncertain);
    by_label.resize(labels.size());
    for (size_t l = 0; l < labels.size(); ++l) {
      for (size_t s = 0; s < kSourceCount; ++s) {
        for (int g = 0; g < core::kLangCount; ++g) {
          by_label[l][s][static_cast<size_t>(g)] = &r->GetCounter(
              "mangaassist_intent_classifications_total",
              "Requests labelled by the intent stage, by label, source and language",
              {{"intent", labels[l]},
               {"source", std::string(intent::SourceName(static_cast<intent::Source>(s)))},
               {"lang", std::string(core::LangName(static_cast<core::Lang>(g)))}});
        }
      }
    }
    const char* help = "Follow-ups looked up in the session intent cache, by result";
    inherited = &r->GetCounter("mangaassist_intent_session_total", help, {{"result", "inherited"}});
    session_miss = &r->GetCounter("mangaassist_intent_session_total", help, {{"result", "miss"}});
    // The measured precision per class (on dev, at the threshold, when the model was trained)
    // and whether it clears the floor: what the template router reads.
    for (const std::string& label : c.model().labels()) {
      std::optional<double> p = c.ClassPrecision(label);
      r->GetGauge("mangaassist_intent_class_precision",
                  "Precision at the threshold measured on dev per class (model metadata)",
                  {{"intent", label}}, 1'000'000)
          .Set(p.has_value() ? static_cast<int64_t>(*p * 1'000'000 + 0.5) : 0);
      r->GetGauge("mangaassist_intent_class_trusted",
                  "1 when the class's measured precision is at or above the 0.92 floor",
                  {{"intent", label}})
          .Set(c.Trusted(label) ? 1 : 0);
    }
    r->GetGauge("mangaassist_intent_model_info", "The intent model in use (value 1)",
                {{"version", c.version()}})
        .Set(1);
    r->GetGauge("mangaassist_intent_threshold",
                "Confidence threshold below which the label is "
                "`uncertain`",
                {}, 1'000'000)
        .Set(static_cast<int64_t>(c.threshold() * 1'000'000 + 0.5));
  }
};

class IntentStage final : public SyncStage {
 public:
  IntentStage(const intent::Classifier* classifier, intent::DriftMonitor* drift,
              cache::Cache* cache, const rag::Catalog* catalog, const core::IntentConfig& config,
              absl::Duration session_ttl, core::Registry* metrics)
      : classifier_(classifier),
        drift_(drift),
        cache_(config.session_cache ? cache : nullptr),
        catalog_(catalog),
        ttl_(session_ttl),
        metrics_(metrics, *classifier) {}

  std::string_view name() const override { return "intent"; }

  absl::Status RunSync(core::RequestContext& ctx) override {
    Classify(ctx);
    return absl::OkStatus();
  }

 private:
  static std::string SessionKey(const core::RequestContext& ctx) {
    const std::string id = absl::StrCat(ctx.tenant, "\x1f", ctx.session_id);
    return absl::StrFormat("%016x", XXH3_64bits(id.data(), id.size()));
  }

  void Classify(core::RequestContext& ctx) const {
    const bool has_session = cache_ != nullptr && !ctx.session_id.empty();
    std::optional<SessionIntent> session;
    intent::Source source = intent::Source::kModel;
    if (has_session && classifier_->rules().IsFollowUp(ctx.message)) {
      absl::StatusOr<std::string> v = cache_->Get(cache::Keyspace::kIntentSess, SessionKey(ctx));
      if (v.ok()) session = DecodeSession(*v);
      if (session.has_value() && classifier_->model().LabelIndex(session->intent) >= 0) {
        Inc(metrics_.inherited);
        ctx.intent = session->intent;
        ctx.intent_confidence = session->confidence;
        ctx.intent_title = session->title;
        source = intent::Source::kSession;
      } else {
        Inc(metrics_.session_miss);
        session.reset();
      }
    }
    if (source != intent::Source::kSession) {
      const Labelled l = Label(ctx.message);
      ctx.intent = std::string(l.classification.intent);
      ctx.intent_confidence = l.classification.confidence;
      source = l.classification.source;
      if (!l.title.empty()) ctx.intent_title = l.title;
    }
    ctx.intent_source = intent::SourceName(source);
    ctx.intent_version = classifier_->version();
    // Remember the conversation's confident label (and refresh its TTL on inheritance).
    if (has_session && ctx.intent != intent::kUncertain) {
      SessionIntent s{ctx.intent, ctx.intent_confidence, ctx.intent_title};
      (void)cache_->Set(cache::Keyspace::kIntentSess, SessionKey(ctx), EncodeSession(s), ttl_);
    }
    const int idx = classifier_->model().LabelIndex(ctx.intent);
    const size_t label = idx >= 0 ? static_cast<size_t>(idx) : classifier_->model().labels().size();
    if (!metrics_.by_label.empty()) {
      Inc(metrics_.by_label[label][static_cast<size_t>(source)][static_cast<size_t>(ctx.lang)]);
    }
    if (drift_ != nullptr) drift_->Observe(label, ctx.lang, ctx.clock->Now());
  }

  // The classifier's answer and the catalog title for a message: both a function of the message
  // alone (the classifier and the catalog are immutable), memoized for messages asked again —
  // most of a store's traffic ("where is my order", greetings, the week's hot titles), and the
  // whole of every response-cache hit, whose key needs the label.
  struct Labelled {
    intent::Classification classification;
    std::string title;
  };
  static constexpr size_t kMaxMemoBytes = 1024;  // longer messages are labelled every time

  Labelled Label(const std::string& message) const {
    Labelled l;
    if (message.size() <= kMaxMemoBytes &&
        memo_.Visit(message, [&l](const Labelled& m) { l = m; })) {
      return l;
    }
    l.classification = classifier_->Classify(message);
    if (catalog_ != nullptr) {
      std::vector<rag::CatalogMatch> m = catalog_->Find(message, 1);
      if (!m.empty() && m[0].field != rag::MatchField::kAuthor) l.title = m[0].entry->title;
    }
    if (message.size() <= kMaxMemoBytes) memo_.Put(message, l);
    return l;
  }

  static void Inc(core::Counter* c) {
    if (c != nullptr) c->Inc();
  }

  const intent::Classifier* classifier_;
  intent::DriftMonitor* drift_;
  cache::Cache* cache_;
  const rag::Catalog* catalog_;
  const absl::Duration ttl_;
  IntentMetrics metrics_;
  mutable core::BoundedMemo<Labelled> memo_{8192};
};

}  // namespace

absl::StatusOr<std::unique_ptr<Stage>> MakeIntentStage(Services* services) {
  if (services->intent == nullptr) {
    return absl::FailedPreconditionError("the intent classifier is not loaded (intent.model)");
  }
  return std::make_unique<IntentStage>(
      services->intent.get(), services->intent_drift.get(), services->cache.get(),
      services->catalog.get(), services->config->intent,
      services->config->cache.Keyspace("intent_sess").ttl, services->metrics);
}

}  // namespace mangaassist::pipeline
