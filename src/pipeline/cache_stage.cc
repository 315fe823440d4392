// The exact response cache (SPEC §2 stage 6, US-03): two stages over the llmresp: keyspace.
//   `cache` (before `call`): builds the request's key (cache/response_key.h) from the normalized,
//     redacted prompt and every versioned input, and on a hit answers with route `cache` at zero
//     LLM cost — streamed through ctx.sink like a live answer when the client asked for a
//     stream — recording what the original call paid (ctx.cached_*) for US-03's savings.
//   `cache_fill` (after `call`): stores a complete answer with its usage and cost under that key,
//     for the intent's TTL (after a failure it stores nothing and only wakes the waiters).
// Never cached: failures, truncated (`length`),
// cancelled or cut streams, answers from a fallback model, answers of personal intents
// (cache.response.personal_intents), and answers above cache.response.max_answer_bytes.
// Messages about the customer's own orders, payments or account (cache.response.personal_cues,
// or any redacted PII) are shared only with the same user, whatever their intent label.
// A cache that is down or slow is a miss, never a failed request.
//
// Stampede protection: concurrent misses on one key in this process are coalesced — the first
// (the leader) calls the model, the others wait up to cache.response.coalesce_wait for its answer
// to be stored and are then served from cache; if the leader fails or is slower, they call.
// clang-format off
#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).
// clang-format on

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "cache/cache.h"
#include "core/bounded_memo.h"
#include "cache/cached_response.h"
#include "cache/response_key.h"
#include "core/delta_sink.h"
#include "core/metrics.h"
#include "core/strings.h"
#include "llm/models.h"
#include "pipeline/stage_registry.h"
#include "re2/set.h"
#include "spdlog/spdlog.h"

namespace mangaassist::pipeline {
namespace {

// A cached answer goes to a streaming client in pieces of at most this many bytes, cut on
// UTF-8 character boundaries.
constexpr size_t kStreamPieceBytes = 128;

// The stages' metrics, declared together (null pointers when there is no registry).
struct ResponseCacheMetrics {
  core::Counter* hit = nullptr;  // mangaassist_response_cache_lookups_total{result}
  core::Counter* miss = nullptr;
  core::Counter* bypass = nullptr;  // not cacheable: personal intent, unknown model
  core::Counter* stored = nullptr;  // mangaassist_response_cache_stores_total{result}
  core::Counter* not_cacheable = nullptr;
  core::Counter* store_error = nullptr;
  core::Counter* saved = nullptr;      // mangaassist_response_cache_saved_nano_usd_total
  core::Counter* coalesced = nullptr;  // mangaassist_response_cache_coalesced_total{result}
  core::Counter* coalesce_timeout = nullptr;

  explicit ResponseCacheMetrics(core::Registry* r) {
    if (r == nullptr) return;
    auto lookup = [r](const char* result) {
      return &r->GetCounter("mangaassist_response_cache_lookups_total",
                            "Exact response cache lookups by result", {{"result", result}});
    };
    auto store = [r](const char* result) {
      return &r->GetCounter("mangaassist_response_cache_stores_total",
                            "Answers offered to the exact response cache, by result",
                            {{"result", result}});
    };
    hit = lookup("hit");
    miss = lookup("miss");
    bypass = lookup("bypass");
    stored = store("stored");
    not_cacheable = store("not_cacheable");
    store_error = store("error");
    coalesced = &r->GetCounter("mangaassist_response_cache_coalesced_total",
                               "Misses that waited for an identical request's answer",
                               {{"result", "woken"}});
    coalesce_timeout = &r->GetCounter("mangaassist_response_cache_coalesced_total",
                                      "Misses that waited for an identical request's answer",
                                      {{"result", "timeout"}});
    saved =
        &r->GetCounter("mangaassist_response_cache_saved_nano_usd_total",
                       "LLM cost avoided by cache hits (what the original calls paid), nano-USD");
  }
};

void Inc(core::Counter* c, int64_t n = 1) {
  if (c != nullptr && n > 0) c->Inc(n);
}

// The answers being computed right now, by response key. Thread-safe.
class Flights {
 public:
  using Timer = boost::asio::steady_timer;
  struct Flight {
    absl::Mutex mu;
    bool done ABSL_GUARDED_BY(mu) = false;
    // shared_ptr: a timer is owned by its waiting coroutine and by the wake-up posted to it.
    std::vector<std::shared_ptr<Timer>> waiters ABSL_GUARDED_BY(mu);
  };

