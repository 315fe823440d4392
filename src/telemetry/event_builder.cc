#include "telemetry/event_builder.h"

#include <cstdlib>
#include <cstring>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "core/status.h"
#include "openssl/evp.h"

namespace mangaassist::telemetry {
namespace {

constexpr size_t kBlock = 64;  // SHA-256 block size
constexpr size_t kDigest = 32;
constexpr size_t kHashBytes = 16;  // bytes of the MAC kept in the event

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

// OpenSSL failing on SHA-256 over memory means a broken library: cannot happen, so crash.
void Check(int ok) {
  if (ok != 1) std::abort();
}

}  // namespace

// HMAC (RFC 2104) with the two padded-key blocks absorbed once.
struct IdHasher::State {
  MdCtx inner{EVP_MD_CTX_new()};
  MdCtx outer{EVP_MD_CTX_new()};
};

IdHasher::~IdHasher() = default;

std::unique_ptr<IdHasher> IdHasher::Create(std::string_view key) {
  if (key.empty()) std::abort();  // REQUIRES violated: an unkeyed hash of ids is reversible
  unsigned char k[kBlock] = {};
  if (key.size() > kBlock) {
    unsigned int n = 0;
    Check(EVP_Digest(key.data(), key.size(), k, &n, EVP_sha256(), nullptr));
  } else {
    std::memcpy(k, key.data(), key.size());
  }
  unsigned char ipad[kBlock], opad[kBlock];
  for (size_t i = 0; i < kBlock; ++i) {
    ipad[i] = k[i] ^ 0x36;
    opad[i] = k[i] ^ 0x5c;
  }
  auto h = std::unique_ptr<IdHasher>(new IdHasher());
  h->state_ = std::make_unique<State>();
  if (!h->state_->inner || !h->state_->outer) std::abort();
  Check(EVP_DigestInit_ex(h->state_->inner.get(), EVP_sha256(), nullptr));
  Check(EVP_DigestUpdate(h->state_->inner.get(), ipad, kBlock));
  Check(EVP_DigestInit_ex(h->state_->outer.get(), EVP_sha256(), nullptr));
  Check(EVP_DigestUpdate(h->state_->outer.get(), opad, kBlock));
  std::memset(k, 0, sizeof k);
  std::memset(ipad, 0, sizeof ipad);
  std::memset(opad, 0, sizeof opad);
  return h;
}

std::string IdHasher::Hash(std::string_view id) const {
  if (id.empty()) return std::string();
  thread_local MdCtx scratch{EVP_MD_CTX_new()};
  if (!scratch) std::abort();
  unsigned char inner[kDigest], mac[kDigest];
  unsigned int n = 0;
  Check(EVP_MD_CTX_copy_ex(scratch.get(), state_->inner.get()));
  Check(EVP_DigestUpdate(scratch.get(), id.data(), id.size()));
  Check(EVP_DigestFinal_ex(scratch.get(), inner, &n));
  Check(EVP_MD_CTX_copy_ex(scratch.get(), state_->outer.get()));
  Check(EVP_DigestUpdate(scratch.get(), inner, kDigest));
  Check(EVP_DigestFinal_ex(scratch.get(), mac, &n));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * kHashBytes, '0');
  for (size_t i = 0; i < kHashBytes; ++i) {
    out[2 * i] = kHex[mac[i] >> 4];
    out[2 * i + 1] = kHex[mac[i] & 0xf];
  }
  return out;
}

