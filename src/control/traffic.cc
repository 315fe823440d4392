#include "control/traffic.h"

#include <libpq-fe.h>
#include <openssl/evp.h>

#include <algorithm>
#include <map>
#include <limits>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/strings.h"
#include "spdlog/spdlog.h"

namespace mangaassist::control {

// What `settle` needs of a hold; lives in ctx.traffic.hold.
struct TrafficControl::Hold {
  std::vector<CapCheck> caps;
  std::vector<LimitCheck> token_limits;  // cost = the tokens reserved
  std::string day;
};

namespace {

constexpr int64_t kNanosPerSecond = 1'000'000'000;
// A deployment without a cap still tracks its spend (velocity, /admin/budget).
constexpr core::Money kNoCap = core::Money::FromNanos(std::numeric_limits<int64_t>::max() / 4);

core::Money LlmCost(const core::CostLines& c) {
  return c.Get(core::CostComponent::kLlmInput) + c.Get(core::CostComponent::kLlmOutput) +
         c.Get(core::CostComponent::kLlmCacheRead) + c.Get(core::CostComponent::kLlmCacheWrite);
}

int64_t CeilSeconds(int64_t ns) { return (ns + kNanosPerSecond - 1) / kNanosPerSecond; }

std::string_view ScopeName(core::RateScope s) {
  switch (s) {
    case core::RateScope::kUser: return "user";
    case core::RateScope::kIp: return "ip";
    case core::RateScope::kTenant: return "tenant";
    case core::RateScope::kTier: return "tier";
    case core::RateScope::kKey: return "key";
  }
  return "user";
}

}  // namespace

std::string KeyDigest(std::string_view key) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(key.data(), key.size(), md, &n, EVP_sha256(), nullptr);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(md), n));
}

absl::StatusOr<std::unique_ptr<TrafficControl>> TrafficControl::Create(
    const core::Config& config, const core::Clock* clock, core::Registry* metrics,
    CostBreaker::OnTransition on_transition) {
  std::unique_ptr<TrafficControl> t(new TrafficControl());
  t->config_ = &config;
  t->clock_ = clock;
  if (!absl::LoadTimeZone(config.budget.time_zone, &t->tz_)) {
    return absl::FailedPreconditionError(
        absl::StrCat("budget.time_zone '", config.budget.time_zone, "' cannot be loaded"));
  }
  if (absl::Status s = t->ReloadKeys(); !s.ok()) {
    // The config's keys work; PostgreSQL's arrive with the next successful reload.
    spdlog::error("auth: {}; retrying every {}", core::ToStd(s.message()),
                  absl::FormatDuration(config.auth.refresh));
  }
  if (!config.auth.postgres.empty()) {
    TrafficControl* self = t.get();
    t->refresher_ = std::thread([self] { self->RefreshLoop(); });
  }
  const core::BudgetConfig& b = config.budget;
  absl::StatusOr<std::unique_ptr<Ledger>> ledger =
      b.ledger == "postgres" ? OpenPostgresLedger(b.ledger_postgres)
      : b.ledger_sqlite_path == ":memory:"  // replay: a ledger that dies with the run
          ? absl::StatusOr<std::unique_ptr<Ledger>>(OpenMemoryLedger())
          : OpenSqliteLedger(config.DataPath(b.ledger_sqlite_path));
  if (!ledger.ok()) return ledger.status();
  t->ledger_ = *std::move(ledger);

  const core::CacheConfig& cc = config.cache;
  const std::string& cost_url =
      cc.Keyspace("cost").url.empty() ? cc.redis_url : cc.Keyspace("cost").url;
  const std::string& rate_url =
      cc.Keyspace("rate").url.empty() ? cc.redis_url : cc.Keyspace("rate").url;
  if (cost_url != rate_url) {
    return absl::InvalidArgumentError(
        "cache.keyspaces.rate and cache.keyspaces.cost must name the same Redis (one Lua "
        "script decides limits and budget together)");
  }
  if (cost_url.empty()) {
    t->store_ = NewMemoryStore();
  } else {
    RedisStoreOptions o;
    o.url = cost_url;
    o.pool_size = cc.pool_size;
    o.connect_timeout = cc.connect_timeout;
    o.command_timeout = cc.command_timeout;
    o.backoff_initial = cc.backoff_initial;
    o.backoff_max = cc.backoff_max;
    o.clock = clock;
    o.replicas = config.rate_limits.replicas;
    o.metrics = metrics;
    TrafficControl* self = t.get();
    o.seed = [self](const std::vector<std::string>& keys) { return self->SeedFromLedger(keys); };
    absl::StatusOr<std::unique_ptr<ControlStore>> s = NewRedisStore(o);
    if (!s.ok()) return s.status();
    t->store_ = *std::move(s);
  }
  if (metrics != nullptr) {
    t->limited_ = &metrics->GetCounter("mangaassist_rate_limited_total",
                                       "Requests refused by a rate limit (429)");
    t->over_budget_ = &metrics->GetCounter(
        "mangaassist_budget_refused_holds_total",
        "Requests whose hold did not fit under a daily cap (answered without a model)");
    t->level_gauge_ = &metrics->GetGauge("mangaassist_degradation_level",
                                         "The cost breaker's degradation level (0..3)");
    t->suspend_scale_in_ = &metrics->GetGauge(
        "mangaassist_suspend_scale_in",
        "1 while the degradation ladder is at level 2 or above (breaker or degradation_active): "
        "autoscalers should not scale in");
  }
  core::Gauge* gauge = t->level_gauge_;
  t->breaker_ = std::make_unique<CostBreaker>(
      config.cost_breaker, b.daily_cap,
      [gauge, on_transition](const BreakerTransition& tr) {
        spdlog::warn("cost breaker: level {} -> {} ({})", tr.from, tr.to, tr.reason);
        if (gauge != nullptr) gauge->Set(tr.to);
        if (on_transition) on_transition(tr);
      });
  return t;
}

