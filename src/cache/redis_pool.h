// A pool of blocking hiredis connections to one Redis endpoint (host, port, logical DB) with
// up/down detection and a jittered reconnect backoff, shared by the cache tier (US-03) and the
// traffic-control store (US-08). A dead Redis costs a caller at most one command timeout; while
// it is down callers fail fast and one of them probes after the backoff. Thread-safe.
#pragma once

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <atomic>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/strings.h"
#include "spdlog/spdlog.h"

namespace mangaassist::cache {

struct RedisEndpoint {
  std::string host;
  int port = 6379;
  int db = 0;
  std::string password;  // AUTH when non-empty (never logged)
  // "redis://host:port/db" (no password) for logs, metrics and /readyz.
  std::string Display() const;
};

// Parses `redis://[:password@]host[:port][/db]`; `default_db` applies without a /db path.
absl::StatusOr<RedisEndpoint> ParseRedisUrl(std::string_view url, int default_db);


struct ReplyFree {
  void operator()(redisReply* r) const {
    if (r != nullptr) freeReplyObject(r);
  }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

timeval TimevalOf(absl::Duration d);

// A command's reply; null after an I/O error or timeout (then c->err is set and the connection is
// unusable).
Reply Command(redisContext* c, const std::vector<std::string_view>& args);

absl::Status ReplyError(const redisReply* r, std::string_view what);

struct RedisPoolOptions {
  int pool_size = 4;  // connections
  absl::Duration connect_timeout = absl::Milliseconds(100);
  absl::Duration command_timeout = absl::Milliseconds(100);
  absl::Duration backoff_initial = absl::Milliseconds(100);
  absl::Duration backoff_max = absl::Seconds(5);
  const core::Clock* clock = &core::SystemClock();  // backoff timing
  std::string log_name = "cache";                   // the subsystem named in log lines
};

// One endpoint (host, port, db): a bounded pool of blocking connections and the up/down state
// with its reconnect backoff.
class RedisPool {
 public:
  RedisPool(RedisEndpoint endpoint, const RedisPoolOptions& o)
      : endpoint_(std::move(endpoint)),
        display_(endpoint_.Display()),
        max_(std::max(1, o.pool_size)),
        connect_timeout_(o.connect_timeout),
        command_timeout_(o.command_timeout),
        backoff_initial_(o.backoff_initial),
        backoff_max_(std::max(o.backoff_max, o.backoff_initial)),
        clock_(o.clock),
        log_name_(o.log_name),
        rng_(std::random_device{}()) {}

  ~RedisPool() {
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
      spdlog::warn("{}: {} is down ({}); using the fallback", log_name_, display_, why);
      if (on_change_) on_change_(false);
    }
  }

  void MarkUp() {
    if (up_.load(std::memory_order_acquire)) return;
    if (up_.exchange(true, std::memory_order_acq_rel)) return;
    spdlog::info("{}: {} is back", log_name_, display_);
    if (on_change_) on_change_(true);
  }

  const RedisEndpoint endpoint_;
  const std::string display_;
  const int max_;
  const absl::Duration connect_timeout_, command_timeout_, backoff_initial_, backoff_max_;
  const core::Clock* clock_;
  const std::string log_name_;
  std::function<void(bool)> on_change_;  // set before first use

  std::atomic<bool> up_{true};
  std::atomic<int64_t> next_attempt_ns_{0};
  absl::Mutex mu_;
  std::vector<redisContext*> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration backoff_ ABSL_GUARDED_BY(mu_);
  std::minstd_rand rng_ ABSL_GUARDED_BY(mu_);
};


}  // namespace mangaassist::cache
