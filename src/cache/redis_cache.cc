#include "cache/redis_cache.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <random>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "core/strings.h"
#include "spdlog/spdlog.h"

namespace mangaassist::cache {
namespace {

struct ReplyFree {
  void operator()(redisReply* r) const {
    if (r != nullptr) freeReplyObject(r);
  }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

timeval TimevalOf(absl::Duration d) {
  const int64_t us = std::max<int64_t>(1000, absl::ToInt64Microseconds(d));
  return timeval{static_cast<time_t>(us / 1'000'000), static_cast<suseconds_t>(us % 1'000'000)};
}

std::string FullKey(Keyspace ks, std::string_view key) {
  std::string k;
  k.reserve(KeyspacePrefix(ks).size() + key.size());
  k.append(KeyspacePrefix(ks));
  k.append(key);
  return k;
}

// Glob-escapes `s` for SCAN MATCH.
std::string GlobEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// A command's reply; null after an I/O error or timeout (then c->err is set and the connection is
// unusable).
Reply Command(redisContext* c, const std::vector<std::string_view>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (std::string_view a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return Reply(static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data())));
}

absl::Status ReplyError(const redisReply* r, std::string_view what) {
  return absl::InternalError(
      absl::StrCat("redis ", core::ToAbsl(what), ": ", absl::string_view(r->str, r->len)));
}

// One endpoint (host, port, db): a bounded pool of blocking connections and the up/down state
// with its reconnect backoff.
class Pool {
 public:
  Pool(RedisEndpoint endpoint, const RedisCacheOptions& o)
      : endpoint_(std::move(endpoint)),
        display_(endpoint_.Display()),
        max_(std::max(1, o.pool_size)),
        connect_timeout_(o.connect_timeout),
        command_timeout_(o.command_timeout),
        backoff_initial_(o.backoff_initial),
        backoff_max_(std::max(o.backoff_max, o.backoff_initial)),
        clock_(o.clock),
        rng_(std::random_device{}()) {}

  ~Pool() {
    absl::MutexLock lock(&mu_);
    for (redisContext* c : idle_) redisFree(c);
  }

  const std::string& display() const { return display_; }
  bool up() const { return up_.load(std::memory_order_acquire); }
  void set_on_change(std::function<void(bool up)> fn) { on_change_ = std::move(fn); }

  // Runs `fn` on a pooled connection. Unavailable without trying while the endpoint is down
  // and its backoff has not elapsed (one caller then probes); Unavailable after an I/O error or
  // timeout, which marks the endpoint down.
  absl::Status Run(absl::FunctionRef<absl::Status(redisContext*)> fn) {
    if (!up_.load(std::memory_order_acquire) && !ClaimProbe()) {
      return absl::UnavailableError(absl::StrCat("redis ", display_, " is down (backing off)"));
    }
    absl::StatusOr<redisContext*> conn = Acquire();
    if (!conn.ok()) {
      // A busy pool is not an outage; a failed connect is.
      if (conn.status().code() == absl::StatusCode::kResourceExhausted) {
        return absl::UnavailableError(conn.status().message());
      }
      MarkDown(core::ToStd(conn.status().message()));
      return conn.status();
    }
    absl::Status st = fn(*conn);
    if ((*conn)->err != 0) {
      std::string why = absl::StrCat("redis ", display_, ": ", (*conn)->errstr);
      Release(*conn, /*healthy=*/false);
      MarkDown(why);
      return absl::UnavailableError(why);
    }
    Release(*conn, /*healthy=*/true);
    MarkUp();
    return st;
  }

 private:
  // While down: true for the one caller allowed to try once the backoff has elapsed.
  bool ClaimProbe() {
    int64_t next = next_attempt_ns_.load(std::memory_order_acquire);
    const int64_t now = clock_->MonotonicNanos();
    if (now < next) return false;
    // Others keep failing fast while the probe runs (at most a connect plus a command).
    const int64_t probe_ns =
        absl::ToInt64Nanoseconds(connect_timeout_) + absl::ToInt64Nanoseconds(command_timeout_);
    return next_attempt_ns_.compare_exchange_strong(next, now + probe_ns);
  }