  // The key's flight and whether the caller leads it (it must then Finish() it).
  // shared_ptr: the map, the leader's token and each waiter hold the flight.
  std::pair<std::shared_ptr<Flight>, bool> Join(const std::string& key) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto [it, inserted] = flights_.try_emplace(key);
    if (inserted) it->second = std::make_shared<Flight>();
    return {it->second, inserted};
  }

  // Ends the flight and wakes its waiters on their own executors.
  void Finish(const std::string& key, const std::shared_ptr<Flight>& flight)
      ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      if (auto it = flights_.find(key); it != flights_.end() && it->second == flight)
        flights_.erase(it);
    }
    std::vector<std::shared_ptr<Timer>> waiters;
    {
      absl::MutexLock lock(&flight->mu);
      flight->done = true;
      waiters.swap(flight->waiters);
    }
    for (auto& t : waiters) boost::asio::post(t->get_executor(), [t] { t->cancel(); });
  }

  // Registers a waiter; false when the flight has already ended.
  static bool Wait(Flight& flight, std::shared_ptr<Timer> timer) {
    absl::MutexLock lock(&flight.mu);
    if (flight.done) return false;
    flight.waiters.push_back(std::move(timer));
    return true;
  }

  // Forgets a waiter that stopped waiting (timed out), so Finish() never posts to an executor
  // that may be gone by then.
  static void Unwait(Flight& flight, const std::shared_ptr<Timer>& timer) {
    absl::MutexLock lock(&flight.mu);
    auto& w = flight.waiters;
    w.erase(std::remove(w.begin(), w.end(), timer), w.end());
  }

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<Flight>> flights_ ABSL_GUARDED_BY(mu_);
};

// The leader's token: finishes its flight when released (after the store, or with the request).
class FlightToken {
 public:
  FlightToken(std::shared_ptr<Flights> flights, std::string key,
              std::shared_ptr<Flights::Flight> flight)
      : flights_(std::move(flights)), key_(std::move(key)), flight_(std::move(flight)) {}
  ~FlightToken() { flights_->Finish(key_, flight_); }
  FlightToken(const FlightToken&) = delete;
  FlightToken& operator=(const FlightToken&) = delete;

 private:
  std::shared_ptr<Flights> flights_;
  std::string key_;
  std::shared_ptr<Flights::Flight> flight_;
};

// What both stages share: the configuration, the tier, the models, and the key.
class ResponseCache {
 public:
  // REQUIRES: `personal_cues` compiled from config.cache.response.personal_cues (or null when
  // the list is empty).
  ResponseCache(const core::Config& config, cache::Cache* tier, const llm::Models* models,
                core::Registry* metrics, std::unique_ptr<const RE2::Set> personal_cues)
      : call_(config.call),
        config_(config.cache.response),
        tier_(tier),
        models_(models),
        metrics_(metrics),
        personal_cues_(std::move(personal_cues)) {}

  bool Personal(std::string_view intent) const {
    if (intent.empty()) return false;
    const auto& p = config_.personal_intents;
    return std::find(p.begin(), p.end(), intent) != p.end();
  }

  // Whose answers this request may share (ResponseKeyInputs::user_scope). Without a known
  // intent nobody can tell "where is my order" from a catalog question, so by default such
  // answers are shared only with the same user (or the same session for anonymous guests).
  // nullopt: not cacheable at all (unknown intent, user scope, and neither id).
  // A message about the customer's own orders, payments or account (a personal cue, or PII
  // that `normalize` redacted) is kept to the same user whatever its intent label says.
  std::optional<std::string_view> UserScope(const core::RequestContext& ctx) const {
    const bool unknown = ctx.intent.empty() || ctx.intent == "uncertain";
    if ((!unknown || config_.unknown_intent_scope == "tenant") && !PersonalMessage(ctx)) {
      return std::string_view();
    }
    if (!ctx.user_id.empty()) return std::string_view(ctx.user_id);
    if (!ctx.session_id.empty()) return std::string_view(ctx.session_id);
    return std::nullopt;
  }

  // The alias entry the `call` stage will use (same rule: the client's model, else the tier's).
  const llm::ModelEntry* Entry(const core::RequestContext& ctx) const {
    return models_->Find(call_.AliasFor(ctx.tier, ctx.requested_model));
  }

  std::string_view ModelVersion(std::string_view model) const {
    auto it = config_.model_versions.find(model);
    return it == config_.model_versions.end() ? std::string_view() : std::string_view(it->second);
  }

