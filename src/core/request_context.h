// RequestContext: everything one request carries through the pipeline (SPEC §2). Owned by the
// caller of Pipeline::Run (the HTTP handler or replay); stages annotate it in order. Not
// thread-safe: one request is processed by one logical flow at a time.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/language.h"
#include "core/money.h"
#include "core/pricing.h"

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

class DeltaSink;  // core/delta_sink.h

// One turn of a client-supplied conversation (the compatible endpoints).
struct ChatTurn {
  bool assistant = false;
  std::string content;
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

  // What the client asked of the model (the compatible endpoints; native requests leave these
  // empty and the `call` stage uses the configured tier model and system prompt).
  bool compat = false;            // session_id and user_id are optional
  std::string requested_model;    // an alias or a concrete id; empty: the tier's model
  std::string system;             // the client's system prompt (normalized like `message`)
  bool cache_system = false;      // the client marked it for provider prompt caching
  std::vector<ChatTurn> history;  // the turns before `message`, oldest first
  int max_tokens = 0;             // 0: the configured budget
  std::optional<float> temperature;  // sampling parameters; not money
  std::optional<float> top_p;
  std::vector<std::string> stop;
  DeltaSink* sink = nullptr;      // non-null: stream the answer here as it is produced

  // US-08 identity: the credential presented (`Authorization: Bearer` or `X-Api-Key` on /v1/*),
  // which `admit` resolves to a key name, tenant and tier and then clears.
  std::string api_key;
  std::string key_name;           // the authenticated key's name; empty for a guest

  // Annotations (set by stages).
  Lang lang = Lang::kEn;
  // PII redactions made by `normalize`, indexed by privacy::PiiType: counts, never values.
  std::array<uint16_t, kRedactionTypeCount> redactions{};
  std::string intent;             // empty until an intent stage runs; "uncertain" below threshold
  float intent_confidence = 0;    // a probability in [0,1]
  // US-02: the classifier version (model content hash) that produced `intent` ("" when no intent
  // stage ran), where the label came from ("session" | "rule" | "model"; static strings), and
  // the catalog title the conversation is about (inherited by follow-ups like "and vol 2?").
  std::string intent_version;
  std::string_view intent_source;
  std::string intent_title;
  int degraded_level = 0;         // US-08 degradation ladder level 0..3
  // US-08 traffic control: what `reserve` decided and holds, for `call` and `settle`.
  struct Traffic {
    bool llm_allowed = true;        // false: answered without a model (level 3, the cap)
    bool tier_floor = false;        // model_tier_floor=haiku applies to this request
    bool rag_bypass_aggressive = false;
    bool suspend_scale_in = false;
    bool over_budget = false;       // a daily cap refused this request's hold
    std::string alias;              // the alias the hold was sized for; `call` answers with it
    Money held;                     // the hold, settled to the actual cost by `settle`
    int64_t held_tokens = 0;        // tokens taken from token limits (corrected by `settle`)
    // The store's hold (caps, limits, day) until `settle`; type-erased (core cannot name it).
    std::shared_ptr<void> hold;
  } traffic;
  // Headers for the response whatever its outcome (RateLimit-*, Retry-After).
  std::vector<std::pair<std::string, std::string>> response_headers;
  Route route = Route::kNone;
  std::string answer;
  bool answered = false;          // a stage produced the answer; later answer stages skip
  CostLines cost;
  Money baseline;                 // counterfactual baseline cost of this message (US-07)
  // The LLM call's outcome (the `call` stage), also when it failed or the client left.
  int64_t estimated_input_tokens = 0;  // the calibrated pre-call estimate of the prompt
  std::string provider;           // the `providers:` key of the alias called
  std::string model;              // the provider model that answered (after fallback)
  TokenUsage usage;               // provider-reported; estimated for a cut stream
  std::string finish_reason;      // stop | length | stop_sequence | error | cancelled
  int llm_attempts = 0;
  bool client_gone = false;       // a streaming client disconnected mid-answer
  // The exact response cache (US-03): the `cache` stage's key for this request ("" = not
  // cacheable; `cache_fill` stores the answer under it) and, on a hit, what the original call
  // consumed and paid — the event attributes that avoided cost to US-03.
  std::string response_cache_key;
  // Held while this request is the one computing an answer other identical requests wait for;
  // released (waking them) when `cache_fill` has stored it, or when the request ends.
  // shared_ptr<void>: a type-erased RAII token from the cache stage, which core cannot name.
  std::shared_ptr<void> response_cache_flight;
  Route cached_route = Route::kNone;
  TokenUsage cached_usage;
  CostLines cached_cost;

  // Time.
  const Clock* clock = &SystemClock();
  int64_t start_mono_ns = 0;
  // Set by the pipeline as it runs: each stage's time (µs, stage order; names are the stages'
  // own, which outlive every request) and the outcome so far, for the stages that run after a
  // failure (recording).
  std::vector<std::pair<std::string_view, int64_t>> stage_latency_us;
  int outcome_code = 0;  // absl::StatusCode of the first failure; 0 (OK) so far
};

}  // namespace mangaassist::core
