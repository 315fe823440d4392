// The `normalize` stage (SPEC §2, stage 2; issue 3): every later stage sees only its output.
// It validates the message strictly (UTF-8; a length cap in characters), puts it in NFKC with
// control and bidi characters removed and whitespace folded, detects the language, and replaces
// PII with typed placeholders before anything can be cached, embedded, logged or archived.
// The context keeps redaction counts by type, never the values.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <array>

#include "absl/strings/str_cat.h"
#include "core/metrics.h"
#include "core/strings.h"
#include "pipeline/stage_registry.h"
#include "privacy/sanitize.h"

namespace mangaassist::pipeline {
namespace {

// The stage's metrics, declared together. Null when the Services carry no registry (tests).
struct NormalizeMetrics {
  // mangaassist_pii_redactions_total{type,lang}
  std::array<std::array<core::Counter*, core::kLangCount>, privacy::kPiiTypeCount> redactions{};
  core::Counter* rejected_utf8 = nullptr;  // mangaassist_normalize_rejected_total{reason}
  core::Counter* rejected_oversize = nullptr;
  core::Counter* truncated = nullptr;  // mangaassist_normalize_truncated_total

  explicit NormalizeMetrics(core::Registry* r) {
    if (r == nullptr) return;
    for (size_t t = 0; t < privacy::kPiiTypeCount; ++t) {
      for (int l = 0; l < core::kLangCount; ++l) {
        redactions[t][static_cast<size_t>(l)] = &r->GetCounter(
            "mangaassist_pii_redactions_total", "PII spans replaced by placeholders, by type",
            {{"type", std::string(privacy::PiiTypeName(static_cast<privacy::PiiType>(t)))},
             {"lang", std::string(core::LangName(static_cast<core::Lang>(l)))}});
      }
    }
    const char* rejected_help = "Messages refused by the normalize stage";
    rejected_utf8 = &r->GetCounter("mangaassist_normalize_rejected_total", rejected_help,
                                   {{"reason", "invalid_utf8"}});
    rejected_oversize = &r->GetCounter("mangaassist_normalize_rejected_total", rejected_help,
                                       {{"reason", "too_long"}});
    truncated = &r->GetCounter("mangaassist_normalize_truncated_total",
                               "Messages cut to normalize.max_chars");
  }
};

void Inc(core::Counter* c, int64_t n = 1) {
  if (c != nullptr) c->Inc(n);
}

class NormalizeStage final : public SyncStage {
 public:
  NormalizeStage(const core::NormalizeConfig& config, std::unique_ptr<privacy::Redactor> redactor,
                 core::Registry* metrics)
      : redactor_(std::move(redactor)), metrics_(metrics) {
    options_.normalize.max_chars = config.max_chars;
    options_.normalize.on_oversize = config.on_oversize;
    options_.normalize.invalid_utf8 = core::InvalidUtf8::kReject;
  }
  std::string_view name() const override { return "normalize"; }

  absl::Status RunSync(core::RequestContext& ctx) override {
    return Apply(ctx);
  }

 private:
  absl::Status Apply(core::RequestContext& ctx) const {
    absl::StatusOr<privacy::Sanitized> clean = privacy::Sanitize(ctx.message, options_, *redactor_);
    if (!clean.ok()) return Refused("message", clean.status());
    if (clean->text.empty()) {
      return absl::InvalidArgumentError("field 'message' is blank after normalization");
    }
    if (clean->truncated) Inc(metrics_.truncated);
    ctx.message = std::move(clean->text);
    ctx.lang = clean->lang;
    ctx.redactions = {};
    Count(*clean, clean->lang, ctx);
    // A client-supplied conversation (compatible endpoints) crosses the same boundary: nothing
    // of it reaches a provider, a cache or a log unredacted. Its language is the last message's.
    if (!ctx.system.empty()) {
      absl::StatusOr<privacy::Sanitized> sys = privacy::Sanitize(ctx.system, options_, *redactor_);
      if (!sys.ok()) return Refused("system", sys.status());
      if (sys->truncated) Inc(metrics_.truncated);
      ctx.system = std::move(sys->text);
      Count(*sys, ctx.lang, ctx);
    }
    for (size_t i = 0; i < ctx.history.size(); ++i) {
      absl::StatusOr<privacy::Sanitized> turn =
          privacy::Sanitize(ctx.history[i].content, options_, *redactor_);
      if (!turn.ok()) return Refused(absl::StrCat("messages[", i, "]"), turn.status());
      if (turn->truncated) Inc(metrics_.truncated);
      ctx.history[i].content = std::move(turn->text);
      Count(*turn, ctx.lang, ctx);
    }
    return absl::OkStatus();
  }

  absl::Status Refused(std::string_view field, const absl::Status& status) const {
    Inc(status.code() == absl::StatusCode::kOutOfRange ? metrics_.rejected_oversize
                                                       : metrics_.rejected_utf8);
    return absl::Status(status.code(),
                        absl::StrCat("field '", core::ToAbsl(field), "': ", status.message()));
  }

  void Count(const privacy::Sanitized& clean, core::Lang lang, core::RequestContext& ctx) const {
    for (size_t t = 0; t < privacy::kPiiTypeCount; ++t) {
      if (clean.counts[t] == 0) continue;
      ctx.redactions[t] = static_cast<uint16_t>(
          std::min<int>(ctx.redactions[t] + clean.counts[t], UINT16_MAX));
      Inc(metrics_.redactions[t][static_cast<size_t>(lang)], clean.counts[t]);
    }
  }

  privacy::SanitizeOptions options_;
  std::unique_ptr<privacy::Redactor> redactor_;
  NormalizeMetrics metrics_;
};

static_assert(privacy::kPiiTypeCount == core::kRedactionTypeCount);

}  // namespace

absl::StatusOr<std::unique_ptr<Stage>> MakeNormalizeStage(Services* services) {
  return std::make_unique<NormalizeStage>(services->config->normalize, privacy::Redactor::Create(),
                                          services->metrics);
}

}  // namespace mangaassist::pipeline
