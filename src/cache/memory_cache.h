// MemoryCache: the in-process backend of the cache tier (the embedded default, and the fallback
// while Redis is down). Each keyspace has its own byte budget split over N shards; a shard is
// an LRU list under one mutex, so unrelated keys rarely contend. The LRU is the CLOCK
// approximation: a hit only sets the entry's reference bit, and eviction gives referenced
// entries a second chance at the front — so a hit touches one node, not its list neighbours. Expiry
// uses the injected Clock's monotonic time, so TTLs are deterministic under a core::ManualClock.
// Thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "cache/cache.h"
#include "core/clock.h"

namespace mangaassist::cache {

struct MemoryCacheOptions {
  const core::Clock* clock = &core::SystemClock();  // REQUIRES: outlives the cache
  int shards = 16;  // per keyspace; rounded up to a power of two, 1..1024
  // Byte budget per keyspace (keys + values + a fixed per-entry overhead); LRU beyond it.
  std::array<size_t, kKeyspaceCount> max_bytes = {64u << 20, 16u << 20, 16u << 20, 16u << 20,
                                                  16u << 20, 64u << 20, 16u << 20, 16u << 20};
};

// Counted per keyspace since creation (bytes and entries are current).
struct MemoryStats {
  int64_t entries = 0;
  int64_t bytes = 0;
  int64_t evictions = 0;  // LRU evictions to stay within the budget (not expiries)
  int64_t expirations = 0;
};

class MemoryCache final : public Cache {
 public:
  // Bytes charged per entry beyond its key and value (list node, index slot, bookkeeping).
  static constexpr size_t kEntryOverhead = 96;

  explicit MemoryCache(const MemoryCacheOptions& options);
  ~MemoryCache() override;

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

  MemoryStats Stats(Keyspace ks) const;

 private:
  // One allocation per entry: this header, then the key bytes, then the value bytes — a hit
  // reads one block. Linked into its shard's LRU list (intrusive, circular, with a sentinel).
  struct Entry {
    Entry* prev;
    Entry* next;
    int64_t expires_ns;  // monotonic; INT64_MAX = never
    uint32_t key_size;
    uint32_t value_size;
    bool referenced;  // hit since it last reached the tail
    char* data() { return reinterpret_cast<char*>(this + 1); }
    absl::string_view key() { return absl::string_view(data(), key_size); }
    absl::string_view value() { return absl::string_view(data() + key_size, value_size); }
    size_t charge() const { return key_size + value_size + kEntryOverhead; }
  };
  struct Shard {
    Shard() { lru.prev = lru.next = &lru; }
    ~Shard();
    mutable absl::Mutex mu;
    Entry lru ABSL_GUARDED_BY(mu){};  // sentinel: lru.next = most recent, lru.prev = the tail
    // Keys point into the entries' own bytes.
    absl::flat_hash_map<absl::string_view, Entry*> index ABSL_GUARDED_BY(mu);
    size_t bytes ABSL_GUARDED_BY(mu) = 0;
    size_t budget = 0;
    // The expiry hand: walks the list from the tail towards the front a few entries per store,
    // freeing expired ones, so expired entries do not hold memory until the budget forces them
    // out (&lru: start again at the tail).
    Entry* sweep ABSL_GUARDED_BY(mu) = &lru;
    int64_t evictions ABSL_GUARDED_BY(mu) = 0;
    int64_t expirations ABSL_GUARDED_BY(mu) = 0;
  };

  Shard& ShardFor(Keyspace ks, std::string_view key);
  static void Erase(Shard& s, Entry* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu);
  // Advances the shard's expiry hand by up to `steps` entries, erasing the expired ones.
  static void SweepExpired(Shard& s, int64_t now, int steps) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu);
  static constexpr int kSweepStepsPerStore = 4;
  // Set, or (only_if_absent) Add; `stored` (may be null) tells which happened.
  absl::Status Store(Keyspace ks, std::string_view key, std::string_view value,
                     absl::Duration ttl, bool only_if_absent, bool* stored);
  // Looks up a live entry, dropping it when expired; null when absent.
  static Entry* Find(Shard& s, std::string_view key, int64_t now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu);

  const core::Clock* clock_;
  size_t shard_mask_;
  // [keyspace][shard]
  std::array<std::unique_ptr<Shard[]>, kKeyspaceCount> shards_;
};

}  // namespace mangaassist::cache
