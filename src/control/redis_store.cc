// The Redis ControlStore: every Acquire is one EVALSHA of one Lua script that checks all of a
// request's GCRA limits and daily caps and takes all or none, atomically for every replica
// (one round trip); Settle is a second script. Times are integer microseconds in Redis (Lua
// numbers are doubles: exact to 2^53), money integer nano-USD (HINCRBY). Keys (db 0, the seed's
// noeviction instance): `rate:*` TATs with a TTL of their reset time; `cost:<day>:*` hashes
// {spent, held, seeded}; `cost:hold:<request_id>` the hold; `cost:holds` a sorted set of hold
// expiries; `cost:vel:<minute>` the deployment's spend per minute (velocity).
//
// Counters missing (new day, Redis restarted or flushed): the script answers SEED, the store
// asks the ledger (SeedFn) for today's spend per cap and seeds the hashes, then retries: Redis
// is the ledger's read-through cache. Redis unreachable: the in-process fallback (store.h).
#include <cmath>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "cache/redis_pool.h"
#include "control/store.h"
#include "core/strings.h"
#include "spdlog/spdlog.h"

namespace mangaassist::control {
namespace {

constexpr std::string_view kHoldsKey = "cost:holds";
constexpr std::string_view kVelocityBase = "cost:vel:";

// KEYS: limits[nl], caps[nc], hold, holds zset.
// ARGV: now_us, nl, nc, amount, hold_ttl_ms, velocity_minutes, velocity_base,
//       (emission_us, burst, cost) × nl, cap × nc.
// → {outcome, denied, retry_us, tightest, remaining, reset_us, velocity, (spent, held) × nc}
//   or {"SEED"} when a cap hash is not seeded.
constexpr std::string_view kAcquireScript = R"lua(
local function s(x) return string.format('%.0f', x) end
local now = tonumber(ARGV[1])
local nl = tonumber(ARGV[2])
local nc = tonumber(ARGV[3])
local amount = tonumber(ARGV[4])
local ttl_ms = tonumber(ARGV[5])
local vmin = tonumber(ARGV[6])
local hold_key = KEYS[nl + nc + 1]
local holds_z = KEYS[nl + nc + 2]
local expired = redis.call('ZRANGEBYSCORE', holds_z, '-inf', s(now), 'LIMIT', 0, 16)
for _, hk in ipairs(expired) do
  local h = redis.call('HMGET', hk, 'a', 'k', 's')
  if h[1] and not h[3] then
    for key in string.gmatch(h[2], '[^\n]+') do redis.call('HINCRBY', key, 'held', '-' .. h[1]) end
    redis.call('HSET', hk, 's', 'x')
  end
  redis.call('ZREM', holds_z, hk)
end
for i = 1, nc do
  if redis.call('HEXISTS', KEYS[nl + i], 'seeded') == 0 then return {'SEED'} end
end
local outcome, denied, retry = 0, -1, 0
local tight, rem, reset = -1, 0, 0
local new_tats = {}
for i = 1, nl do
  local b = 8 + (i - 1) * 3
  local t = tonumber(ARGV[b])
  local burst = tonumber(ARGV[b + 1])
  local cost = tonumber(ARGV[b + 2])
  local tat = math.max(tonumber(redis.call('GET', KEYS[i]) or '0'), now)
  local cap = t * burst
  local r_rem, r_reset
  if cost > burst then
    if outcome == 0 then outcome = 1; denied = i - 1; retry = -1 end
    r_rem = math.max(0, math.floor((cap - (tat - now)) / t)); r_reset = tat - now
  else
    local nt = tat + t * cost
    if now < nt - cap then
      if outcome == 0 then outcome = 1; denied = i - 1; retry = nt - cap - now end
      r_rem = math.max(0, math.floor((cap - (tat - now)) / t)); r_reset = tat - now
    else
      new_tats[i] = nt
      r_rem = math.max(0, math.floor((cap - (nt - now)) / t)); r_reset = nt - now
    end
  end
  if tight < 0 or r_rem < rem then tight = i - 1; rem = r_rem; reset = r_reset end
end
local spent, held = {}, {}
for i = 1, nc do
  local v = redis.call('HMGET', KEYS[nl + i], 'spent', 'held')
  spent[i] = tonumber(v[1] or '0'); held[i] = tonumber(v[2] or '0')
  local capv = tonumber(ARGV[8 + nl * 3 + i - 1])
  if outcome == 0 and amount > 0 and spent[i] + held[i] + amount > capv then
    outcome = 2; denied = i - 1
  end
end
if outcome == 0 then
  for i = 1, nl do
    redis.call('SET', KEYS[i], s(new_tats[i]), 'PX', s(math.ceil((new_tats[i] - now) / 1000) + 1000))
  end
  if amount > 0 and nc > 0 then
    local ks = {}
    for i = 1, nc do
      redis.call('HINCRBY', KEYS[nl + i], 'held', ARGV[4])
      held[i] = held[i] + amount
      ks[i] = KEYS[nl + i]
    end
    redis.call('HSET', hold_key, 'a', ARGV[4], 'k', table.concat(ks, '\n'))
    redis.call('PEXPIRE', hold_key, s(ttl_ms + 3600000))
    redis.call('ZADD', holds_z, s(now + ttl_ms * 1000), hold_key)
  end
end
local vel = 0
if vmin > 0 then
  local m = math.floor(now / 60000000)
  for j = 0, vmin - 1 do vel = vel + tonumber(redis.call('GET', ARGV[7] .. s(m - j)) or '0') end
end
local out = {outcome, denied, s(retry), tight, s(rem), s(reset), s(vel)}
for i = 1, nc do out[#out + 1] = s(spent[i]); out[#out + 1] = s(held[i]) end
return out
)lua";

// KEYS: caps[nc], hold, holds zset, adjusted limits[na].
// ARGV: now_us, nc, na, actual, velocity_base, (emission_us, delta) × na.
constexpr std::string_view kSettleScript = R"lua(
local function s(x) return string.format('%.0f', x) end
local now = tonumber(ARGV[1])
local nc = tonumber(ARGV[2])
local na = tonumber(ARGV[3])
local hk = KEYS[nc + 1]
local h = redis.call('HMGET', hk, 'a', 's')
if h[2] == '1' then return 0 end
if h[1] and not h[2] then
  for i = 1, nc do redis.call('HINCRBY', KEYS[i], 'held', '-' .. h[1]) end
end
if ARGV[4] ~= '0' then
  for i = 1, nc do
    if redis.call('HEXISTS', KEYS[i], 'seeded') == 1 then redis.call('HINCRBY', KEYS[i], 'spent', ARGV[4]) end
  end
  if nc > 0 then
    local vk = ARGV[5] .. s(math.floor(now / 60000000))
    redis.call('INCRBY', vk, ARGV[4])
    redis.call('EXPIRE', vk, 25200)
  end
end
redis.call('HSET', hk, 's', '1')
redis.call('PEXPIRE', hk, 3600000)
redis.call('ZREM', KEYS[nc + 2], hk)
for i = 1, na do
  local k = KEYS[nc + 2 + i]
  local stored = redis.call('GET', k)
  if stored then
    local t = tonumber(ARGV[5 + (i - 1) * 2 + 1])
    local d = tonumber(ARGV[5 + (i - 1) * 2 + 2])
    local tat = math.max(math.max(tonumber(stored), now) + t * d, now)
    redis.call('SET', k, s(tat), 'PX', s(math.ceil((tat - now) / 1000) + 1000))
  end
end
return 1
)lua";

// KEYS: caps[n]; ARGV: spent × n. Seeds hashes that are not seeded yet (a settle that arrived
// first is kept when it is higher: never undercount).
constexpr std::string_view kSeedScript = R"lua(
for i = 1, #KEYS do
  if redis.call('HEXISTS', KEYS[i], 'seeded') == 0 then
    local cur = tonumber(redis.call('HGET', KEYS[i], 'spent') or '0')
    local v = math.max(cur, tonumber(ARGV[i]))
    redis.call('HSET', KEYS[i], 'spent', string.format('%.0f', v), 'seeded', '1')
    redis.call('HSETNX', KEYS[i], 'held', '0')
    redis.call('EXPIRE', KEYS[i], 345600)
  end
end
return 1
)lua";

