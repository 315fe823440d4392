#include "replay/replay.h"

// clang-format off
#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).
// clang-format on

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <exception>
#include <future>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "core/pricing.h"
#include "core/strings.h"
#include "llm/models.h"
#include "llm/simulated/answer_lengths.h"
#include "llm/simulated/simulation.h"
#include "llm/token_count.h"
#include "llm/token_estimator.h"
#include "pipeline/intent_kpi.h"
#include "pipeline/pipeline.h"
#include "pipeline/services.h"
#include "replay/trace.h"
#include "telemetry/baseline.h"
#include "telemetry/event_builder.h"
#include "telemetry/sink.h"
#include "yaml-cpp/yaml.h"

namespace mangaassist::replay {

namespace {

namespace asio = boost::asio;
using core::CostComponent;
using core::Money;

constexpr int64_t kHourMs = 3'600'000;
constexpr int64_t kDayMs = 86'400'000;
constexpr int64_t kJstOffsetMs = 9 * kHourMs;
constexpr int kBurstClones = 10;

constexpr CostComponent kLlmLines[] = {CostComponent::kLlmInput, CostComponent::kLlmOutput,
                                       CostComponent::kLlmCacheRead, CostComponent::kLlmCacheWrite};

bool ParseRoute(std::string_view name, core::Route* out) {
  for (core::Route r : {core::Route::kTemplate, core::Route::kCache, core::Route::kSemanticCache,
                        core::Route::kExtractive, core::Route::kHaiku, core::Route::kSonnet}) {
    if (core::RouteName(r) == name) {
      *out = r;
      return true;
    }
  }
  return false;
}

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if (a % b != 0 && ((a < 0) != (b < 0))) --q;
  return q;
}

std::string JstDate(int64_t day) {
  return absl::FormatTime("%Y-%m-%d", absl::FromUnixMillis(day * kDayMs), absl::UTCTimeZone());
}

// The simulated world of one run: the plan of the message being replayed, and its clock.
class ArmSimulation final : public llm::Simulation {
 public:
  explicit ArmSimulation(core::ManualClock* clock) : clock_(clock) {}
  llm::SimulatedCallPlan Plan(std::string_view) const override { return plan_; }
  void Elapse(absl::Duration d) override { clock_->Advance(d); }
  void set_plan(llm::SimulatedCallPlan plan) { plan_ = std::move(plan); }

 private:
  core::ManualClock* clock_;
  llm::SimulatedCallPlan plan_;
};

// What the collector keeps of one request.
struct Captured {
  telemetry::CostEvent event;
  core::CostLines cost;
  core::TokenUsage usage;
  core::Route route = core::Route::kNone;
  core::Lang lang = core::Lang::kEn;
  int degraded = 0;
  int outcome = 0;
  int attempts = 0;
  std::string model;
  std::string answer;
  std::string cache_key;  // the response cache entry this request read or filled ("" = none)
  std::string intent;     // the intent stage's label ("" = none ran)
};

// One pipeline run (baseline or optimized) with everything it owns.
struct Arm {
  std::string name;
  core::Config config;
  core::ManualClock clock;
  core::Registry metrics;
  ArmSimulation simulation{&clock};
  std::unique_ptr<pipeline::Services> services;
  std::unique_ptr<pipeline::Pipeline> pipeline;
  std::unique_ptr<telemetry::IdHasher> hasher;
  std::unique_ptr<telemetry::Baseline> cost_model;
  telemetry::EventBuilderOptions builder;
  Captured captured;
  // The analytics line `record` adds to each request (US-07's actual): what this gateway's own
  // telemetry costs per event in the optimized run, zero in the baseline run (its analytics
  // cost is the §5 baseline line of every event).
  core::Money own_analytics;
  std::array<std::string, 3> tier_models;  // provider model id of each tier's alias
};

// `record` in replay: the same event the record stage builds, kept in memory (no spool).
class CollectStage final : public pipeline::Stage {
 public:
  explicit CollectStage(Arm* arm) : arm_(arm) {}
  std::string_view name() const override { return "record"; }
  pipeline::RunPolicy policy() const override { return pipeline::RunPolicy::kAlways; }

