#include "control/flags.h"

#include <algorithm>
#include <cstring>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "control/flag_sources.h"
#include "spdlog/spdlog.h"

namespace mangaassist::control {
namespace {

using internal::FlagValues;

absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

constexpr std::string_view kStoryPrefixes[kStoryCount] = {"us01", "us02", "us03", "us04",
                                                          "us05", "us06", "us07", "us08"};

std::vector<FlagInfo> BuildRegistry() {
  using enum FlagKind;
  std::vector<FlagInfo> r = {
      {"degradation_active", kDegradation, Story::kUS08, false, false,
       "Kill switch: force the degradation ladder to at least level 2 (haiku floor, aggressive "
       "RAG bypass, template-only guests, scale-in suspended); overrides every story flag"},
      {"cost_circuit_breaker_enabled", kBreaker, Story::kUS08, true, false,
       "false disables the cost circuit breaker only (it computes level 0); emergency override"},
  };
  static constexpr const char* kStoryTitles[kStoryCount] = {"US-01 LLM token optimization",
                                                            "US-02 intent classifier",
                                                            "US-03 caching",
                                                            "US-04 compute",
                                                            "US-05 session state lifecycle",
                                                            "US-06 RAG / embeddings",
                                                            "US-07 analytics pipeline",
                                                            "US-08 traffic-based cost control"};
  static const std::string* story_names = [] {
    auto* names = new std::string[kStoryCount];
    for (size_t i = 0; i < kStoryCount; ++i) {
      names[i] = absl::StrCat(Absl(kStoryPrefixes[i]), "_optimization_enabled");
    }
    return names;
  }();
  static const std::string* story_descriptions = [] {
    auto* d = new std::string[kStoryCount];
    for (size_t i = 0; i < kStoryCount; ++i) {
      d[i] = absl::StrCat("false reverts ", kStoryTitles[i],
                          " to its pre-optimization baseline (every technique of the story off)");
    }
    return d;
  }();
  for (size_t i = 0; i < kStoryCount; ++i) {
    r.push_back(
        {story_names[i], kStory, static_cast<Story>(i), true, false, story_descriptions[i]});
  }
  const FlagInfo techniques[] = {
      {"us01.template_router_enabled", kTechnique, Story::kUS01, true, true,
       "answer high-precision intents from EN/JA templates and tools, no LLM call"},
      {"us01.tier_routing_enabled", kTechnique, Story::kUS01, true, true,
       "route template / haiku / sonnet by intent, confidence, complexity and tier"},
      {"us01.prompt_compression_enabled", kTechnique, Story::kUS01, true, false,
       "history window, rolling summary, chunk de-duplication, per-intent token budgets"},
      {"us01.provider_prompt_caching_enabled", kTechnique, Story::kUS01, true, false,
       "mark the stable system prompt for provider prompt caching"},
      {"us02.session_intent_cache_enabled", kTechnique, Story::kUS02, true, false,
       "reuse the session's intent instead of classifying again"},
      {"us03.response_cache_enabled", kTechnique, Story::kUS03, true, false,
       "exact response cache"},
      {"us03.semantic_cache_enabled", kTechnique, Story::kUS03, true, false,
       "semantic response cache"},
      {"us04.compute_spot_enabled", kTechnique, Story::kUS04, true, false,
       "recommend Spot capacity in the capacity advisor"},
      {"us05.session_ttl_enabled", kTechnique, Story::kUS05, true, false,
       "session-state TTLs and lifecycle"},
      {"us06.rag_bypass_enabled", kTechnique, Story::kUS06, true, true,
       "skip retrieval for intents that need none"},
      {"us06.embedding_cache_enabled", kTechnique, Story::kUS06, true, false,
       "cache query embeddings"},
      {"us07.event_sampling_enabled", kTechnique, Story::kUS07, true, false,
       "sample non-cost telemetry events"},
      {"us08.rate_limits_enabled", kTechnique, Story::kUS08, true, true,
       "per-user / per-IP / per-tier rate limits"},
      {"us08.budget_enabled", kTechnique, Story::kUS08, true, true,
       "daily budget reservation and cap"},
  };
  for (const FlagInfo& t : techniques) r.push_back(t);
  return r;
}

const absl::flat_hash_map<std::string, const FlagInfo*>& RegistryIndex() {
  static const auto* index = [] {
    auto* m = new absl::flat_hash_map<std::string, const FlagInfo*>();
    for (const FlagInfo& f : FlagRegistry()) (*m)[std::string(f.name)] = &f;
    return m;
  }();
  return *index;
}

}  // namespace

std::string_view StoryPrefix(Story s) {
  size_t i = static_cast<size_t>(s);
  return i < kStoryCount ? kStoryPrefixes[i] : std::string_view("us??");
}

const std::vector<FlagInfo>& FlagRegistry() {
  static const auto* registry = new std::vector<FlagInfo>(BuildRegistry());
  return *registry;
}

const FlagInfo* FindFlag(std::string_view name) {
  const auto& index = RegistryIndex();
  auto it = index.find(Absl(name));
  return it == index.end() ? nullptr : it->second;
}

// --- FlagSnapshot -------------------------------------------------------------------------------

bool FlagSnapshot::StoryEnabled(Story s) const {
  size_t i = static_cast<size_t>(s);
  return i < kStoryCount && story_enabled[i];
}

bool FlagSnapshot::TechniqueEnabled(Story s, std::string_view technique) const {
  const std::string_view prefix = StoryPrefix(s);
  // The full name in a small buffer: no allocation on the request path.
  char buf[96];
  std::string_view full = technique;
  if (technique.find('.') == std::string_view::npos) {
    if (prefix.size() + 1 + technique.size() > sizeof buf) return false;
    std::memcpy(buf, prefix.data(), prefix.size());
    buf[prefix.size()] = '.';
    std::memcpy(buf + prefix.size() + 1, technique.data(), technique.size());
    full = std::string_view(buf, prefix.size() + 1 + technique.size());
  }
  const FlagInfo* info = FindFlag(full);
  if (info == nullptr || info->kind != FlagKind::kTechnique || info->story != s) return false;
  if (degradation_active && info->degraded_on) return true;  // precedence 1
  if (!StoryEnabled(s)) return false;                        // precedence 3
  auto it = techniques.find(Absl(full));                     // precedence 4
  return it == techniques.end() ? info->default_value : it->second;
}

int FlagSnapshot::ForcedDegradationLevel() const { return degradation_active ? 2 : 0; }

bool FlagSnapshot::BreakerEnabled() const { return cost_circuit_breaker_enabled; }

int FlagSnapshot::EffectiveDegradationLevel(int breaker_level) const {
  const int breaker = BreakerEnabled() ? breaker_level : 0;
  return std::max(breaker, ForcedDegradationLevel());
}

std::optional<bool> FlagSnapshot::Value(std::string_view name) const {
  const FlagInfo* info = FindFlag(name);
  if (info == nullptr) return std::nullopt;
  switch (info->kind) {
    case FlagKind::kDegradation:
      return degradation_active;
    case FlagKind::kBreaker:
      return cost_circuit_breaker_enabled;
    case FlagKind::kStory:
      return StoryEnabled(info->story);
    case FlagKind::kTechnique:
      break;
  }
  auto it = techniques.find(Absl(name));
  return it == techniques.end() ? info->default_value : it->second;
}

std::optional<bool> FlagSnapshot::Resolved(std::string_view name) const {
  const FlagInfo* info = FindFlag(name);
  if (info == nullptr) return std::nullopt;
  if (info->kind == FlagKind::kTechnique) return TechniqueEnabled(info->story, name);
  return Value(name);
}

FlagSnapshot SnapshotFromValues(const std::map<std::string, bool>& values) {
  FlagSnapshot s;
  for (const FlagInfo& f : FlagRegistry()) {
    auto it = values.find(std::string(f.name));
    const bool v = it == values.end() ? f.default_value : it->second;
    switch (f.kind) {
      case FlagKind::kDegradation:
        s.degradation_active = v;
        break;
      case FlagKind::kBreaker:
        s.cost_circuit_breaker_enabled = v;
        break;
      case FlagKind::kStory:
        s.story_enabled[static_cast<size_t>(f.story)] = v;
        break;
      case FlagKind::kTechnique:
        s.techniques[std::string(f.name)] = v;
        break;
    }
  }
  return s;
}

FlagSnapshot SafeDefaultsSnapshot(std::string error) {
  FlagSnapshot s = SnapshotFromValues({});
  s.degradation_active = false;           // do not over-degrade on a missing signal
  s.cost_circuit_breaker_enabled = true;  // the safety net stays
  s.story_enabled.fill(false);            // never run an unverified path
  s.source_ok = false;
  s.source_error = std::move(error);
  return s;
}

namespace {

bool SameFlags(const FlagSnapshot& a, const FlagSnapshot& b) {
  return a.degradation_active == b.degradation_active &&
         a.cost_circuit_breaker_enabled == b.cost_circuit_breaker_enabled &&
         a.story_enabled == b.story_enabled && a.techniques == b.techniques &&
         a.source_ok == b.source_ok && a.source_error == b.source_error;
}

// --- the evaluator ------------------------------------------------------------------------------

class Evaluator final : public FlagEvaluator {
 public:
  Evaluator(const core::FlagsConfig& config, std::unique_ptr<internal::FlagSource> source,
            AuditLog* audit, const core::Clock* clock, core::Registry* metrics)
      : source_name_(config.source),
        base_(config.source == "config" ? FlagValues{}
                                        : FlagValues(config.values.begin(), config.values.end())),
        poll_interval_(config.poll_interval),
        source_(std::move(source)),
        audit_(audit),
        clock_(clock != nullptr ? clock : &core::SystemClock()) {
    if (metrics != nullptr) {
      source_ok_gauge_ = &metrics->GetGauge("mangaassist_flag_source_ok",
                                            "1 while the flag source is readable and valid; 0 "
                                            "while the seed's safe defaults apply.",
                                            {{"source", source_name_}});
      source_errors_ =
          &metrics->GetCounter("mangaassist_flag_source_errors_total",
                               "Failed reads of the flag source.", {{"source", source_name_}});
      version_gauge_ = &metrics->GetGauge("mangaassist_flag_version",
                                          "Changes of the resolved flags seen by this process.");
      for (const FlagInfo& f : FlagRegistry()) {
        value_gauges_.push_back(&metrics->GetGauge("mangaassist_flag_value",
                                                   "Each flag's own value (1 true, 0 false).",
                                                   {{"flag", std::string(f.name)}}));
      }
    }
  }