TrafficControl::~TrafficControl() {
  {
    absl::MutexLock lock(&keys_mu_);
    stopping_ = true;
  }
  if (refresher_.joinable()) refresher_.join();
  if (ledger_ != nullptr) (void)ledger_->Flush();
}

std::shared_ptr<const TrafficControl::KeyTable> TrafficControl::Keys() const {
  absl::MutexLock lock(&keys_mu_);
  return keys_;
}

absl::Status TrafficControl::ReloadKeys() {
  auto table = std::make_shared<KeyTable>();
  absl::Status status;
  std::vector<core::ApiKeyConfig> keys = config_->auth.keys;
  if (!config_->auth.postgres.empty()) {
    absl::StatusOr<std::vector<core::ApiKeyConfig>> pg = LoadPostgresKeys(config_->auth.postgres);
    if (pg.ok()) {
      keys.insert(keys.end(), pg->begin(), pg->end());  // a database key overrides a config one
    } else {
      status = pg.status();
      if (std::shared_ptr<const KeyTable> last = Keys(); last != nullptr) return status;
    }
  }
  std::map<std::string, core::ApiKeyConfig> by_name;  // a later key of the same name wins
  for (core::ApiKeyConfig& k : keys) by_name[k.name] = std::move(k);
  for (auto& [name, k] : by_name) table->by_hash.emplace(k.sha256, std::move(k));
  // by_name points into by_hash, which no longer moves.
  for (const auto& [hash, k] : table->by_hash) table->by_name[k.name] = &k;
  absl::MutexLock lock(&keys_mu_);
  keys_ = std::move(table);
  return status;
}

void TrafficControl::RefreshLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&keys_mu_);
      if (keys_mu_.AwaitWithTimeout(absl::Condition(&stopping_), config_->auth.refresh)) return;
    }
    if (absl::Status s = ReloadKeys(); !s.ok()) {
      spdlog::warn("auth: keeping the last API keys: {}", core::ToStd(s.message()));
    }
  }
}