  asio::awaitable<absl::Status> Run(core::RequestContext& ctx) override {
    Captured& c = arm_->captured;
    ctx.cost.Add(core::CostComponent::kAnalytics, arm_->own_analytics);
    c.event = telemetry::BuildCostEvent(ctx, arm_->builder);
    c.cost = ctx.cost;
    c.usage = ctx.usage;
    c.route = ctx.route;
    c.lang = ctx.lang;
    c.degraded = ctx.degraded_level;
    c.outcome = ctx.outcome_code;
    c.attempts = ctx.llm_attempts;
    c.model = ctx.model;
    c.answer = ctx.answer;
    c.cache_key = ctx.response_cache_key;
    c.intent = ctx.intent;
    co_return absl::OkStatus();
  }

 private:
  Arm* arm_;
};

// The alias of the most expensive priced model (output price, then input price); "" if none.
std::string MostExpensiveAlias(const core::Config& cfg, const core::PriceTable& prices) {
  std::string best;
  const core::ModelPrice* best_price = nullptr;
  for (const core::ModelAliasConfig& m : cfg.models) {
    const core::ProviderConfig* p = cfg.FindProvider(m.provider);
    if (p == nullptr || p->type == "extractive" || m.price == "free") continue;
    const core::ModelPrice* price = prices.FindModel(m.price.empty() ? m.model : m.price);
    if (price == nullptr) continue;
    if (best_price == nullptr || price->output > best_price->output ||
        (price->output == best_price->output && price->input > best_price->input)) {
      best = m.name;
      best_price = price;
    }
  }
  return best;
}

bool RemoveStage(core::Config* cfg, std::string_view stage) {
  auto& s = cfg->pipeline.stages;
  auto it = std::find(s.begin(), s.end(), stage);
  if (it == s.end()) return false;
  s.erase(it);
  return true;
}

bool HasStage(const std::vector<std::string>& stages, std::string_view name) {
  return std::find(stages.begin(), stages.end(), name) != stages.end();
}

}  // namespace

absl::StatusOr<RouteTable> LoadRouteTable(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return absl::NotFoundError(absl::StrCat("cannot open route table ", path));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ":", e.mark.line + 1, ": YAML syntax error: ", e.msg));
  }
  auto fail = [&path](const YAML::Node& n, const std::string& what) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ":", n.IsDefined() ? n.Mark().line + 1 : 0, ": ", what));
  };
  if (!root.IsMap()) return fail(root, "must be a mapping with version and routes");
  RouteTable t;
  for (const auto& kv : root) {
    const std::string key = kv.first.Scalar();
    if (key == "version") {
      if (!kv.second.IsScalar() || kv.second.Scalar() != "1")
        return fail(kv.second, "version: must be 1");
    } else if (key == "routes") {
      if (!kv.second.IsMap()) return fail(kv.second, "routes: must be a mapping intent: route");
      for (const auto& r : kv.second) {
        core::Route route;
        if (!r.second.IsScalar() || !ParseRoute(r.second.Scalar(), &route)) {
          return fail(r.second, absl::StrCat("routes.", r.first.Scalar(),
                                             ": not one of template|cache|semantic_cache|"
                                             "extractive|haiku|sonnet"));
        }
        t.by_intent[r.first.Scalar()] = route;
      }
    } else {
      return fail(kv.first, absl::StrCat(key, ": unknown key (known: version, routes)"));
    }
  }
  if (t.by_intent.empty()) return fail(root, "routes: must name at least one intent");
  return t;
}

bool ParseScenario(std::string_view name, Scenario* out) {
  if (name == "burst10x")
    *out = Scenario::kBurst10x;
  else if (name == "runaway")
    *out = Scenario::kRunaway;
  else if (name == "redis-outage")
    *out = Scenario::kRedisOutage;
  else if (name == "provider-brownout")
    *out = Scenario::kProviderBrownout;
  else
    return false;
  return true;
}

std::string_view ScenarioName(Scenario s) {
  switch (s) {
    case Scenario::kBurst10x:
      return "burst10x";
    case Scenario::kRunaway:
      return "runaway";
    case Scenario::kRedisOutage:
      return "redis-outage";
    case Scenario::kProviderBrownout:
      return "provider-brownout";
    case Scenario::kNone:
      break;
  }
  return "none";
}