  ~Evaluator() override {
    {
      absl::MutexLock lock(&stop_mu_);
      stop_ = true;
    }
    if (poller_.joinable()) poller_.join();
  }

  void StartPolling() {
    poller_ = std::thread([this] {
      absl::MutexLock lock(&stop_mu_);
      while (!stop_) {
        stop_mu_.AwaitWithTimeout(absl::Condition(&stop_), poll_interval_);
        if (stop_) break;
        stop_mu_.Unlock();
        (void)Refresh();
        stop_mu_.Lock();
      }
    });
  }

  std::shared_ptr<const FlagSnapshot> Current() const override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::ReaderMutexLock lock(&mu_);
    return current_;
  }

  absl::Status Refresh() override ABSL_LOCKS_EXCLUDED(source_mu_) {
    absl::MutexLock lock(&source_mu_);
    return RefreshLocked();
  }

  absl::Status Set(std::string_view name, bool value, const AuditContext& who) override {
    return SetMany({{std::string(name), value}}, who);
  }

  absl::Status SetMany(const std::vector<std::pair<std::string, bool>>& values,
                       const AuditContext& who) override ABSL_LOCKS_EXCLUDED(source_mu_) {
    if (values.empty()) return absl::InvalidArgumentError("no flag to set");
    FlagValues changes;
    for (const auto& [name, value] : values) {
      if (FindFlag(name) == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat("unknown flag '", name, "'"));
      }
      changes[name] = value;
    }
    FlagValues before;
    {
      absl::MutexLock lock(&source_mu_);
      auto written = source_->Write(changes);
      if (!written.ok()) {
        spdlog::warn("flags: set via {} source failed: {}", source_name_,
                     written.status().ToString());
        return written.status();
      }
      before = *std::move(written);
      (void)RefreshLocked();  // this process sees its own change at once
    }
    std::string audit_errors;
    for (const auto& [name, value] : changes) {
      bool old;
      if (auto it = before.find(name); it != before.end()) {
        old = it->second;
      } else if (auto b = base_.find(name); b != base_.end()) {
        old = b->second;
      } else {
        old = FindFlag(name)->default_value;
      }
      spdlog::warn("flags: {} {} -> {} by {} ({}) [{}]", name, old, value, who.actor, who.reason,
                   who.request_id);
      if (audit_ == nullptr) continue;
      AuditRecord r{"flag.set", name, old ? "true" : "false", value ? "true" : "false", who};
      if (auto e = audit_->Append(r); !e.ok()) {
        spdlog::error("flags: {} changed but its audit entry failed: {}", name,
                      e.status().ToString());
        absl::StrAppend(&audit_errors, audit_errors.empty() ? "" : "; ", name, ": ",
                        e.status().message());
      }
    }
    if (!audit_errors.empty()) {
      return absl::InternalError(absl::StrCat(
          "the flags were changed, but writing the audit entry failed: ", audit_errors));
    }
    return absl::OkStatus();
  }