absl::StatusOr<std::vector<core::ApiKeyConfig>> LoadPostgresKeys(const std::string& conninfo) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  auto close = absl::MakeCleanup([c] { PQfinish(c); });
  if (PQstatus(c) != CONNECTION_OK) {
    return absl::UnavailableError(absl::StrCat("api_keys: connect: ", PQerrorMessage(c)));
  }
  PQsetNoticeProcessor(
      c, [](void*, const char*) {}, nullptr);
  PGresult* r = PQexec(c,
                       "CREATE TABLE IF NOT EXISTS api_keys (name TEXT PRIMARY KEY, "
                       "sha256 TEXT NOT NULL UNIQUE, tenant TEXT NOT NULL DEFAULT 'default', "
                       "tier TEXT NOT NULL DEFAULT 'member', daily_budget_nanos BIGINT NOT NULL "
                       "DEFAULT 0, disabled BOOLEAN NOT NULL DEFAULT false)");
  PQclear(r);
  r = PQexec(c,
             "SELECT name, lower(sha256), tenant, tier, daily_budget_nanos FROM api_keys "
             "WHERE NOT disabled ORDER BY name");
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    absl::Status s = absl::UnavailableError(absl::StrCat("api_keys: ", PQerrorMessage(c)));
    PQclear(r);
    return s;
  }
  std::vector<core::ApiKeyConfig> keys;
  for (int i = 0; i < PQntuples(r); ++i) {
    core::ApiKeyConfig k;
    k.name = PQgetvalue(r, i, 0);
    k.sha256 = PQgetvalue(r, i, 1);
    k.tenant = PQgetvalue(r, i, 2);
    int64_t nanos = 0;
    if (k.sha256.size() != 64 || !core::ParseTier(PQgetvalue(r, i, 3), &k.tier) ||
        !absl::SimpleAtoi(PQgetvalue(r, i, 4), &nanos) || nanos < 0) {
      spdlog::warn("api_keys: row '{}' is malformed; skipped", k.name);
      continue;
    }
    k.daily_budget = core::Money::FromNanos(nanos);
    keys.push_back(std::move(k));
  }
  PQclear(r);
  return keys;
}

std::string TrafficControl::Day(absl::Time t) const { return absl::FormatTime("%Y-%m-%d", t, tz_); }

absl::Time TrafficControl::NextDay(absl::Time t) const {
  const absl::CivilDay today = absl::ToCivilDay(t, tz_);
  return absl::FromCivil(today + 1, tz_);
}

absl::Status TrafficControl::Authenticate(core::RequestContext& ctx) const {
  std::string presented = std::move(ctx.api_key);
  ctx.api_key.clear();
  // Without configured keys the gateway does not check credentials at all: SDKs insist on
  // sending one, and any value is as good as another.
  const std::shared_ptr<const KeyTable> keys = Keys();
  const bool checked = !keys->by_hash.empty() || !config_->auth.postgres.empty();
  if (checked && !presented.empty()) {
    auto it = keys->by_hash.find(KeyDigest(presented));
    if (it == keys->by_hash.end()) {
      return absl::UnauthenticatedError("the API key is not valid");
    }
    const core::ApiKeyConfig& k = it->second;
    ctx.key_name = k.name;
    ctx.tenant = k.tenant;
    if (ctx.tier_given && ctx.tier > k.tier) {
      return absl::PermissionDeniedError(
          absl::StrCat("tier '", core::ToAbsl(core::TierName(ctx.tier)), "' is above this key's tier '",
                       core::ToAbsl(core::TierName(k.tier)), "'"));
    }
    if (!ctx.tier_given) ctx.tier = k.tier;
    return absl::OkStatus();
  }
  if (checked && !config_->auth.allow_guests) {
    return absl::UnauthenticatedError(
        "an API key is required (Authorization: Bearer KEY or X-Api-Key: KEY)");
  }
  if (!ctx.tier_given || !config_->auth.trust_client_tier) ctx.tier = core::Tier::kGuest;
  return absl::OkStatus();
}

void TrafficControl::Degrade(core::RequestContext& ctx, const TrafficFlags& flags) const {
  int level = flags.breaker_enabled ? breaker_->level() : 0;
  if (flags.degradation_active) level = std::max(level, 2);
  ctx.degraded_level = level;
  if (suspend_scale_in_ != nullptr) suspend_scale_in_->Set(level >= 2 ? 1 : 0);
  core::RequestContext::Traffic& t = ctx.traffic;
  const bool premium = ctx.tier == core::Tier::kPremium;
  t.tier_floor = level >= 1 && !premium;
  t.rag_bypass_aggressive = level >= 1;
  t.suspend_scale_in = level >= 2;
  t.llm_allowed = true;
  if (level >= 2 && ctx.tier == core::Tier::kGuest) t.llm_allowed = false;
  if (level >= 3 && !(premium && config_->budget.premium_exempt)) t.llm_allowed = false;
}

