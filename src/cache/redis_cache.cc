#include "cache/redis_cache.h"

#include "cache/redis_pool.h"

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

RedisPoolOptions PoolOptionsOf(const RedisCacheOptions& o) {
  RedisPoolOptions p;
  p.pool_size = o.pool_size;
  p.connect_timeout = o.connect_timeout;
  p.command_timeout = o.command_timeout;
  p.backoff_initial = o.backoff_initial;
  p.backoff_max = o.backoff_max;
  p.clock = o.clock;
  p.log_name = "cache";
  return p;
}

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
    std::map<std::string, RedisPool*> by_endpoint;
    for (Keyspace ks : AllKeyspaces()) {
      const size_t i = static_cast<size_t>(ks);
      fallback_[i] = o.fallback[i];
      if (!o.endpoints[i].has_value()) continue;
      const RedisEndpoint& ep = *o.endpoints[i];
      // Identity includes the password so two credentials never share a connection.
      std::string id = absl::StrCat(ep.host, "\n", ep.port, "\n", ep.db, "\n", ep.password);
      auto it = by_endpoint.find(id);
      if (it == by_endpoint.end()) {
        pools_.push_back(std::make_unique<RedisPool>(ep, PoolOptionsOf(o)));
        it = by_endpoint.emplace(id, pools_.back().get()).first;
      }
      pool_of_[i] = it->second;
      metrics_[i] = std::make_unique<RemoteMetrics>(o.metrics, ks, fallback_[i]);
    }
    for (auto& pool : pools_) {
      RedisPool* p = pool.get();
      p->set_on_change([this, p](bool up) { OnChange(p, up); });
    }
  }

  absl::StatusOr<std::string> Get(Keyspace ks, std::string_view key) override {
    RedisPool* p = pool_of_[static_cast<size_t>(ks)];
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
    RedisPool* p = pool_of_[static_cast<size_t>(ks)];
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

  absl::StatusOr<bool> Add(Keyspace ks, std::string_view key, std::string_view value,
                           absl::Duration ttl) override {
    if (absl::Status s = CheckTtl(ttl); !s.ok()) return s;
    RedisPool* p = pool_of_[static_cast<size_t>(ks)];
    if (p == nullptr) return local_->Add(ks, key, value, ttl);
    const std::string k = FullKey(ks, key);
    const std::string ms = absl::StrCat(std::max<int64_t>(1, absl::ToInt64Milliseconds(ttl)));
    bool stored = false;
    absl::Status st = p->Run([&](redisContext* c) {
      Reply r = ttl == absl::InfiniteDuration() ? Command(c, {"SET", k, value, "NX"})
                                                : Command(c, {"SET", k, value, "PX", ms, "NX"});
      if (r != nullptr && r->type == REDIS_REPLY_ERROR) return ReplyError(r.get(), "SET NX");
      stored = r != nullptr && r->type == REDIS_REPLY_STATUS;  // OK; nil when the key exists
      return absl::OkStatus();
    });
    if (st.ok()) return stored;
    return Failed(ks, st, [&] { return local_->Add(ks, key, value, ttl); });
  }

  absl::Status Delete(Keyspace ks, std::string_view key) override {
    RedisPool* p = pool_of_[static_cast<size_t>(ks)];
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
    RedisPool* p = pool_of_[static_cast<size_t>(ks)];
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
    RedisPool* p = pool_of_[static_cast<size_t>(ks)];
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
      const RedisPool* p = pool_of_[i];
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

  void OnChange(RedisPool* p, bool up) {
    for (Keyspace ks : AllKeyspaces()) {
      const size_t i = static_cast<size_t>(ks);
      if (pool_of_[i] != p) continue;
      if (metrics_[i] && metrics_[i]->up != nullptr) metrics_[i]->up->Set(up ? 1 : 0);
      // What was written locally during the outage may have missed invalidations.
      if (up && fallback_[i] == Fallback::kMemory) (void)local_->DeletePrefix(ks, "");
    }
  }

  std::unique_ptr<Cache> local_;
  std::vector<std::unique_ptr<RedisPool>> pools_;
  std::array<RedisPool*, kKeyspaceCount> pool_of_{};
  std::array<Fallback, kKeyspaceCount> fallback_{};
  std::array<std::unique_ptr<RemoteMetrics>, kKeyspaceCount> metrics_;
};

}  // namespace

std::string_view FallbackName(Fallback f) { return f == Fallback::kSkip ? "skip" : "memory"; }

std::unique_ptr<Cache> NewRedisCache(const RedisCacheOptions& options,
                                     std::unique_ptr<Cache> local) {
  return std::make_unique<RedisCache>(options, std::move(local));
}

}  // namespace mangaassist::cache
