// The `admit` stage (US-08 admission, first part): field presence, sizes, UTF-8 and tier
// validation, then the API key → key name, tenant and tier (US-08, control/traffic.h). Everything
// after it may assume well-formed fields and an authenticated identity. Rate limits and the
// budget hold are the `reserve` stage's (they need the call's estimate).
#include "absl/strings/str_cat.h"
#include "control/traffic.h"
#include "core/strings.h"
#include "core/utf8.h"
#include "pipeline/stage_registry.h"

namespace mangaassist::pipeline {
namespace {

absl::Status CheckText(std::string_view field, std::string_view value, size_t max_bytes,
                       bool required) {
  if (value.empty()) {
    if (!required) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat("field '", core::ToAbsl(field), "' is required"));
  }
  if (value.size() > max_bytes) {
    return absl::OutOfRangeError(absl::StrCat("field '", core::ToAbsl(field), "' is ",
                                              value.size(), " bytes; the limit is ", max_bytes));
  }
  if (!core::IsValidUtf8(value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("field '", core::ToAbsl(field), "' is not valid UTF-8"));
  }
  if (value.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("field '", core::ToAbsl(field), "' contains a NUL character"));
  }
  return absl::OkStatus();
}

bool IsBlank(std::string_view s) {
  for (unsigned char c : s) {
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return false;
  }
  return true;
}

class AdmitStage final : public SyncStage {
 public:
  AdmitStage(const core::LimitsConfig& limits, const control::TrafficControl* traffic)
      : limits_(limits), traffic_(traffic) {}
  std::string_view name() const override { return "admit"; }

  absl::Status RunSync(core::RequestContext& ctx) override {
    absl::Status st = Check(ctx);
    if (st.ok() && traffic_ != nullptr) st = traffic_->Authenticate(ctx);
    ctx.api_key.clear();  // never kept past admission
    return st;
  }

 private:
  absl::Status Check(core::RequestContext& ctx) const {
    // The compatible endpoints speak the OpenAI/Anthropic shapes, which carry no session.
    const bool ids_required = !ctx.compat;
    if (absl::Status s = CheckText("session_id", ctx.session_id, limits_.max_id_bytes, ids_required); !s.ok()) return s;
    if (absl::Status s = CheckText("user_id", ctx.user_id, limits_.max_id_bytes, ids_required); !s.ok()) return s;
    if (absl::Status s = CheckText("message", ctx.message, limits_.max_message_bytes, true); !s.ok()) return s;
    if (IsBlank(ctx.message)) return absl::InvalidArgumentError("field 'message' is blank");
    if (absl::Status s = CheckText("locale", ctx.locale, limits_.max_locale_bytes, false); !s.ok()) return s;
    if (ctx.tier_given) {
      if (!core::ParseTier(ctx.tier_text, &ctx.tier)) {
        std::string shown = core::IsValidUtf8(ctx.tier_text) && ctx.tier_text.size() <= 32
                                ? ctx.tier_text
                                : std::string("<invalid>");
        return absl::InvalidArgumentError(
            absl::StrCat("unknown tier '", shown, "' (expected guest, member or premium)"));
      }
    }
    // Language is labelled once, by `normalize`, on the normalized text.
    return absl::OkStatus();
  }

  core::LimitsConfig limits_;
  const control::TrafficControl* traffic_;  // null: no API keys, no traffic control
};

}  // namespace

absl::StatusOr<std::unique_ptr<Stage>> MakeAdmitStage(Services* services) {
  return std::make_unique<AdmitStage>(services->config->limits, services->traffic.get());
}

}  // namespace mangaassist::pipeline