std::vector<CapCheck> TrafficControl::Caps(const std::string& day, const core::RequestContext& ctx,
                                           const core::ApiKeyConfig* key) const {
  const core::BudgetConfig& b = config_->budget;
  std::vector<CapCheck> caps;
  caps.push_back(CapCheck{absl::StrCat("cost:", day, ":deploy"),
                          b.daily_cap > core::Money::Zero() ? b.daily_cap : kNoCap});
  if (auto it = b.tenants.find(ctx.tenant); it != b.tenants.end()) {
    caps.push_back(CapCheck{absl::StrCat("cost:", day, ":tenant:", ctx.tenant), it->second});
  }
  if (key != nullptr && key->daily_budget > core::Money::Zero()) {
    caps.push_back(CapCheck{absl::StrCat("cost:", day, ":key:", key->name), key->daily_budget});
  }
  return caps;
}

std::vector<LimitCheck> TrafficControl::Limits(const core::RequestContext& ctx, int64_t tokens,
                                               std::vector<LimitCheck>* token_limits) const {
  std::vector<LimitCheck> limits;
  for (const core::RateRuleConfig& rule : config_->rate_limits.rules) {
    if (!rule.tiers.empty() &&
        std::find(rule.tiers.begin(), rule.tiers.end(), ctx.tier) == rule.tiers.end()) {
      continue;
    }
    std::string id;
    switch (rule.scope) {
      case core::RateScope::kUser:
        if (ctx.user_id.empty()) continue;
        id = absl::StrCat(ctx.tenant, ":", ctx.user_id);
        break;
      case core::RateScope::kIp:
        if (ctx.client_ip.empty()) continue;
        id = ctx.client_ip;
        break;
      case core::RateScope::kTenant: id = ctx.tenant; break;
      case core::RateScope::kTier: id = std::string(core::TierName(ctx.tier)); break;
      case core::RateScope::kKey:
        if (ctx.key_name.empty()) continue;
        id = ctx.key_name;
        break;
    }
    const std::string base = absl::StrCat("rate:", rule.name, ":", core::ToAbsl(ScopeName(rule.scope)), ":", id);
    const int64_t period = absl::ToInt64Nanoseconds(rule.period);
    if (rule.requests > 0) {
      limits.push_back(LimitCheck{absl::StrCat(base, ":req"),
                                  GcraLimit{rule.requests, period,
                                            rule.burst > 0 ? rule.burst : rule.requests},
                                  1});
    }
    if (rule.tokens > 0 && tokens > 0) {
      LimitCheck l{absl::StrCat(base, ":tok"),
                   GcraLimit{rule.tokens, period,
                             rule.token_burst > 0 ? rule.token_burst : rule.tokens},
                   tokens};
      token_limits->push_back(l);
      limits.push_back(std::move(l));
    }
  }
  return limits;
}

absl::StatusOr<std::vector<core::Money>> TrafficControl::SeedFromLedger(
    const std::vector<std::string>& keys) {
  std::vector<core::Money> out(keys.size());
  absl::flat_hash_map<std::string, DaySpend> days;
  for (size_t i = 0; i < keys.size(); ++i) {
    // cost:<day>:deploy | cost:<day>:tenant:<t> | cost:<day>:key:<k>
    std::vector<std::string> parts = absl::StrSplit(keys[i], absl::MaxSplits(':', 3));
    if (parts.size() < 3 || parts[0] != "cost") continue;
    auto it = days.find(parts[1]);
    if (it == days.end()) {
      absl::StatusOr<DaySpend> d = ledger_->SumDay(parts[1]);
      if (!d.ok()) return d.status();
      it = days.emplace(parts[1], *std::move(d)).first;
    }
    const DaySpend& d = it->second;
    if (parts[2] == "deploy") {
      out[i] = d.deployment;
    } else if (parts.size() == 4 && parts[2] == "tenant") {
      if (auto t = d.tenants.find(parts[3]); t != d.tenants.end()) out[i] = t->second;
    } else if (parts.size() == 4 && parts[2] == "key") {
      if (auto k = d.keys.find(parts[3]); k != d.keys.end()) out[i] = k->second;
    }
  }
  return out;
}