struct Replayer::Impl {
  ReplayOptions options;
  ReplayResult result;
  std::unique_ptr<Arm> base, opt;
  int64_t baseline_extra_tokens = 0;
  int clones = 1;

  // KPI cells by tier, language, route and model for the whole run: the KPI only sums cells in
  // the window, so an hour dimension would only grow with the trace's length (the spend-over-time
  // chart has its own hourly map). Each cell keeps the hour of its first event, inside the window.
  using CellKey = std::tuple<int, int, int, std::string>;
  std::map<CellKey, telemetry::HourlyRollup> rollups;
  int64_t min_hour = INT64_MAX, max_hour = INT64_MIN;
  std::map<int64_t, DayResult> days;
  std::map<int64_t, Money> hourly;
  // Response cache key → the canonical id of the message whose answer filled that entry, and
  // when. Entries older than the longest response-cache TTL can no longer be served and are
  // dropped every trace hour, so the map holds about one TTL's worth of fills, not the trace's.
  struct Fill {
    std::string canonical_id;
    int64_t ts_ms = 0;
  };
  std::unordered_map<std::string, Fill> cache_fills;
  int64_t fill_ttl_ms = 0;
  int64_t fills_pruned_at_ms = 0;  // trace times are after 1970: the first record prunes
  int64_t last_ts = INT64_MIN;

  absl::Status BuildArm(Arm* arm, const core::Config& cfg) {
    arm->config = cfg;
    core::Config& c = arm->config;
    c.telemetry.enabled = false;  // no spool: events stay in memory
    c.audit.store = "sqlite";     // a replay changes nothing worth auditing: keep var/ untouched
    c.audit.sqlite_path = ":memory:";
    for (core::ProviderConfig& p : c.providers) {
      if (p.type == "anthropic" || p.type == "bedrock" || p.type == "openai") {
        result.simulated_providers.push_back(
            absl::StrCat(arm->name, ":", p.name, " (", p.type, ")"));
        p.type = "simulated";
      }
    }
    if (!HasStage(c.pipeline.stages, "record")) c.pipeline.stages.push_back("record");
    auto services =
        pipeline::Services::Create(&arm->config, &arm->metrics, &arm->clock, &arm->simulation);
    if (!services.ok()) {
      return absl::Status(services.status().code(),
                          absl::StrCat(arm->name, " config: ", services.status().message()));
    }
    arm->services = *std::move(services);
    auto cost_model =
        telemetry::LoadBaseline(c.DataPath(c.telemetry.baseline_file), *arm->services->prices);
    if (!cost_model.ok()) return cost_model.status();
    arm->cost_model = std::make_unique<telemetry::Baseline>(*std::move(cost_model));
    arm->hasher = telemetry::IdHasher::Create(c.telemetry.id_hash_key);
    arm->builder.hasher = arm->hasher.get();
    arm->builder.baseline = arm->cost_model.get();
    const llm::TokenEstimator* estimator = arm->services->token_estimator.get();
    arm->builder.count_tokens = [estimator](std::string_view text, core::Lang lang) {
      return estimator->Estimate(text, lang);
    };
    pipeline::Pipeline::StageOverrides overrides;
    overrides["record"] =
        [arm](pipeline::Services*) -> absl::StatusOr<std::unique_ptr<pipeline::Stage>> {
      return std::make_unique<CollectStage>(arm);
    };
    auto p = pipeline::Pipeline::Build(arm->services.get(), overrides);
    if (!p.ok()) {
      return absl::Status(p.status().code(),
                          absl::StrCat(arm->name, " config: ", p.status().message()));
    }
    arm->pipeline = *std::move(p);
    const std::string* tiers[] = {&c.call.guest_model, &c.call.member_model, &c.call.premium_model};
    for (size_t i = 0; i < 3; ++i) {
      const llm::ModelEntry* e = arm->services->models->Find(*tiers[i]);
      arm->tier_models[i] = e != nullptr ? e->model : "";
    }
    return absl::OkStatus();
  }