  // `user_scope`: UserScope(ctx), which must have a value (the caller checked it).
  std::string Key(const core::RequestContext& ctx, const llm::ModelEntry& entry,
                  std::string_view user_scope) const {
    cache::ResponseKeyInputs in;
    in.tenant = ctx.tenant;
    in.user_scope = user_scope;
    in.locale = ctx.locale;
    in.lang = ctx.lang;
    in.provider = entry.provider_name;
    in.model = entry.model;
    in.model_version = ModelVersion(entry.model);
    in.prompt_template_version = config_.prompt_template_version;
    // US-02: the classifier that labelled the request (a new model must not reuse answers
    // keyed by labels an older one gave).
    in.classifier_version = ctx.intent.empty() ? std::string_view() : ctx.intent_version;
    in.intent = ctx.intent;
    in.system_prompt =
        ctx.compat ? std::string_view(ctx.system) : std::string_view(call_.system_prompt);
    in.history = &ctx.history;
    in.message = ctx.message;
    in.max_tokens = ctx.max_tokens > 0 ? ctx.max_tokens : call_.max_tokens;
    in.temperature = ctx.temperature;
    in.top_p = ctx.top_p;
    in.stop = &ctx.stop;
    return cache::ResponseCacheKey(in);
  }

  absl::Duration Ttl(std::string_view intent) const {
    auto it = config_.ttl_by_intent.find(intent);
    return it == config_.ttl_by_intent.end() ? config_.default_ttl : it->second;
  }

  bool PersonalMessage(const core::RequestContext& ctx) const {
    for (uint16_t n : ctx.redactions) {
      if (n > 0) return true;
    }
    // Whether any cue matches (no indices wanted: no match set to build).
    return personal_cues_ != nullptr && personal_cues_->Match(ctx.message, nullptr);
  }

  const core::ResponseCacheConfig& config() const { return config_; }
  cache::Cache& tier() const { return *tier_; }
  const ResponseCacheMetrics& metrics() const { return metrics_; }

 private:
  const core::CallConfig call_;
  const core::ResponseCacheConfig config_;
  cache::Cache* tier_;
  const llm::Models* models_;
  ResponseCacheMetrics metrics_;
  std::unique_ptr<const RE2::Set> personal_cues_;
};

// The longest prefix of `s` of at most `max` bytes that ends on a character boundary (at least
// one whole character).
size_t PieceLength(std::string_view s, size_t max) {
  if (s.size() <= max) return s.size();
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  if (n == 0) {  // one character longer than `max` (cannot happen with UTF-8 and max ≥ 4)
    n = 1;
    while (n < s.size() && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) ++n;
  }
  return n;
}

class CacheStage final : public Stage {
 public:
  explicit CacheStage(std::unique_ptr<const ResponseCache> rc)
      : rc_(std::move(rc)), flights_(std::make_shared<Flights>()) {}
  std::string_view name() const override { return "cache"; }

  boost::asio::awaitable<absl::Status> Run(core::RequestContext& ctx) override {
    const ResponseCacheMetrics& m = rc_->metrics();
    const llm::ModelEntry* entry = rc_->Entry(ctx);
    std::optional<std::string_view> scope;
    if (entry == nullptr || rc_->Personal(ctx.intent) || !(scope = rc_->UserScope(ctx))) {
      Inc(m.bypass);  // an unknown model fails in `call` with the proper error
      co_return absl::OkStatus();
    }
    ctx.response_cache_key = rc_->Key(ctx, *entry, *scope);
    std::optional<cache::CachedResponse> hit = Lookup(ctx);
    const absl::Duration wait = rc_->config().coalesce_wait;
    if (!hit.has_value() && wait > absl::ZeroDuration()) {
      auto [flight, leader] = flights_->Join(ctx.response_cache_key);
      if (leader) {
        ctx.response_cache_flight =
            std::make_shared<FlightToken>(flights_, ctx.response_cache_key, flight);
      } else {
        // Someone is computing this answer: wait for it rather than pay for it twice.
        auto timer = std::make_shared<Flights::Timer>(co_await boost::asio::this_coro::executor,
                                                      absl::ToChronoNanoseconds(wait));
        if (Flights::Wait(*flight, timer)) {
          boost::system::error_code ec;
          co_await timer->async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
          if (!ec) Flights::Unwait(*flight, timer);  // timed out: the leader is still at work
          Inc(ec ? m.coalesced : m.coalesce_timeout);
        } else {
          Inc(m.coalesced);
        }
        hit = Lookup(ctx);
      }
    }
    if (!hit.has_value()) {
      Inc(m.miss);
      co_return absl::OkStatus();
    }
    Inc(m.hit);
    ctx.route = core::Route::kCache;
    ctx.model = std::move(hit->model);
    ctx.provider.clear();  // no provider was called
    ctx.usage = {};
    ctx.finish_reason = std::move(hit->finish_reason);
    ctx.cached_route = hit->route;
    ctx.cached_usage = hit->usage;
    ctx.cached_cost = {};
    ctx.cached_cost.Add(core::CostComponent::kLlmInput, hit->llm_input);
    ctx.cached_cost.Add(core::CostComponent::kLlmOutput, hit->llm_output);
    ctx.cached_cost.Add(core::CostComponent::kLlmCacheRead, hit->llm_cache_read);
    ctx.cached_cost.Add(core::CostComponent::kLlmCacheWrite, hit->llm_cache_write);
    Inc(m.saved, ctx.cached_cost.Total().nanos());
    ctx.answer = std::move(hit->answer);
    if (ctx.sink != nullptr) {
      std::string_view rest = ctx.answer;
      while (!rest.empty()) {
        const size_t n = PieceLength(rest, kStreamPieceBytes);
        if (!co_await ctx.sink->OnDelta(rest.substr(0, n))) {
          ctx.client_gone = true;
          ctx.finish_reason = "cancelled";
          co_return absl::CancelledError("the client went away mid-stream");
        }
        rest.remove_prefix(n);
      }
    }
    ctx.answered = true;
    co_return absl::OkStatus();
  }

