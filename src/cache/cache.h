// Cache: the one interface of the shared cache tier (US-03, SPEC §4). Keys live in keyspaces
// (keyspace.h); a backend prepends the keyspace prefix, so callers pass only the key's own part.
// Backends: the in-process sharded LRU (memory_cache.h) and Redis with a per-keyspace fallback
// (redis_cache.h); cache_tier.h builds the configured tier. All methods are thread-safe.
//
// Errors are values: a miss is NotFound; a backend that cannot answer is Unavailable (callers
// treat it as a miss — a cache that is down never fails a request); a bad argument is
// InvalidArgument; a value larger than its keyspace's budget is ResourceExhausted.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "cache/keyspace.h"

namespace mangaassist::cache {

// How one keyspace is served right now (for /readyz detail and the metrics).
struct KeyspaceHealth {
  Keyspace keyspace = Keyspace::kLlmResp;
  std::string backend;   // "memory" or "redis://host:port/db"
  bool up = true;        // false: the remote backend is down and the fallback applies
  std::string fallback;  // "memory" | "skip" ("" for a memory keyspace)
};

// Runs a computation once per key among concurrent callers: the first caller (the leader) runs
// it, the others block until it finishes and share its result, success or error. Thread-safe.
class SingleFlight {
 public:
  absl::StatusOr<std::string> Do(std::string_view key,
                                 absl::FunctionRef<absl::StatusOr<std::string>()> fn)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Keys with a computation in progress (tests).
  size_t InFlight() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Call {
    absl::Notification done;
    absl::StatusOr<std::string> result;
  };
  mutable absl::Mutex mu_;
  // shared_ptr: the leader removes the call from the map while waiters may still read it.
  absl::flat_hash_map<std::string, std::shared_ptr<Call>> calls_ ABSL_GUARDED_BY(mu_);
};

class Cache {
 public:
  virtual ~Cache() = default;

  // The value, or NotFound.
  virtual absl::StatusOr<std::string> Get(Keyspace ks, std::string_view key) = 0;
  // Stores `value` for `ttl` (> 0; absl::InfiniteDuration() for no expiry), replacing any value.
  virtual absl::Status Set(Keyspace ks, std::string_view key, std::string_view value,
                           absl::Duration ttl) = 0;
  // Stores `value` only when `key` holds no live value (SET NX): true when stored, false when
  // another value was there. The building block of cross-replica claims (Idempotency-Key).
  virtual absl::StatusOr<bool> Add(Keyspace ks, std::string_view key, std::string_view value,
                                   absl::Duration ttl) = 0;
  // Removes the key; OK when it was absent.
  virtual absl::Status Delete(Keyspace ks, std::string_view key) = 0;
  // One result per key, in order (a value, NotFound, or the backend's error). Redis sends the
  // lookups in one pipelined round trip.
  virtual std::vector<absl::StatusOr<std::string>> GetMany(
      Keyspace ks, const std::vector<std::string>& keys) = 0;
  // Removes every key of `ks` that starts with `prefix` ("" = the whole keyspace); the count.
  virtual absl::StatusOr<int64_t> DeletePrefix(Keyspace ks, std::string_view prefix) = 0;
  // One entry per keyspace, in enum order.
  virtual std::vector<KeyspaceHealth> Health() const = 0;

  // Get; on a miss (or an unavailable backend) runs `compute` once among all concurrent callers
  // for this key in this process, stores a successful result for `ttl` and returns it. Errors
  // from `compute` are returned to every waiter and never stored. A store failure is not an
  // error (the computed value is still returned).
  absl::StatusOr<std::string> GetOrCompute(
      Keyspace ks, std::string_view key, absl::Duration ttl,
      absl::FunctionRef<absl::StatusOr<std::string>()> compute);

  // A computed value and how long to keep it.
  struct Computed {
    std::string value;
    absl::Duration ttl;  // > 0; a non-positive TTL returns the value without storing it
  };
  // GetOrCompute for values whose lifetime depends on what was computed (a list of promotions
  // must not outlive the earliest end among them): `compute` returns the TTL with the value.
  absl::StatusOr<std::string> GetOrComputeWithTtl(
      Keyspace ks, std::string_view key, absl::FunctionRef<absl::StatusOr<Computed>()> compute);

 protected:
  // The second look inside a flight (a leader that arrives just after another flight finished
  // finds the value there). A wrapper that counts lookups overrides it to skip the count, so one
  // miss is counted once.
  virtual absl::StatusOr<std::string> Recheck(Keyspace ks, std::string_view key) {
    return Get(ks, key);
  }

 private:
  SingleFlight flight_;
};

// A Cache that passes every call to another: the base of decorators (lookup metrics, tests),
// which override only what they change. GetOrCompute's second look inside a flight goes straight
// to the inner cache, so a decorator's Get sees each lookup once. Does not own `inner`, which
// must outlive it.
class ForwardingCache : public Cache {
 public:
  explicit ForwardingCache(Cache* inner) : inner_(inner) {}

  absl::StatusOr<std::string> Get(Keyspace ks, std::string_view key) override;
  absl::Status Set(Keyspace ks, std::string_view key, std::string_view value,
                   absl::Duration ttl) override;
  absl::StatusOr<bool> Add(Keyspace ks, std::string_view key, std::string_view value,
                           absl::Duration ttl) override;
  absl::Status Delete(Keyspace ks, std::string_view key) override;
  std::vector<absl::StatusOr<std::string>> GetMany(Keyspace ks,
                                                   const std::vector<std::string>& keys) override;
  absl::StatusOr<int64_t> DeletePrefix(Keyspace ks, std::string_view prefix) override;
  std::vector<KeyspaceHealth> Health() const override;

 protected:
  absl::StatusOr<std::string> Recheck(Keyspace ks, std::string_view key) override;
  Cache* inner() const { return inner_; }

 private:
  Cache* inner_;
};

// Validates a TTL for Set(): InvalidArgument unless ttl > 0.
absl::Status CheckTtl(absl::Duration ttl);

}  // namespace mangaassist::cache