  absl::Status Init() {
    core::Config optimized = options.optimized;
    auto prices = core::PriceTable::LoadFile(optimized.DataPath(optimized.pricing_file));
    if (!prices.ok()) return prices.status();
    auto opt_cost_model =
        telemetry::LoadBaseline(optimized.DataPath(optimized.telemetry.baseline_file), *prices);
    if (!opt_cost_model.ok()) return opt_cost_model.status();

    bool us07_disabled = false;
    // --disable US-0N: switch a story's part of the optimized pipeline off.
    static const std::map<std::string, std::vector<std::string>> kStages = {
        {"US-01", {"template", "route", "prompt"}},
        {"US-02", {"intent"}},
        {"US-03", {"cache", "cache_fill", "semantic_cache"}},
        {"US-04", {"capacity"}},
        {"US-05", {"session"}},
        {"US-06", {"rag"}},
        {"US-07", {}},
        {"US-08", {"reserve", "settle", "flags"}}};
    for (const std::string& story : options.disable) {
      auto it = kStages.find(story);
      if (it == kStages.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--disable ", story, ": expected US-01 … US-08"));
      }
      std::vector<std::string> done;
      for (const std::string& s : it->second) {
        if (RemoveStage(&optimized, s)) done.push_back(absl::StrCat("dropped stage `", s, "`"));
      }
      if (story == "US-01") {
        const std::string alias = MostExpensiveAlias(optimized, *prices);
        if (!alias.empty()) {
          optimized.call.guest_model = optimized.call.member_model = optimized.call.premium_model =
              alias;
          optimized.call.max_tokens = static_cast<int>(opt_cost_model->params().max_tokens);
          done.push_back(absl::StrCat("every tier to `", alias, "` with max_tokens ",
                                      optimized.call.max_tokens, " (no tier routing)"));
        }
      }
      if (story == "US-07") {
        us07_disabled = true;
        done.push_back(
            "every event costs what the baseline's analytics pipeline pays per event (one "
            "Kinesis put, Firehose, raw retention in Redshift); `record` stays, it is how replay "
            "measures");
      }
      result.notes.push_back(absl::StrCat(
          story, " disabled: ", done.empty() ? "none of its stages is in the pipeline" : ""));
      for (size_t i = 0; i < done.size(); ++i) {
        absl::StrAppend(&result.notes.back(), i > 0 ? "; " : "", done[i]);
      }
    }

    result.scenario = options.scenario;
    result.scenario_status = options.scenario == Scenario::kNone ? "" : "ran";
    switch (options.scenario) {
      case Scenario::kBurst10x:
        clones = kBurstClones;
        result.scenario_note =
            "every trace message replayed as 10 messages from 10 distinct users at the same "
            "time: a day at ten times the trace's traffic";
        break;
      case Scenario::kRunaway: {
        const std::string alias = MostExpensiveAlias(optimized, *prices);
        if (alias.empty()) {
          result.scenario_status = "no data";
          result.scenario_note = "the optimized config has no priced model to run away to";
        } else {
          optimized.call.guest_model = optimized.call.member_model = optimized.call.premium_model =
              alias;
          result.scenario_note =
              absl::StrCat("misrouting config: every tier sent to `", alias,
                           "`, the most expensive configured model (the seed's runaway example)");
        }
        break;
      }
      case Scenario::kRedisOutage:
        if (HasStage(optimized.pipeline.stages, "reserve") ||
            HasStage(optimized.pipeline.stages, "cache")) {
          // A Redis that refuses every connection: limits and budget holds fall back to
          // in-process (limit ÷ replicas), the cache keyspaces to theirs.
          optimized.cache.redis_url = "redis://127.0.0.1:1";
          result.scenario_note =
              "every Redis call of the optimized run fails (connection refused): rate limits "
              "and budget holds run on the in-process fallback, cache keyspaces on theirs";
        } else {
          result.scenario_status = "no data";
          result.scenario_note =
              "the optimized pipeline has no Redis-backed stage (reserve, cache): nothing to "
              "take away; the trace was replayed without an outage";
        }
        break;
      case Scenario::kProviderBrownout:
        result.scenario_note = absl::StrFormat(
            "%.1f%% of the optimized run's provider attempts fail with 503 (retries, breaker "
            "and fallback exercised)",
            options.brownout_permille / 10.0);
        break;
      case Scenario::kNone:
        break;
    }

    // US-08: the replay's daily cap is the optimized gateway's budget, its ledger in memory.
    if (HasStage(optimized.pipeline.stages, "reserve")) {
      optimized.budget.daily_cap = options.daily_cap;
      optimized.budget.ledger = "sqlite";
      optimized.budget.ledger_sqlite_path = ":memory:";
    }
    base = std::make_unique<Arm>();
    base->name = "baseline";
    opt = std::make_unique<Arm>();
    opt->name = "optimized";
    if (absl::Status s = BuildArm(base.get(), options.baseline); !s.ok()) return s;
    if (absl::Status s = BuildArm(opt.get(), optimized); !s.ok()) return s;
    // US-07's actual: the analytics line the server's `record` stage adds to every event.
    if (us07_disabled) {
      opt->own_analytics = opt->cost_model->analytics_per_request();
    } else {
      const core::TelemetryConfig& t = opt->config.telemetry;
      absl::StatusOr<Money> own = telemetry::OwnAnalyticsCostPerEvent(
          *opt->services->prices, opt->cost_model->params().region, t.own_cpu_us_per_event,
          static_cast<int64_t>(t.own_stored_bytes_per_event), t.retention_days);
      if (!own.ok()) return own.status();
      opt->own_analytics = *own;
    }
    if (!HasStage(opt->config.pipeline.stages, "rag") &&
        !HasStage(opt->config.pipeline.stages, "session")) {
      result.notes.push_back(
          "the optimized pipeline has no `rag` or `session` stage yet: its prompts carry no "
          "retrieved chunks or history, while the baseline's carry §5's top-10 chunks; the LLM "
          "reduction includes what those stages will add back");
    }
    result.baseline_stages = base->pipeline->StageNames();
    result.optimized_stages = opt->pipeline->StageNames();
    result.cache_stage = HasStage(result.optimized_stages, "cache");
    absl::Duration longest_ttl = opt->config.cache.response.default_ttl;
    for (const auto& [intent, ttl] : opt->config.cache.response.ttl_by_intent) {
      longest_ttl = std::max(longest_ttl, ttl);
    }
    fill_ttl_ms = absl::ToInt64Milliseconds(longest_ttl);
    result.cap_enforced = HasStage(result.optimized_stages, "reserve");
    result.daily_cap = options.daily_cap;

    // The §5 baseline's prompt beyond what the baseline pipeline assembles: the full system
    // prompt and the top-k RAG chunks (there is no RAG stage to fetch them).
    const telemetry::Baseline::Params& bp = base->cost_model->params();
    baseline_extra_tokens =
        std::max<int64_t>(
            0, bp.system_prompt_tokens - llm::RoughTokenCount(base->config.call.system_prompt)) +
        bp.rag_top_k * bp.tokens_per_chunk;
    return absl::OkStatus();
  }