 private:
  // The entry for ctx's key, if there is a readable one (an unreadable one is dropped).
  std::optional<cache::CachedResponse> Lookup(const core::RequestContext& ctx) const {
    absl::StatusOr<std::string> bytes =
        rc_->tier().Get(cache::Keyspace::kLlmResp, ctx.response_cache_key);
    if (!bytes.ok()) return std::nullopt;
    if (auto memoized = decoded_.Find(ctx.response_cache_key, *bytes)) return memoized;
    absl::StatusOr<cache::CachedResponse> hit = cache::DecodeCachedResponse(*bytes);
    if (hit.ok()) decoded_.Put(ctx.response_cache_key, *std::move(bytes), *hit);
    if (!hit.ok()) {
      spdlog::warn("[{}] response cache: dropping an unreadable entry: {}", ctx.request_id,
                   hit.status().ToString());
      (void)rc_->tier().Delete(cache::Keyspace::kLlmResp, ctx.response_cache_key);
      return std::nullopt;
    }
    return *std::move(hit);
  }

  std::unique_ptr<const ResponseCache> rc_;
  // shared_ptr: leaders' tokens (in their contexts) may outlive a request's view of the stage.
  std::shared_ptr<Flights> flights_;
  // Hot entries decoded once (any other bytes — a refill, another replica's write — are decoded
  // afresh). Values up to 4 KiB, 2,048 entries: at most 16 MiB with their bytes.
  mutable core::DecodedMemo<cache::CachedResponse> decoded_{2048, 4096};
};

class CacheFillStage final : public SyncStage {
 public:
  CacheFillStage(std::unique_ptr<const ResponseCache> rc, const core::Clock* clock)
      : rc_(std::move(rc)), clock_(clock) {}
  std::string_view name() const override { return "cache_fill"; }
  // Also after a failure: then it only wakes the requests waiting for this one's answer.
  RunPolicy policy() const override { return RunPolicy::kAlways; }

  absl::Status RunSync(core::RequestContext& ctx) override {
    if (ctx.outcome_code != 0) {
      ctx.response_cache_flight.reset();
      return absl::OkStatus();
    }
    if (ctx.response_cache_key.empty() || ctx.route == core::Route::kCache)
      return absl::OkStatus();
    const ResponseCacheMetrics& m = rc_->metrics();
    if (!Cacheable(ctx)) {
      ctx.response_cache_flight.reset();  // nothing to wait for: the waiters call themselves
      Inc(m.not_cacheable);
      return absl::OkStatus();
    }
    cache::CachedResponse r;
    r.answer = ctx.answer;
    r.model = ctx.model;
    r.route = ctx.route;
    r.finish_reason = ctx.finish_reason.empty() ? "stop" : ctx.finish_reason;
    r.usage = ctx.usage;
    r.llm_input = ctx.cost.Get(core::CostComponent::kLlmInput);
    r.llm_output = ctx.cost.Get(core::CostComponent::kLlmOutput);
    r.llm_cache_read = ctx.cost.Get(core::CostComponent::kLlmCacheRead);
    r.llm_cache_write = ctx.cost.Get(core::CostComponent::kLlmCacheWrite);
    r.created_unix_ms = absl::ToUnixMillis(clock_->Now());
    absl::Status st = rc_->tier().Set(cache::Keyspace::kLlmResp, ctx.response_cache_key,
                                      cache::EncodeCachedResponse(r), rc_->Ttl(ctx.intent));
    ctx.response_cache_flight.reset();  // stored: wake the identical requests waiting for it
    if (st.ok()) {
      Inc(m.stored);
    } else {
      Inc(m.store_error);
      spdlog::debug("[{}] response cache: not stored: {}", ctx.request_id, st.ToString());
    }
    return absl::OkStatus();  // a cache that cannot store never fails the request
  }