  std::string_view source() const override { return source_name_; }

 private:
  absl::Status RefreshLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(source_mu_) {
    auto read = source_->Read();
    if (!read.ok()) {
      if (source_errors_ != nullptr) source_errors_->Inc();
      std::string error(read.status().message());
      {
        absl::ReaderMutexLock lock(&mu_);
        if (current_ == nullptr || current_->source_ok || current_->source_error != error) {
          spdlog::warn(
              "flags: {} source unavailable, safe defaults apply (every optimization "
              "off, degradation_active false): {}",
              source_name_, error);
        }
      }
      Publish(SafeDefaultsSnapshot(std::move(error)));
      return read.status();
    }
    if (!read->has_value()) return absl::OkStatus();  // unchanged
    FlagValues merged = base_;
    for (const auto& [name, value] : **read) merged[name] = value;
    Publish(SnapshotFromValues(merged));
    return absl::OkStatus();
  }

  void Publish(FlagSnapshot next) ABSL_EXCLUSIVE_LOCKS_REQUIRED(source_mu_) {
    std::shared_ptr<const FlagSnapshot> previous = Current();
    if (previous != nullptr && SameFlags(*previous, next)) return;
    if (previous != nullptr && !previous->source_ok && next.source_ok) {
      spdlog::info("flags: {} source is back", source_name_);
    }
    next.version = previous == nullptr ? 1 : previous->version + 1;
    auto published = std::make_shared<const FlagSnapshot>(std::move(next));
    {
      absl::MutexLock lock(&mu_);
      current_ = published;
    }
    if (source_ok_gauge_ != nullptr) {
      source_ok_gauge_->Set(published->source_ok ? 1 : 0);
      version_gauge_->Set(static_cast<int64_t>(published->version));
      const auto& registry = FlagRegistry();
      for (size_t i = 0; i < registry.size(); ++i) {
        value_gauges_[i]->Set(published->Value(registry[i].name).value_or(false) ? 1 : 0);
      }
    }
  }