  asio::awaitable<void> RunOne(Arm* arm, const TraceRecord& r, int clone, int64_t line,
                               int error_permille, int64_t extra_tokens) {
    llm::SimulatedCallPlan plan;
    plan.intent = r.intent;
    plan.output_tokens = r.output_tokens;
    plan.extra_input_tokens = extra_tokens;
    plan.error_permille = error_permille;
    arm->simulation.set_plan(std::move(plan));
    arm->clock.Set(absl::FromUnixMillis(r.ts_ms));
    core::RequestContext ctx;
    ctx.request_id = absl::StrCat("replay-", line, "-", clone);
    ctx.session_id = clone == 0 ? r.session_id : absl::StrCat(r.session_id, "~", clone);
    ctx.user_id = clone == 0 ? r.user_id : absl::StrCat(r.user_id, "~", clone);
    ctx.tier = r.tier;
    ctx.tier_given = true;
    ctx.tier_text = std::string(core::TierName(r.tier));
    ctx.message = r.message;
    ctx.clock = &arm->clock;
    ctx.start_mono_ns = arm->clock.MonotonicNanos();
    arm->captured = Captured{};
    (void)co_await arm->pipeline->Run(ctx);  // failures are in the captured event
  }

  void Account(const TraceRecord& r, const Captured& b, const Captured& o) {
    ++result.requests;

    // The optimized event (built by the record stage's own BuildCostEvent, savings attributed
    // by its rule against config/baseline.yaml), with the baseline run's measured LLM lines as
    // its baseline LLM lines. The difference between measured and estimated baseline (answer
    // length from the trace, the prompt as sent) goes to US-01, whose levers those are — or to
    // US-08 when the request was refused or degraded — so the savings still add up to
    // baseline − actual.
    telemetry::CostEvent e = o.event;
    Money estimated, measured;
    for (CostComponent c : kLlmLines) {
      const size_t i = static_cast<size_t>(c);
      estimated += e.baseline_cost[i];
      measured += b.cost.Get(c);
      e.baseline_cost[i] = b.cost.Get(c);
    }
    e.baseline += measured - estimated;
    const telemetry::Story owner = o.route == core::Route::kNone || o.degraded > 0
                                       ? telemetry::Story::kUs08
                                       : telemetry::Story::kUs01;
    e.savings[static_cast<size_t>(owner)] += measured - estimated;

    telemetry::HourlyRollup cell = telemetry::RollupCellOf(e);
    const int64_t hour = cell.hour_start_ms;
    CellKey key{static_cast<int>(cell.tier), static_cast<int>(cell.lang),
                static_cast<int>(cell.route), cell.model};
    auto [it, inserted] = rollups.try_emplace(std::move(key), std::move(cell));
    it->second.Add(e);
    min_hour = std::min(min_hour, hour);
    max_hour = std::max(max_hour, hour);

    ++result.routes[std::string(core::RouteName(o.route))];
    ++result.baseline_routes[std::string(core::RouteName(b.route))];
    auto code_name = [](int code) {
      return absl::AsciiStrToLower(absl::StatusCodeToString(static_cast<absl::StatusCode>(code)));
    };
    if (o.outcome != 0) ++result.failures[code_name(o.outcome)];
    if (b.outcome != 0) ++result.baseline_failures[code_name(b.outcome)];

    // Decision equivalence against the ground-truth route table. A cache hit serves what the
    // expected route produced earlier; whether it was the right answer is the false-hit guard.
    if (auto rt = options.routes.by_intent.find(r.intent); rt != options.routes.by_intent.end()) {
      ++result.labelled;
      if (o.route == rt->second || o.route == core::Route::kCache ||
          o.route == core::Route::kSemanticCache) {
        ++result.equivalent;
      }
    }
    if (!r.intent.empty() && !o.intent.empty()) {
      ++result.intent_labelled;
      const bool agreed = o.intent == r.intent;
      result.intent_agreed += agreed;
      if (o.intent != "uncertain") {
        ++result.intent_covered;
        result.intent_covered_agreed += agreed;
      }
    }
    if (r.lang.has_value()) {
      ++result.lang_labelled;
      if (*r.lang == o.lang) ++result.lang_agreed;
    }
    // Judged by the entry itself (its key), not by the answer text: different questions may
    // get the same words, which says nothing about the cache serving the wrong entry.
    if (result.cache_stage && !r.canonical_id.empty() && !o.cache_key.empty()) {
      if (o.route == core::Route::kCache || o.route == core::Route::kSemanticCache) {
        if (auto f = cache_fills.find(o.cache_key); f != cache_fills.end()) {
          ++result.cache_hits_judged;
          if (f->second.canonical_id != r.canonical_id) ++result.cache_false_hits;
        }
      } else if (o.outcome == 0) {
        cache_fills[o.cache_key] = Fill{r.canonical_id, r.ts_ms};  // a miss (re)fills the entry
      }
      if (r.ts_ms - fills_pruned_at_ms >= kHourMs) {
        fills_pruned_at_ms = r.ts_ms;
        std::erase_if(cache_fills, [this, &r](const auto& kv) {
          return kv.second.ts_ms + fill_ttl_ms < r.ts_ms;
        });
      }
    }
    result.llm_attempts += o.attempts;
    if (o.attempts > 1) ++result.retried_requests;
    const std::string& tier_model = opt->tier_models[static_cast<size_t>(r.tier)];
    if ((o.route == core::Route::kHaiku || o.route == core::Route::kSonnet) &&
        !tier_model.empty() && o.model != tier_model) {
      ++result.fallback_requests;
    }

    Money opt_llm, base_llm;
    for (CostComponent c : kLlmLines) {
      opt_llm += o.cost.Get(c);
      base_llm += b.cost.Get(c);
    }
    const int64_t day = FloorDiv(r.ts_ms + kJstOffsetMs, kDayMs);
    DayResult& d = days[day];
    ++d.messages;
    d.baseline += base_llm;
    d.optimized += e.Total();
    d.optimized_llm += opt_llm;
    hourly[FloorDiv(r.ts_ms, kHourMs) * kHourMs] += opt_llm;
  }