 private:
  bool Cacheable(const core::RequestContext& ctx) const {
    if (!ctx.answered || ctx.client_gone || ctx.outcome_code != 0) return false;
    if (ctx.route != core::Route::kHaiku && ctx.route != core::Route::kSonnet &&
        ctx.route != core::Route::kExtractive) {
      return false;  // templates are cheaper to recompute; nothing else is an answer
    }
    // Only complete answers: `length` is truncated, error/cancelled are cut.
    if (!ctx.finish_reason.empty() && ctx.finish_reason != "stop" &&
        ctx.finish_reason != "stop_sequence") {
      return false;
    }
    if (rc_->Personal(ctx.intent)) return false;  // an intent stage after `cache` may set it
    if (!rc_->UserScope(ctx).has_value()) return false;
    if (ctx.answer.size() > rc_->config().max_answer_bytes) return false;
    // A fallback model's answer must not stand in for the primary's for a whole TTL.
    const llm::ModelEntry* entry = rc_->Entry(ctx);
    if (entry == nullptr || (!ctx.model.empty() && ctx.model != entry->model)) return false;
    return true;
  }

  std::unique_ptr<const ResponseCache> rc_;
  const core::Clock* clock_;
};

// The two stages come as a pair: `cache`, then an answering stage, then `cache_fill`.
absl::Status CheckOrder(const std::vector<std::string>& stages) {
  auto pos = [&stages](std::string_view name) {
    return static_cast<size_t>(std::find(stages.begin(), stages.end(), name) - stages.begin());
  };
  const size_t lookup = pos("cache"), fill = pos("cache_fill"), n = stages.size();
  const size_t answer = std::min(pos("call"), pos("respond"));
  if (lookup == n || fill == n || answer == n || !(lookup < answer && answer < fill)) {
    return absl::InvalidArgumentError(
        "the response cache needs `cache` before the answering stage (`call` or `respond`) and "
        "`cache_fill` after it, e.g. [admit, normalize, cache, call, cache_fill, record]");
  }
  return absl::OkStatus();
}

// One RE2 set of cache.response.personal_cues, case-insensitive (null for an empty list).
absl::StatusOr<std::unique_ptr<const RE2::Set>> CompilePersonalCues(
    const std::vector<std::string>& cues) {
  if (cues.empty()) return nullptr;
  RE2::Options opt;
  opt.set_case_sensitive(false);
  opt.set_log_errors(false);
  auto set = std::make_unique<RE2::Set>(opt, RE2::UNANCHORED);
  for (size_t i = 0; i < cues.size(); ++i) {
    std::string error;
    if (set->Add(cues[i], &error) < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("cache.response.personal_cues[", i, "]: not a valid RE2 pattern: ", error));
    }
  }
  if (!set->Compile()) {
    return absl::ResourceExhaustedError("cache.response.personal_cues: too large to compile");
  }
  return set;
}

// Each stage of the pair holds its own (immutable) copy; their metrics are the same series.
absl::StatusOr<std::unique_ptr<const ResponseCache>> MakeResponseCache(Services* services) {
  if (services->cache == nullptr || services->models == nullptr) {
    return absl::FailedPreconditionError("the cache tier and the models must be configured");
  }
  if (absl::Status s = CheckOrder(services->config->pipeline.stages); !s.ok()) return s;
  auto cues = CompilePersonalCues(services->config->cache.response.personal_cues);
  if (!cues.ok()) return cues.status();
  return std::make_unique<const ResponseCache>(*services->config, services->cache.get(),
                                               services->models.get(), services->metrics,
                                               *std::move(cues));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Stage>> MakeCacheStage(Services* services) {
  auto rc = MakeResponseCache(services);
  if (!rc.ok()) return rc.status();
  return std::make_unique<CacheStage>(*std::move(rc));
}

absl::StatusOr<std::unique_ptr<Stage>> MakeCacheFillStage(Services* services) {
  auto rc = MakeResponseCache(services);
  if (!rc.ok()) return rc.status();
  return std::make_unique<CacheFillStage>(*std::move(rc), services->clock);
}

}  // namespace mangaassist::pipeline