void TrafficControl::PreloadDay(const std::string& day) {
  if (store_->backend() != "memory") return;
  {
    absl::MutexLock lock(&day_mu_);
    if (preloaded_day_ == day) return;
    preloaded_day_ = day;
  }
  std::vector<std::string> keys = {absl::StrCat("cost:", day, ":deploy")};
  for (const auto& [tenant, cap] : config_->budget.tenants) {
    keys.push_back(absl::StrCat("cost:", day, ":tenant:", tenant));
  }
  for (const auto& [name, k] : Keys()->by_name) {
    keys.push_back(absl::StrCat("cost:", day, ":key:", name));
  }
  absl::StatusOr<std::vector<core::Money>> spent = SeedFromLedger(keys);
  if (!spent.ok()) {
    spdlog::error("budget: cannot read today's spend from the ledger: {}",
                  core::ToStd(spent.status().message()));
    return;
  }
  (void)store_->Preload(keys, *spent);
}

absl::Status TrafficControl::Acquire(core::RequestContext& ctx, const TrafficFlags& flags,
                                     core::Money amount, int64_t tokens) {
  const bool limits_on = flags.rate_limits_enabled && config_->rate_limits.enabled;
  const bool budget_on = flags.budget_enabled && config_->budget.enabled;
  if (!limits_on && !budget_on) return absl::OkStatus();
  const absl::Time now = ctx.clock->Now();
  const int64_t now_ns = absl::ToUnixNanos(now);
  const std::string day = Day(now);
  if (budget_on) PreloadDay(day);

  const std::shared_ptr<const KeyTable> keys = Keys();
  const core::ApiKeyConfig* key = nullptr;
  if (!ctx.key_name.empty()) {
    if (auto it = keys->by_name.find(ctx.key_name); it != keys->by_name.end()) key = it->second;
  }
  auto hold = std::make_shared<Hold>();
  hold->day = day;
  AcquireRequest req;
  req.hold_id = ctx.request_id;
  req.now_ns = now_ns;
  if (limits_on) req.limits = Limits(ctx, tokens, &hold->token_limits);
  if (budget_on) {
    req.caps = Caps(day, ctx, key);
    req.amount = ctx.traffic.llm_allowed ? amount : core::Money::Zero();
    req.hold_ttl_ns = absl::ToInt64Nanoseconds(config_->budget.hold_ttl);
    req.velocity_minutes =
        static_cast<int>(absl::ToInt64Minutes(config_->cost_breaker.velocity_window));
  }
  absl::StatusOr<AcquireResult> r = store_->Acquire(req);
  if (!r.ok()) {
    // Not an outage (the store falls back by itself) but a broken store: spend nothing.
    spdlog::error("[{}] traffic control: {}", ctx.request_id, core::ToStd(r.status().message()));
    ctx.traffic.llm_allowed = false;
    return absl::OkStatus();
  }
  if (r->outcome == AcquireOutcome::kOverBudget) {
    if (over_budget_ != nullptr) over_budget_->Inc();
    ctx.traffic.over_budget = true;
    ctx.traffic.llm_allowed = false;
    ctx.degraded_level = 3;
    // The request is still counted against its limits; no hold.
    req.caps.clear();
    req.amount = core::Money::Zero();
    absl::StatusOr<AcquireResult> limits_only = store_->Acquire(req);
    if (limits_only.ok()) {
      limits_only->caps = r->caps;
      limits_only->velocity = r->velocity;
      r = std::move(limits_only);
    }
  }
  if (r->tightest >= 0 && r->tightest < static_cast<int>(req.limits.size())) {
    const LimitCheck& l = req.limits[static_cast<size_t>(r->tightest)];
    ctx.response_headers.emplace_back("RateLimit-Limit", absl::StrCat(l.limit.burst));
    ctx.response_headers.emplace_back("RateLimit-Remaining", absl::StrCat(r->remaining));
    ctx.response_headers.emplace_back("RateLimit-Reset",
                                      absl::StrCat(CeilSeconds(r->reset_after_ns)));
  }
  if (budget_on && !r->caps.empty() && config_->budget.daily_cap > core::Money::Zero()) {
    const int level = breaker_->Observe(now_ns, r->caps[0].spent + r->caps[0].held, r->velocity,
                                        ctx.request_id);
    if (!ctx.traffic.over_budget) ctx.degraded_level = std::max(ctx.degraded_level, level);
  }
  if (r->outcome == AcquireOutcome::kRateLimited) {
    if (limited_ != nullptr) limited_->Inc();
    const LimitCheck& l = req.limits[static_cast<size_t>(r->denied)];
    const std::vector<std::string> parts = absl::StrSplit(l.key, ':');  // rate:<rule>:...
    const std::string rule = parts.size() > 1 ? parts[1] : l.key;
    if (r->retry_after_ns < 0) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "the request's estimated ", l.cost, " tokens exceed rate limit '", rule,
          "' (at most ", l.limit.burst, " at once); lower max_tokens or shorten the input"));
    }
    const int64_t retry_s = std::max<int64_t>(1, CeilSeconds(r->retry_after_ns));
    ctx.response_headers.emplace_back("Retry-After", absl::StrCat(retry_s));
    return absl::ResourceExhaustedError(absl::StrCat(
        "rate limit '", rule, "' exceeded (", l.limit.limit, " ",
        absl::EndsWith(l.key, ":tok") ? "tokens" : "requests", " per ",
        absl::FormatDuration(absl::Nanoseconds(l.limit.period_ns)), "); retry in ", retry_s,
        " s"));
  }
  ctx.traffic.held = req.amount;
  ctx.traffic.held_tokens = tokens;
  hold->caps = std::move(req.caps);
  ctx.traffic.hold = std::move(hold);
  return absl::OkStatus();
}