  absl::StatusOr<redisContext*> Acquire() {
    {
      absl::MutexLock lock(&mu_);
      auto available = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !idle_.empty() || open_ < max_;
      };
      if (!mu_.AwaitWithTimeout(absl::Condition(&available), command_timeout_)) {
        return absl::ResourceExhaustedError(
            absl::StrCat("redis ", display_, ": connection pool exhausted"));
      }
      if (!idle_.empty()) {
        redisContext* c = idle_.back();
        idle_.pop_back();
        return c;
      }
      ++open_;
    }
    absl::StatusOr<redisContext*> c = Connect();
    if (!c.ok()) {
      absl::MutexLock lock(&mu_);
      --open_;
    }
    return c;
  }

  absl::StatusOr<redisContext*> Connect() {
    redisContext* c = redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port,
                                              TimevalOf(connect_timeout_));
    if (c == nullptr || c->err != 0) {
      std::string why = absl::StrCat("redis ", display_,
                                     ": connect: ", c != nullptr ? c->errstr : "out of memory");
      if (c != nullptr) redisFree(c);
      return absl::UnavailableError(why);
    }
    if (redisSetTimeout(c, TimevalOf(command_timeout_)) != REDIS_OK) {
      redisFree(c);
      return absl::UnavailableError(absl::StrCat("redis ", display_, ": cannot set timeout"));
    }
    std::string db = absl::StrCat(endpoint_.db);
    std::vector<std::vector<std::string_view>> setup;
    if (!endpoint_.password.empty()) setup.push_back({"AUTH", endpoint_.password});
    if (endpoint_.db != 0) setup.push_back({"SELECT", db});
    for (const auto& cmd : setup) {
      Reply r = Command(c, cmd);
      if (r == nullptr || r->type == REDIS_REPLY_ERROR) {
        std::string why =
            absl::StrCat("redis ", display_, ": ", core::ToAbsl(cmd[0]),
                         " failed: ", r == nullptr ? c->errstr : std::string(r->str, r->len));
        redisFree(c);
        return absl::UnavailableError(why);
      }
    }
    return c;
  }

  void Release(redisContext* c, bool healthy) {
    absl::MutexLock lock(&mu_);
    if (healthy) {
      idle_.push_back(c);
    } else {
      redisFree(c);
      --open_;
    }
  }

  void MarkDown(std::string_view why) {
    std::vector<redisContext*> drop;
    bool changed;
    {
      absl::MutexLock lock(&mu_);
      changed = up_.exchange(false, std::memory_order_acq_rel);
      backoff_ = changed ? backoff_initial_ : std::min(backoff_ * 2, backoff_max_);
      // Equal jitter: half the backoff fixed, half random, so replicas do not reconnect in step.
      const int64_t half = absl::ToInt64Nanoseconds(backoff_) / 2;
      const int64_t wait = half + static_cast<int64_t>(rng_() % static_cast<uint64_t>(half + 1));
      next_attempt_ns_.store(clock_->MonotonicNanos() + wait, std::memory_order_release);
      drop.swap(idle_);  // pooled connections to a dead server are dead too
      open_ -= static_cast<int>(drop.size());
    }
    for (redisContext* c : drop) redisFree(c);
    if (changed) {
      spdlog::warn("cache: {} is down ({}); keyspaces use their fallback", display_, why);
      if (on_change_) on_change_(false);
    }
  }

  void MarkUp() {
    if (up_.load(std::memory_order_acquire)) return;
    if (up_.exchange(true, std::memory_order_acq_rel)) return;
    spdlog::info("cache: {} is back", display_);
    if (on_change_) on_change_(true);
  }

  const RedisEndpoint endpoint_;
  const std::string display_;
  const int max_;
  const absl::Duration connect_timeout_, command_timeout_, backoff_initial_, backoff_max_;
  const core::Clock* clock_;
  std::function<void(bool)> on_change_;  // set before first use

  std::atomic<bool> up_{true};
  std::atomic<int64_t> next_attempt_ns_{0};
  absl::Mutex mu_;
  std::vector<redisContext*> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration backoff_ ABSL_GUARDED_BY(mu_);
  std::minstd_rand rng_ ABSL_GUARDED_BY(mu_);
};

// The cache tier's metrics of remote keyspaces, declared together.
struct RemoteMetrics {
  core::Gauge* up = nullptr;          // mangaassist_cache_backend_up{keyspace}
  core::Counter* errors = nullptr;    // mangaassist_cache_backend_errors_total{keyspace}
  core::Counter* fallback = nullptr;  // mangaassist_cache_fallback_total{keyspace,mode}