// KEYS: caps[n]; ARGV: velocity_minutes, now_us, velocity_base.
constexpr std::string_view kReadScript = R"lua(
local out = {}
for i = 1, #KEYS do
  local v = redis.call('HMGET', KEYS[i], 'spent', 'held')
  out[#out + 1] = v[1] or '0'
  out[#out + 1] = v[2] or '0'
end
local vel = 0
local vmin = tonumber(ARGV[1])
local m = math.floor(tonumber(ARGV[2]) / 60000000)
for j = 0, vmin - 1 do vel = vel + tonumber(redis.call('GET', ARGV[3] .. string.format('%.0f', m - j)) or '0') end
out[#out + 1] = string.format('%.0f', vel)
return out
)lua";

int64_t EmissionUs(const GcraLimit& l) { return std::max<int64_t>(1, (l.EmissionNs() + 999) / 1000); }

int64_t ReplyInt(const redisReply* r) {
  if (r->type == REDIS_REPLY_INTEGER) return r->integer;
  if (r->type == REDIS_REPLY_STRING) {
    int64_t v = 0;
    if (absl::SimpleAtoi(absl::string_view(r->str, r->len), &v)) return v;
  }
  return 0;
}

class Script {
 public:
  explicit Script(std::string_view text) : text_(text) {}
  // EVALSHA, loading the script on NOSCRIPT. `args` = numkeys-prefixed KEYS and ARGV.
  cache::Reply Eval(redisContext* c, const std::vector<std::string>& keys,
                    const std::vector<std::string>& argv) {
    std::string sha;
    {
      absl::MutexLock lock(&mu_);
      sha = sha_;
    }
    if (sha.empty()) {
      cache::Reply r = cache::Command(c, {"SCRIPT", "LOAD", text_});
      if (r == nullptr || r->type != REDIS_REPLY_STRING) return r;
      sha.assign(r->str, r->len);
      absl::MutexLock lock(&mu_);
      sha_ = sha;
    }
    std::string nkeys = absl::StrCat(keys.size());
    std::vector<std::string_view> args;
    args.reserve(3 + keys.size() + argv.size());
    args.push_back("EVALSHA");
    args.push_back(sha);
    args.push_back(nkeys);
    for (const std::string& k : keys) args.push_back(k);
    for (const std::string& a : argv) args.push_back(a);
    cache::Reply r = cache::Command(c, args);
    if (r != nullptr && r->type == REDIS_REPLY_ERROR &&
        std::string_view(r->str, r->len).starts_with("NOSCRIPT")) {
      {
        absl::MutexLock lock(&mu_);
        sha_.clear();
      }
      return Eval(c, keys, argv);
    }
    return r;
  }

 private:
  const std::string_view text_;
  absl::Mutex mu_;
  std::string sha_ ABSL_GUARDED_BY(mu_);
};

class RedisStore final : public ControlStore {
 public:
  RedisStore(cache::RedisEndpoint endpoint, const RedisStoreOptions& o)
      : options_(o), pool_(std::move(endpoint), PoolOptions(o)), local_(NewMemoryStore()) {
    if (o.metrics != nullptr) {
      up_ = &o.metrics->GetGauge("mangaassist_control_store_up",
                                 "1 while the traffic-control Redis answers, 0 while in-process "
                                 "limits (limit ÷ replicas) apply");
      up_->Set(1);
      fallbacks_ = &o.metrics->GetCounter(
          "mangaassist_control_fallback_total",
          "Limit and budget decisions taken in-process because Redis was unreachable");
    }
    pool_.set_on_change([this](bool up) {
      if (up_ != nullptr) up_->Set(up ? 1 : 0);
    });
  }

  std::string_view backend() const override { return "redis"; }

  absl::StatusOr<AcquireResult> Acquire(const AcquireRequest& req) override {
    PushPending();
    for (int attempt = 0; attempt < 3; ++attempt) {
      AcquireResult r;
      bool seed = false;
      absl::Status st = pool_.Run([&](redisContext* c) -> absl::Status {
        cache::Reply reply = acquire_.Eval(c, AcquireKeys(req), AcquireArgs(req));
        if (reply == nullptr) return absl::OkStatus();  // I/O error: the pool marks it down
        if (reply->type == REDIS_REPLY_ERROR) return cache::ReplyError(reply.get(), "acquire");
        if (reply->type != REDIS_REPLY_ARRAY) return absl::InternalError("acquire: bad reply");
        if (reply->elements == 1) {
          seed = true;
          return absl::OkStatus();
        }
        if (reply->elements != 7 + 2 * req.caps.size()) {
          return absl::InternalError("acquire: bad reply length");
        }
        redisReply** e = reply->element;
        r.outcome = static_cast<AcquireOutcome>(ReplyInt(e[0]));
        r.denied = static_cast<int>(ReplyInt(e[1]));
        const int64_t retry_us = ReplyInt(e[2]);
        r.retry_after_ns = retry_us < 0 ? -1 : retry_us * 1000;
        r.tightest = static_cast<int>(ReplyInt(e[3]));
        r.remaining = ReplyInt(e[4]);
        r.reset_after_ns = ReplyInt(e[5]) * 1000;
        r.velocity = core::Money::FromNanos(ReplyInt(e[6]));
        for (size_t i = 0; i < req.caps.size(); ++i) {
          r.caps.push_back(CapState{core::Money::FromNanos(ReplyInt(e[7 + 2 * i])),
                                    core::Money::FromNanos(ReplyInt(e[8 + 2 * i]))});
        }
        return absl::OkStatus();
      });
      if (absl::IsUnavailable(st)) return Fallback(req);
      if (!st.ok()) return st;
      if (!seed) {
        Remember(req.caps, r.caps);
        return r;
      }
      if (absl::Status s = Seed(req.caps); !s.ok()) {
        if (absl::IsUnavailable(s)) return Fallback(req);
        return s;
      }
    }
    return absl::InternalError("budget counters could not be seeded from the ledger");
  }

  absl::Status Settle(const SettleRequest& req) override {
    {
      absl::MutexLock lock(&mu_);
      if (auto it = local_holds_.find(req.hold_id); it != local_holds_.end()) {
        local_holds_.erase(it);
        for (const CapCheck& c : req.caps) pending_spent_[c.key] += req.actual;
        SettleRequest scaled = req;
        scaled.adjust.clear();
        return local_->Settle(scaled);
      }
    }
    std::vector<std::string> keys;
    for (const CapCheck& c : req.caps) keys.push_back(c.key);
    keys.push_back(HoldKey(req.hold_id));
    keys.emplace_back(kHoldsKey);
    for (const LimitCheck& l : req.adjust) keys.push_back(l.key);
    std::vector<std::string> argv = {absl::StrCat(req.now_ns / 1000), absl::StrCat(req.caps.size()),
                                     absl::StrCat(req.adjust.size()),
                                     absl::StrCat(req.actual.nanos()), std::string(kVelocityBase)};
    for (const LimitCheck& l : req.adjust) {
      argv.push_back(absl::StrCat(EmissionUs(l.limit)));
      argv.push_back(absl::StrCat(l.cost));
    }
    absl::Status st = pool_.Run([&](redisContext* c) -> absl::Status {
      cache::Reply reply = settle_.Eval(c, keys, argv);
      if (reply == nullptr) return absl::OkStatus();
      if (reply->type == REDIS_REPLY_ERROR) return cache::ReplyError(reply.get(), "settle");
      return absl::OkStatus();
    });
    if (absl::IsUnavailable(st)) {
      // The spend is in the ledger regardless; it reaches Redis when Redis is back.
      absl::MutexLock lock(&mu_);
      for (const CapCheck& c : req.caps) pending_spent_[c.key] += req.actual;
      return absl::OkStatus();
    }
    return st;
  }

  // Redis seeds itself from the ledger when its counters are missing (SEED); nothing to do.
  absl::Status Preload(const std::vector<std::string>&, const std::vector<core::Money>&) override {
    return absl::OkStatus();
  }

  absl::StatusOr<AcquireResult> Read(const std::vector<CapCheck>& caps, int64_t now_ns,
                                     int velocity_minutes) override {
    std::vector<std::string> keys;
    for (const CapCheck& c : caps) keys.push_back(c.key);
    AcquireResult r;
    absl::Status st = pool_.Run([&](redisContext* c) -> absl::Status {
      cache::Reply reply =
          read_.Eval(c, keys,
                     {absl::StrCat(velocity_minutes), absl::StrCat(now_ns / 1000),
                      std::string(kVelocityBase)});
      if (reply == nullptr) return absl::OkStatus();
      if (reply->type == REDIS_REPLY_ERROR) return cache::ReplyError(reply.get(), "read");
      if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 * caps.size() + 1) {
        return absl::InternalError("read: bad reply");
      }
      for (size_t i = 0; i < caps.size(); ++i) {
        r.caps.push_back(CapState{core::Money::FromNanos(ReplyInt(reply->element[2 * i])),
                                  core::Money::FromNanos(ReplyInt(reply->element[2 * i + 1]))});
      }
      r.velocity = core::Money::FromNanos(ReplyInt(reply->element[2 * caps.size()]));
      return absl::OkStatus();
    });
    if (absl::IsUnavailable(st)) return local_->Read(caps, now_ns, velocity_minutes);
    if (!st.ok()) return st;
    return r;
  }

 private:
  static cache::RedisPoolOptions PoolOptions(const RedisStoreOptions& o) {
    cache::RedisPoolOptions p;
    p.pool_size = o.pool_size;
    p.connect_timeout = o.connect_timeout;
    p.command_timeout = o.command_timeout;
    p.backoff_initial = o.backoff_initial;
    p.backoff_max = o.backoff_max;
    p.clock = o.clock;
    p.log_name = "traffic control";
    return p;
  }

  static std::string HoldKey(std::string_view id) { return absl::StrCat("cost:hold:", core::ToAbsl(id)); }

  static std::vector<std::string> AcquireKeys(const AcquireRequest& req) {
    std::vector<std::string> keys;
    keys.reserve(req.limits.size() + req.caps.size() + 2);
    for (const LimitCheck& l : req.limits) keys.push_back(l.key);
    for (const CapCheck& c : req.caps) keys.push_back(c.key);
    keys.push_back(HoldKey(req.hold_id));
    keys.emplace_back(kHoldsKey);
    return keys;
  }

  static std::vector<std::string> AcquireArgs(const AcquireRequest& req) {
    std::vector<std::string> a = {absl::StrCat(req.now_ns / 1000),
                                  absl::StrCat(req.limits.size()),
                                  absl::StrCat(req.caps.size()),
                                  absl::StrCat(req.amount.nanos()),
                                  absl::StrCat(req.hold_ttl_ns / 1'000'000),
                                  absl::StrCat(req.caps.empty() ? 0 : req.velocity_minutes),
                                  std::string(kVelocityBase)};
    for (const LimitCheck& l : req.limits) {
      a.push_back(absl::StrCat(EmissionUs(l.limit)));
      a.push_back(absl::StrCat(l.limit.burst));
      a.push_back(absl::StrCat(l.cost));
    }
    for (const CapCheck& c : req.caps) a.push_back(absl::StrCat(c.cap.nanos()));
    return a;
  }

  absl::Status Seed(const std::vector<CapCheck>& caps) {
    std::vector<std::string> keys;
    for (const CapCheck& c : caps) keys.push_back(c.key);
    std::vector<core::Money> spent(caps.size());
    if (options_.seed) {
      absl::StatusOr<std::vector<core::Money>> s = options_.seed(keys);
      if (!s.ok()) return s.status();
      if (s->size() != caps.size()) return absl::InternalError("seed: wrong number of amounts");
      spent = *std::move(s);
    }
    std::vector<std::string> argv;
    for (core::Money m : spent) argv.push_back(absl::StrCat(m.nanos()));
    return pool_.Run([&](redisContext* c) -> absl::Status {
      cache::Reply reply = seed_.Eval(c, keys, argv);
      if (reply != nullptr && reply->type == REDIS_REPLY_ERROR) {
        return cache::ReplyError(reply.get(), "seed");
      }
      return absl::OkStatus();
    });
  }

  // The last state Redis reported for each cap: the fallback divides what was left.
  void Remember(const std::vector<CapCheck>& caps, const std::vector<CapState>& states) {
    absl::MutexLock lock(&mu_);
    for (size_t i = 0; i < caps.size() && i < states.size(); ++i) {
      last_known_[caps[i].key] = states[i].spent + states[i].held;
    }
  }

  void FallbackRequest(const AcquireRequest& req, AcquireRequest* local) {
    *local = req;
    const int n = std::max(1, options_.replicas);
    for (LimitCheck& l : local->limits) {
      l.limit.limit = std::max<int64_t>(1, l.limit.limit / n);
      l.limit.burst = std::max<int64_t>(1, l.limit.burst / n);
      l.key = absl::StrCat("local:", l.key);
    }
    absl::MutexLock lock(&mu_);
    for (CapCheck& c : local->caps) {
      core::Money used = last_known_[c.key];
      core::Money left = c.cap > used ? c.cap - used : core::Money::Zero();
      c.cap = core::Money::FromNanos(left.nanos() / n);
    }
  }

  absl::StatusOr<AcquireResult> Fallback(const AcquireRequest& req) {
    if (fallbacks_ != nullptr) fallbacks_->Inc();
    AcquireRequest local;
    FallbackRequest(req, &local);
    absl::StatusOr<AcquireResult> r = local_->Acquire(local);
    if (r.ok() && r->outcome == AcquireOutcome::kOk && req.amount > core::Money::Zero()) {
      absl::MutexLock lock(&mu_);
      local_holds_.insert(req.hold_id);
    }
    return r;
  }

  // Spend settled while Redis was unreachable, added once it answers again.
  void PushPending() {
    absl::flat_hash_map<std::string, core::Money> pending;
    {
      absl::MutexLock lock(&mu_);
      if (pending_spent_.empty() || !pool_.up()) return;
      pending.swap(pending_spent_);
    }
    absl::Status st = pool_.Run([&](redisContext* c) -> absl::Status {
      for (const auto& [key, amount] : pending) {
        if (amount == core::Money::Zero()) continue;
        cache::Reply r = cache::Command(
            c, {"HINCRBY", key, "spent", absl::StrCat(amount.nanos())});
        if (r == nullptr) return absl::OkStatus();
      }
      return absl::OkStatus();
    });
    if (!st.ok()) {
      absl::MutexLock lock(&mu_);
      for (const auto& [key, amount] : pending) pending_spent_[key] += amount;
    } else {
      spdlog::info("traffic control: Redis is back; added the spend settled meanwhile");
    }
  }

  const RedisStoreOptions options_;
  cache::RedisPool pool_;
  std::unique_ptr<ControlStore> local_;
  Script acquire_{kAcquireScript};
  Script settle_{kSettleScript};
  Script seed_{kSeedScript};
  Script read_{kReadScript};
  core::Gauge* up_ = nullptr;
  core::Counter* fallbacks_ = nullptr;
  absl::Mutex mu_;
  absl::flat_hash_set<std::string> local_holds_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, core::Money> pending_spent_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, core::Money> last_known_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<ControlStore>> NewRedisStore(const RedisStoreOptions& options) {
  absl::StatusOr<cache::RedisEndpoint> ep = cache::ParseRedisUrl(options.url, 0);
  if (!ep.ok()) return ep.status();
  return std::unique_ptr<ControlStore>(new RedisStore(*std::move(ep), options));
}

}  // namespace mangaassist::control