  asio::awaitable<void> Loop(std::istream* in, const Progress& progress, absl::Status* status) {
    TraceReader reader(in);
    TraceRecord r;
    std::string error;
    const int opt_errors =
        options.scenario == Scenario::kProviderBrownout ? options.brownout_permille : 0;
    for (;;) {
      const TraceReader::Result got = reader.Next(&r, &error);
      result.lines = reader.line_number();
      if (progress && (reader.line_number() & 4095) == 0) {
        progress(reader.line_number(), reader.bytes_read());
      }
      if (got == TraceReader::Result::kEnd) break;
      if (got == TraceReader::Result::kBadLine) {
        ++result.bad_lines;
        if (result.bad_line_errors.size() < ReplayResult::kMaxListedBadLines) {
          result.bad_line_errors.push_back(error);
        }
        if (options.strict) {
          result.stopped_at_bad_line = true;
          *status = absl::FailedPreconditionError(absl::StrCat("--strict: ", error));
          break;
        }
        continue;
      }
      ++result.messages;
      if (r.ts_ms < last_ts) ++result.out_of_order;
      last_ts = r.ts_ms;
      for (int k = 0; k < clones; ++k) batch.push_back(BatchItem{r, reader.line_number(), k});
      if (batch.size() >= kBatch) co_await RunBatch(opt_errors);
    }
    co_await RunBatch(opt_errors);
    if (progress) progress(reader.line_number(), reader.bytes_read());
  }