  RemoteMetrics(core::Registry* r, Keyspace ks, Fallback f) {
    if (r == nullptr) return;
    const std::string name(KeyspaceName(ks));
    up = &r->GetGauge("mangaassist_cache_backend_up",
                      "1 while the keyspace's Redis answers, 0 while its fallback applies",
                      {{"keyspace", name}});
    up->Set(1);
    errors = &r->GetCounter("mangaassist_cache_backend_errors_total",
                            "Cache operations that failed on Redis (I/O, timeout, error reply)",
                            {{"keyspace", name}});
    fallback = &r->GetCounter("mangaassist_cache_fallback_total",
                              "Cache operations answered by the fallback while Redis was down",
                              {{"keyspace", name}, {"mode", std::string(FallbackName(f))}});
  }
};

void Inc(core::Counter* c) {
  if (c != nullptr) c->Inc();
}

class RedisCache final : public Cache {
 public:
  RedisCache(const RedisCacheOptions& o, std::unique_ptr<Cache> local) : local_(std::move(local)) {
    std::map<std::string, Pool*> by_endpoint;
    for (Keyspace ks : AllKeyspaces()) {
      const size_t i = static_cast<size_t>(ks);
      fallback_[i] = o.fallback[i];
      if (!o.endpoints[i].has_value()) continue;
      const RedisEndpoint& ep = *o.endpoints[i];
      // Identity includes the password so two credentials never share a connection.
      std::string id = absl::StrCat(ep.host, "\n", ep.port, "\n", ep.db, "\n", ep.password);
      auto it = by_endpoint.find(id);
      if (it == by_endpoint.end()) {
        pools_.push_back(std::make_unique<Pool>(ep, o));
        it = by_endpoint.emplace(id, pools_.back().get()).first;
      }
      pool_of_[i] = it->second;
      metrics_[i] = std::make_unique<RemoteMetrics>(o.metrics, ks, fallback_[i]);
    }
    for (auto& pool : pools_) {
      Pool* p = pool.get();
      p->set_on_change([this, p](bool up) { OnChange(p, up); });
    }
  }

  absl::StatusOr<std::string> Get(Keyspace ks, std::string_view key) override {
    Pool* p = pool_of_[static_cast<size_t>(ks)];
    if (p == nullptr) return local_->Get(ks, key);
    absl::StatusOr<std::string> out = absl::NotFoundError("cache miss");
    const std::string k = FullKey(ks, key);
    absl::Status st = p->Run([&](redisContext* c) {
      Reply r = Command(c, {"GET", k});
      if (r == nullptr) return absl::OkStatus();  // I/O error: Run reports it
      if (r->type == REDIS_REPLY_STRING)
        out = std::string(r->str, r->len);
      else if (r->type == REDIS_REPLY_ERROR)
        return ReplyError(r.get(), "GET");
      return absl::OkStatus();
    });
    if (st.ok()) return out;
    return Failed(ks, st, [&] { return local_->Get(ks, key); });
  }

  absl::Status Set(Keyspace ks, std::string_view key, std::string_view value,
                   absl::Duration ttl) override {
    if (absl::Status s = CheckTtl(ttl); !s.ok()) return s;
    Pool* p = pool_of_[static_cast<size_t>(ks)];
    if (p == nullptr) return local_->Set(ks, key, value, ttl);
    const std::string k = FullKey(ks, key);
    const std::string ms = absl::StrCat(std::max<int64_t>(1, absl::ToInt64Milliseconds(ttl)));
    absl::Status st = p->Run([&](redisContext* c) {
      Reply r = ttl == absl::InfiniteDuration() ? Command(c, {"SET", k, value})
                                                : Command(c, {"SET", k, value, "PX", ms});
      if (r != nullptr && r->type == REDIS_REPLY_ERROR) return ReplyError(r.get(), "SET");
      return absl::OkStatus();
    });
    if (st.ok()) return st;
    return Failed(ks, st, [&] { return local_->Set(ks, key, value, ttl); });
  }