  const std::string source_name_;
  const FlagValues base_;  // config `values` under a file or Redis source
  const absl::Duration poll_interval_;
  absl::Mutex source_mu_;  // one reader or writer of the source at a time
  std::unique_ptr<internal::FlagSource> source_ ABSL_GUARDED_BY(source_mu_);
  AuditLog* const audit_;
  [[maybe_unused]] const core::Clock* const clock_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const FlagSnapshot> current_ ABSL_GUARDED_BY(mu_);  // shared with readers
  absl::Mutex stop_mu_;
  bool stop_ ABSL_GUARDED_BY(stop_mu_) = false;
  std::thread poller_;
  core::Gauge* source_ok_gauge_ = nullptr;
  core::Counter* source_errors_ = nullptr;
  core::Gauge* version_gauge_ = nullptr;
  std::vector<core::Gauge*> value_gauges_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<FlagEvaluator>> MakeFlagEvaluator(const core::FlagsConfig& config,
                                                                 AuditLog* audit,
                                                                 const core::Clock* clock,
                                                                 core::Registry* metrics) {
  for (const auto& [name, value] : config.values) {
    if (FindFlag(name) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("flags.values: unknown flag '", name, "'"));
    }
  }
  std::unique_ptr<internal::FlagSource> source;
  if (config.source == "config") {
    source = internal::NewMemoryFlagSource(FlagValues(config.values.begin(), config.values.end()));
  } else if (config.source == "file") {
    if (config.file.empty()) return absl::InvalidArgumentError("flags.file: source: file needs it");
    source = internal::NewFileFlagSource(config.file);
  } else if (config.source == "redis") {
    if (config.redis_url.empty()) {
      return absl::InvalidArgumentError("flags.redis_url: source: redis needs it");
    }
    // Bounded so a dead Redis never stalls a poll (or a CLI call) for long.
    auto redis =
        internal::NewRedisFlagSource(config.redis_url, config.redis_key, absl::Milliseconds(250));
    if (!redis.ok()) return redis.status();
    source = *std::move(redis);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("flags.source '", config.source, "' is not one of config|file|redis"));
  }
  auto evaluator = std::make_unique<Evaluator>(config, std::move(source), audit, clock, metrics);
  (void)evaluator->Refresh();  // an unreachable source is the safe defaults, not an error
  if (config.source != "config") evaluator->StartPolling();
  return evaluator;
}

}  // namespace mangaassist::control