void TrafficControl::Settle(core::RequestContext& ctx) {
  if (ctx.traffic.hold == nullptr) return;
  std::shared_ptr<Hold> hold = std::static_pointer_cast<Hold>(std::move(ctx.traffic.hold));
  ctx.traffic.hold.reset();
  const core::Money actual = LlmCost(ctx.cost);
  const int64_t used = ctx.usage.input_tokens + ctx.usage.output_tokens +
                       ctx.usage.cache_read_tokens + ctx.usage.cache_write_tokens;
  const absl::Time now = ctx.clock->Now();
  SettleRequest req;
  req.hold_id = ctx.request_id;
  req.now_ns = absl::ToUnixNanos(now);
  req.caps = hold->caps;
  req.held = ctx.traffic.held;
  req.actual = actual;
  for (LimitCheck l : hold->token_limits) {
    l.cost = used - ctx.traffic.held_tokens;
    req.adjust.push_back(std::move(l));
  }
  // The ledger row first: it is the authority, whatever happens to the store call.
  if (!hold->caps.empty() && actual > core::Money::Zero()) {
    ledger_->Append(LedgerRow{ctx.request_id, hold->day, absl::ToUnixMillis(now), ctx.tenant,
                              ctx.key_name, ctx.model, ctx.traffic.held, actual});
  }
  if (absl::Status s = store_->Settle(req); !s.ok()) {
    spdlog::error("[{}] traffic control: settle: {}", ctx.request_id, core::ToStd(s.message()));
  }
}

absl::StatusOr<BudgetView> TrafficControl::Budget() {
  const absl::Time now = clock_->Now();
  BudgetView v;
  v.day = Day(now);
  v.time_zone = config_->budget.time_zone;
  v.level = breaker_->level();
  v.store = std::string(store_->backend());
  v.ledger = std::string(ledger_->backend());
  PreloadDay(v.day);
  core::RequestContext none;
  std::vector<CapCheck> caps = Caps(v.day, none, nullptr);
  std::vector<std::string> scopes = {"deployment"};
  caps.resize(1);
  for (const auto& [tenant, cap] : config_->budget.tenants) {
    caps.push_back(CapCheck{absl::StrCat("cost:", v.day, ":tenant:", tenant), cap});
    scopes.push_back(absl::StrCat("tenant:", tenant));
  }
  for (const auto& [name, k] : Keys()->by_name) {
    if (k->daily_budget <= core::Money::Zero()) continue;
    caps.push_back(CapCheck{absl::StrCat("cost:", v.day, ":key:", name), k->daily_budget});
    scopes.push_back(absl::StrCat("key:", name));
  }
  absl::StatusOr<AcquireResult> r = store_->Read(
      caps, absl::ToUnixNanos(now),
      static_cast<int>(absl::ToInt64Minutes(config_->cost_breaker.velocity_window)));
  if (!r.ok()) return r.status();
  v.velocity = r->velocity;
  for (size_t i = 0; i < caps.size() && i < r->caps.size(); ++i) {
    v.caps.push_back(CapView{scopes[i], i == 0 ? config_->budget.daily_cap : caps[i].cap,
                             r->caps[i].spent, r->caps[i].held});
  }
  return v;
}

}  // namespace mangaassist::control