  absl::Status Delete(Keyspace ks, std::string_view key) override {
    Pool* p = pool_of_[static_cast<size_t>(ks)];
    if (p == nullptr) return local_->Delete(ks, key);
    const std::string k = FullKey(ks, key);
    absl::Status st = p->Run([&](redisContext* c) {
      Reply r = Command(c, {"UNLINK", k});
      if (r != nullptr && r->type == REDIS_REPLY_ERROR) return ReplyError(r.get(), "UNLINK");
      return absl::OkStatus();
    });
    if (st.ok()) return st;
    // The local copy goes, but Redis still holds the key: the caller must learn that.
    (void)local_->Delete(ks, key);
    CountFailure(ks, st);
    return st;
  }

  std::vector<absl::StatusOr<std::string>> GetMany(Keyspace ks,
                                                   const std::vector<std::string>& keys) override {
    Pool* p = pool_of_[static_cast<size_t>(ks)];
    if (p == nullptr) return local_->GetMany(ks, keys);
    std::vector<absl::StatusOr<std::string>> out;
    absl::Status st = p->Run([&](redisContext* c) {
      for (const std::string& key : keys) {
        const std::string k = FullKey(ks, key);
        const char* argv[] = {"GET", k.data()};
        const size_t lens[] = {3, k.size()};
        if (redisAppendCommandArgv(c, 2, argv, lens) != REDIS_OK) return absl::OkStatus();
      }
      out.reserve(keys.size());
      for (size_t i = 0; i < keys.size(); ++i) {
        void* raw = nullptr;
        if (redisGetReply(c, &raw) != REDIS_OK) return absl::OkStatus();  // I/O: Run reports
        Reply r(static_cast<redisReply*>(raw));
        if (r->type == REDIS_REPLY_STRING) {
          out.emplace_back(std::string(r->str, r->len));
        } else if (r->type == REDIS_REPLY_ERROR) {
          out.emplace_back(ReplyError(r.get(), "GET"));
        } else {
          out.emplace_back(absl::NotFoundError("cache miss"));
        }
      }
      return absl::OkStatus();
    });
    if (st.ok()) return out;
    CountFailure(ks, st);
    const size_t i = static_cast<size_t>(ks);
    if (st.code() == absl::StatusCode::kUnavailable) {
      if (metrics_[i]) Inc(metrics_[i]->fallback);
      if (fallback_[i] == Fallback::kMemory) return local_->GetMany(ks, keys);
    }
    return std::vector<absl::StatusOr<std::string>>(keys.size(), st);
  }