CostEventCapture CaptureCostEvent(const core::RequestContext& ctx) {
  CostEventCapture c;
  CostEvent& e = c.event;
  e.request_id = ctx.request_id;
  const core::Clock& clock = ctx.clock != nullptr ? *ctx.clock : core::SystemClock();
  e.ts_unix_ms = absl::ToUnixMillis(clock.Now());
  if (ctx.start_mono_ns > 0) {
    e.latency_us = (clock.MonotonicNanos() - ctx.start_mono_ns) / 1000;
  }
  e.tenant = ctx.tenant;
  e.tier = ctx.tier;
  e.lang = ctx.lang;
  e.intent = ctx.intent;
  e.intent_confidence = ctx.intent_confidence;
  e.intent_version = ctx.intent_version;
  e.route = ctx.route;
  e.provider = ctx.provider;
  e.model = ctx.model;
  e.usage = ctx.usage;
  e.degraded_level = ctx.degraded_level;
  e.http_status = ctx.outcome_code == 0
                      ? 200
                      : core::HttpStatusFor(static_cast<absl::StatusCode>(ctx.outcome_code));
  e.stage_latency_us.reserve(ctx.stage_latency_us.size());
  for (const auto& [name, us] : ctx.stage_latency_us) e.stage_latency_us.emplace_back(name, us);
  e.redactions = ctx.redactions;
  for (size_t i = 0; i < kCostComponentCount; ++i) {
    e.cost[i] = ctx.cost.Get(static_cast<core::CostComponent>(i));
  }
  c.user_id = ctx.user_id;
  c.session_id = ctx.session_id;
  c.message = ctx.message;
  c.history_turns = static_cast<int64_t>(ctx.history.size());
  c.cached_route = ctx.route == core::Route::kCache ? ctx.cached_route : core::Route::kNone;
  c.cached_usage = ctx.cached_usage;
  c.cached_cost = ctx.cached_cost;
  return c;
}

const BaselineCost* ComputeCapturedBaseline(CostEventCapture& c, const EventBuilderOptions& o) {
  if (o.baseline == nullptr) return nullptr;
  if (!c.baseline.has_value()) {
    BaselineInput in;
    in.message_tokens =
        o.count_tokens ? o.count_tokens(c.message, c.event.lang) : RoughTokenCount(c.message);
    in.history_turns = c.history_turns;
    in.intent = c.event.intent;
    in.lang = c.event.lang;
    c.baseline = o.baseline->CostOf(in);
  }
  return &*c.baseline;
}

CostEvent CompleteCostEvent(CostEventCapture c, const EventBuilderOptions& o) {
  CostEvent& e = c.event;
  e.user_hash = o.hasher->Hash(c.user_id);
  e.session_hash = o.hasher->Hash(c.session_id);
  if (o.baseline != nullptr) {
    const BaselineCost& b = *ComputeCapturedBaseline(c, o);
    e.baseline = b.total;
    for (size_t i = 0; i < kCostComponentCount; ++i) {
      e.baseline_cost[i] = b.lines.Get(static_cast<core::CostComponent>(i));
    }
    core::CostLines actual;
    for (size_t i = 0; i < kCostComponentCount; ++i) {
      actual.Add(static_cast<core::CostComponent>(i), e.cost[i]);
    }
    SavingsInput s;
    s.degraded_level = e.degraded_level;
    if (c.cached_route == core::Route::kNone) {
      s.actual_at_baseline_model = o.baseline->AtBaselineModel(e.usage);
      e.savings = AttributeSavings(b, actual, e.route, s);
    } else {
      // US-03: an exact cache hit avoided the original call. Attribute as if that call had
      // been made (routing, prompt and answer-length savings go where they would have gone),
      // then credit the call's own LLM cost to US-03. The sum stays baseline - actual.
      s.actual_at_baseline_model = o.baseline->AtBaselineModel(c.cached_usage);
      for (core::CostComponent k : {core::CostComponent::kLlmInput, core::CostComponent::kLlmOutput,
                                    core::CostComponent::kLlmCacheRead,
                                    core::CostComponent::kLlmCacheWrite}) {
        actual.Add(k, c.cached_cost.Get(k));
      }
      e.savings = AttributeSavings(b, actual, c.cached_route, s);
      e.savings[static_cast<size_t>(Story::kUs03)] += c.cached_cost.Total();
    }
  }
  return std::move(c.event);
}

CostEvent BuildCostEvent(const core::RequestContext& ctx, const EventBuilderOptions& o) {
  return CompleteCostEvent(CaptureCostEvent(ctx), o);
}

}  // namespace mangaassist::telemetry