  // The two runs are independent (each arm has its own services, clock and pipeline), so a batch
  // of messages goes through the baseline arm on the worker thread while the optimized arm runs
  // here; each arm sees the messages in trace order, so results do not depend on the threads.
  // Then the batch is accounted in order.
  struct BatchItem {
    TraceRecord r;
    int64_t line = 0;
    int clone = 0;
  };
  static constexpr size_t kBatch = 256;
  std::vector<BatchItem> batch;
  std::vector<Captured> base_out, opt_out;
  asio::io_context base_io;  // the baseline arm's executor, run by base_thread
  std::thread base_thread;

  asio::awaitable<void> RunArm(Arm* arm, int error_permille, int64_t extra_tokens,
                               std::vector<Captured>* out) {
    out->clear();
    for (const BatchItem& it : batch) {
      co_await RunOne(arm, it.r, it.clone, it.line, error_permille, extra_tokens);
      out->push_back(std::move(arm->captured));
    }
  }

  asio::awaitable<void> RunBatch(int opt_errors) {
    if (batch.empty()) co_return;
    std::promise<void> base_done;
    asio::co_spawn(base_io, RunArm(base.get(), 0, baseline_extra_tokens, &base_out),
                   [&base_done](std::exception_ptr e) {
                     if (e) {
                       base_done.set_exception(e);
                     } else {
                       base_done.set_value();
                     }
                   });
    co_await RunArm(opt.get(), opt_errors, 0, &opt_out);
    base_done.get_future().get();  // rethrows a failure of the baseline arm (a bug)
    for (size_t i = 0; i < batch.size(); ++i) Account(batch[i].r, base_out[i], opt_out[i]);
    batch.clear();
  }