  absl::StatusOr<int64_t> DeletePrefix(Keyspace ks, std::string_view prefix) override {
    Pool* p = pool_of_[static_cast<size_t>(ks)];
    if (p == nullptr) return local_->DeletePrefix(ks, prefix);
    const std::string match = absl::StrCat(GlobEscape(FullKey(ks, prefix)), "*");
    int64_t deleted = 0;
    absl::Status st = p->Run([&](redisContext* c) {
      std::string cursor = "0";
      do {
        Reply r = Command(c, {"SCAN", cursor, "MATCH", match, "COUNT", "1000"});
        if (r == nullptr) return absl::OkStatus();
        if (r->type == REDIS_REPLY_ERROR) return ReplyError(r.get(), "SCAN");
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
          return absl::InternalError("redis SCAN: unexpected reply");
        }
        cursor.assign(r->element[0]->str, r->element[0]->len);
        const redisReply* keys = r->element[1];
        if (keys->elements > 0) {
          std::vector<std::string_view> args = {"UNLINK"};
          for (size_t i = 0; i < keys->elements; ++i) {
            args.emplace_back(keys->element[i]->str, keys->element[i]->len);
          }
          Reply u = Command(c, args);
          if (u == nullptr) return absl::OkStatus();
          if (u->type == REDIS_REPLY_ERROR) return ReplyError(u.get(), "UNLINK");
          deleted += u->integer;
        }
      } while (cursor != "0");
      return absl::OkStatus();
    });
    absl::StatusOr<int64_t> local = local_->DeletePrefix(ks, prefix);
    if (!st.ok()) {
      CountFailure(ks, st);
      return st;
    }
    return deleted + (local.ok() ? *local : 0);
  }

  std::vector<KeyspaceHealth> Health() const override {
    std::vector<KeyspaceHealth> out;
    for (Keyspace ks : AllKeyspaces()) {
      const size_t i = static_cast<size_t>(ks);
      const Pool* p = pool_of_[i];
      if (p == nullptr) {
        out.push_back(KeyspaceHealth{ks, "memory", true, ""});
      } else {
        out.push_back(
            KeyspaceHealth{ks, p->display(), p->up(), std::string(FallbackName(fallback_[i]))});
      }
    }
    return out;
  }

 private:
  void CountFailure(Keyspace ks, const absl::Status& st) {
    // "down, backing off" is not a new error; everything else is.
    if (absl::string_view(st.message()).find("backing off") != absl::string_view::npos) return;
    if (metrics_[static_cast<size_t>(ks)]) Inc(metrics_[static_cast<size_t>(ks)]->errors);
  }

  // A failed operation: Unavailable (Redis down or busy) goes to the keyspace's fallback; an
  // error reply (e.g. OOM on a full noeviction instance) is returned as is.
  template <typename Fn>
  auto Failed(Keyspace ks, const absl::Status& st, Fn local) -> decltype(local()) {
    CountFailure(ks, st);
    if (st.code() != absl::StatusCode::kUnavailable) return st;
    const size_t i = static_cast<size_t>(ks);
    if (metrics_[i]) Inc(metrics_[i]->fallback);
    if (fallback_[i] == Fallback::kMemory) return local();
    return st;
  }

  void OnChange(Pool* p, bool up) {
    for (Keyspace ks : AllKeyspaces()) {
      const size_t i = static_cast<size_t>(ks);
      if (pool_of_[i] != p) continue;
      if (metrics_[i] && metrics_[i]->up != nullptr) metrics_[i]->up->Set(up ? 1 : 0);
      // What was written locally during the outage may have missed invalidations.
      if (up && fallback_[i] == Fallback::kMemory) (void)local_->DeletePrefix(ks, "");
    }
  }

  std::unique_ptr<Cache> local_;
  std::vector<std::unique_ptr<Pool>> pools_;
  std::array<Pool*, kKeyspaceCount> pool_of_{};
  std::array<Fallback, kKeyspaceCount> fallback_{};
  std::array<std::unique_ptr<RemoteMetrics>, kKeyspaceCount> metrics_;
};

}  // namespace

std::string_view FallbackName(Fallback f) { return f == Fallback::kSkip ? "skip" : "memory"; }

std::string RedisEndpoint::Display() const {
  return absl::StrCat("redis://", host, ":", port, "/", db);
}

absl::StatusOr<RedisEndpoint> ParseRedisUrl(std::string_view url, int default_db) {
  constexpr std::string_view kScheme = "redis://";
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", core::ToAbsl(url), "' is not a Redis URL (", core::ToAbsl(why),
                     "; expected redis://[:password@]host[:port][/db])"));
  };
  if (url.substr(0, kScheme.size()) != kScheme) return bad("no redis:// scheme");
  std::string_view rest = url.substr(kScheme.size());
  RedisEndpoint ep;
  ep.db = default_db;
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view auth = rest.substr(0, at);
    rest = rest.substr(at + 1);
    // ":password" or "user:password" (ACL users are not supported: the user part must be empty).
    size_t colon = auth.find(':');
    if (colon == std::string_view::npos || colon != 0) return bad("credentials must be :password");
    ep.password = std::string(auth.substr(1));
  }
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    std::string_view db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!db.empty() && (!absl::SimpleAtoi(core::ToAbsl(db), &ep.db) || ep.db < 0 || ep.db > 15)) {
      return bad("the db must be 0..15");
    }
  }
  std::string_view host = rest;
  if (size_t colon = rest.rfind(':');
      colon != std::string_view::npos && rest.find(']') == std::string_view::npos) {
    host = rest.substr(0, colon);
    if (!absl::SimpleAtoi(core::ToAbsl(rest.substr(colon + 1)), &ep.port) || ep.port < 1 ||
        ep.port > 65535) {
      return bad("the port must be 1..65535");
    }
  }
  if (host.empty()) return bad("no host");
  ep.host = std::string(host);
  return ep;
}

std::unique_ptr<Cache> NewRedisCache(const RedisCacheOptions& options,
                                     std::unique_ptr<Cache> local) {
  return std::make_unique<RedisCache>(options, std::move(local));
}

}  // namespace mangaassist::cache
