// RequestContext: everything one request carries through the pipeline (SPEC §2). Owned by the
// caller of Pipeline::Run (the HTTP handler or replay); stages annotate it in order. Not
// thread-safe: one request is processed by one logical flow at a time.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/language.h"
#include "core/money.h"

namespace mangaassist::core {

enum class Tier { kGuest = 0, kMember = 1, kPremium = 2 };
std::string_view TierName(Tier tier);
bool ParseTier(std::string_view name, Tier* out);

// How a request was answered (SPEC §3).
enum class Route { kNone = 0, kTemplate, kCache, kSemanticCache, kExtractive, kHaiku, kSonnet };
std::string_view RouteName(Route route);

// Cost components of one request (US-07); each line is integer nano-USD.
enum class CostComponent {
  kLlmInput = 0, kLlmOutput, kLlmCacheRead, kLlmCacheWrite, kEmbedding, kVectorSearch,
  kSessionStore, kCacheOps, kAnalytics, kCompute, kCount
};
std::string_view CostComponentName(CostComponent c);

class CostLines {
 public:
  void Add(CostComponent c, Money m) { lines_[static_cast<size_t>(c)] += m; }
  Money Get(CostComponent c) const { return lines_[static_cast<size_t>(c)]; }
  Money Total() const {
    Money t;
    for (Money m : lines_) t += m;
    return t;
  }

 private:
  std::array<Money, static_cast<size_t>(CostComponent::kCount)> lines_{};
};

// Number of PII types the `normalize` stage counts (privacy::PiiType; privacy static_asserts it).
inline constexpr size_t kRedactionTypeCount = 7;

struct RequestContext {
  // Identity and input (set by the API layer, validated by `admit`).
  std::string request_id;
  std::string tenant = "default";
  Tier tier = Tier::kGuest;
  bool tier_given = false;  // false: admit resolves the tier from the key/tenant default
  std::string tier_text;    // the raw `tier` field as received, validated by admit
  std::string session_id;
  std::string user_id;
  std::string message;      // the user's message; after `normalize`, the normalized form
  std::string locale;       // optional client locale hint ("en", "ja", "ja-JP")
  std::string client_ip;

  // Annotations (set by stages).
  Lang lang = Lang::kEn;
  // PII redactions made by `normalize`, indexed by privacy::PiiType: counts, never values.
  std::array<uint16_t, kRedactionTypeCount> redactions{};
  std::string intent;             // empty until an intent stage runs
  float intent_confidence = 0;    // a probability in [0,1]
  int degraded_level = 0;         // US-08 degradation ladder level 0..3
  Route route = Route::kNone;
  std::string answer;
  bool answered = false;          // a stage produced the answer; later answer stages skip
  CostLines cost;
  Money baseline;                 // counterfactual baseline cost of this message (US-07)

  // Time.
  const Clock* clock = &SystemClock();
  int64_t start_mono_ns = 0;
};

}  // namespace mangaassist::core