  void Finish() {
    std::vector<telemetry::HourlyRollup> cells;
    cells.reserve(rollups.size());
    for (auto& [k, v] : rollups) cells.push_back(v);
    const int64_t from = min_hour == INT64_MAX ? 0 : min_hour;
    const int64_t to = max_hour == INT64_MIN ? kHourMs : max_hour + kHourMs;
    // US-02: the optimized arm's classifier against the baseline's always-on endpoint.
    std::optional<telemetry::IntentKpiInputs> intent;
    if (opt != nullptr && opt->services->intent != nullptr && opt->cost_model != nullptr) {
      auto in = pipeline::IntentKpiInputsFor(opt->config, *opt->services->intent,
                                             opt->services->intent_drift.get(), *opt->cost_model,
                                             *opt->services->prices);
      if (in.ok()) intent = *std::move(in);
    }
    result.kpi = telemetry::ComputeKpi(cells, result.optimized_stages, from, to,
                                       intent.has_value() ? &*intent : nullptr);
    const telemetry::SliceKpi& all = result.kpi.slices[0];
    result.baseline = all.metered_baseline;
    result.optimized = all.metered_actual;
    result.baseline_all = all.baseline;
    for (size_t i = 1; i < result.kpi.slices.size(); ++i) {
      const telemetry::SliceKpi& s = result.kpi.slices[i];
      result.by_lang[s.name] = LangResult{s.requests, s.metered_baseline, s.metered_actual};
    }
    if (result.labelled > 0) {
      result.decision_equivalence =
          static_cast<double>(result.equivalent) / static_cast<double>(result.labelled);
    }
    if (result.cache_stage && result.cache_hits_judged > 0) {
      result.cache_false_hit_rate = static_cast<double>(result.cache_false_hits) /
                                    static_cast<double>(result.cache_hits_judged);
    }
    for (auto& [day, d] : days) {
      d.date = JstDate(day);
      if (d.optimized_llm > result.daily_cap) {
        ++result.days_over_cap;
        result.largest_overshoot =
            std::max(result.largest_overshoot, d.optimized_llm - result.daily_cap);
      }
      result.days.push_back(d);
    }
    for (const auto& [h, m] : hourly) result.hourly_llm.emplace_back(h, m);
    // US-08's headline: the share of days whose optimized LLM spend stayed within the cap,
    // measured here per Asia/Tokyo day (the rollups do not carry the cap).
    if (result.cap_enforced && !result.days.empty()) {
      const double held = static_cast<double>(result.days.size() - result.days_over_cap) /
                          static_cast<double>(result.days.size());
      for (telemetry::SliceKpi& slice : result.kpi.slices) {
        telemetry::StoryKpi& k = slice.stories[static_cast<size_t>(telemetry::Story::kUs08)];
        k.value = held;
        k.status = held >= k.target_low ? telemetry::KpiStatus::kOnTrack
                                        : telemetry::KpiStatus::kOffTrack;
        k.note = absl::StrCat("daily cap ", telemetry::FormatUsd(result.daily_cap), " held on ",
                              result.days.size() - result.days_over_cap, " of ",
                              result.days.size(), " days (all traffic, every language)");
      }
    }
  }
};

Replayer::Replayer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Replayer::~Replayer() = default;

absl::StatusOr<std::unique_ptr<Replayer>> Replayer::Create(ReplayOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  if (absl::Status s = impl->Init(); !s.ok()) return s;
  return std::unique_ptr<Replayer>(new Replayer(std::move(impl)));
}

absl::Status Replayer::Run(std::istream* trace, const Progress& progress) {
  asio::io_context io;
  absl::Status status;
  std::exception_ptr failure;
  auto base_work = asio::make_work_guard(impl_->base_io);
  impl_->base_thread = std::thread([this] { impl_->base_io.run(); });
  asio::co_spawn(io, impl_->Loop(trace, progress, &status),
                 [&failure](std::exception_ptr e) { failure = e; });
  io.run();
  base_work.reset();
  impl_->base_thread.join();
  if (failure) std::rethrow_exception(failure);  // a bug, not a bad trace
  impl_->Finish();
  return status;
}

const ReplayResult& Replayer::result() const { return impl_->result; }

}  // namespace mangaassist::replay
