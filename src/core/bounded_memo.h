// BoundedMemo: a thread-safe map from a string key to a memoized value with a cap on entries,
// for pure computations that repeat (a classifier's answer for a message seen before, the
// decoded form of bytes a cache returns again and again). At the cap an arbitrary entry of the
// key's shard makes room: hot keys come back within a few calls, so no LRU bookkeeping is kept
// on the hit path. Callers must only memoize what is a function of the key (or check, in
// Visit, that the entry still matches what they hold).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/synchronization/mutex.h"
#include "core/strings.h"

namespace mangaassist::core {

template <typename V>
class BoundedMemo {
 public:
  // `max_entries` over all shards (at least one per shard).
  explicit BoundedMemo(size_t max_entries, size_t shards = 8)
      : shards_(std::make_unique<Shard[]>(shards)),
        shard_count_(shards),
        per_shard_(max_entries / shards > 0 ? max_entries / shards : 1) {}

  // Calls `f(const V&)` under the shard's lock when `key` is present; returns whether it was.
  // `f` must be quick and must not call back into the memo.
  template <typename F>
  bool Visit(std::string_view key, F&& f) const {
    Shard& s = ShardFor(key);
    absl::MutexLock lock(&s.mu);
    auto it = s.entries.find(ToAbsl(key));
    if (it == s.entries.end()) return false;
    std::forward<F>(f)(it->second);
    return true;
  }

  // Stores (or replaces) the value for `key`.
  void Put(std::string_view key, V value) {
    Shard& s = ShardFor(key);
    absl::MutexLock lock(&s.mu);
    auto it = s.entries.find(ToAbsl(key));
    if (it != s.entries.end()) {
      it->second = std::move(value);
      return;
    }
    if (s.entries.size() >= per_shard_) s.entries.erase(s.entries.begin());
    s.entries.emplace(std::string(key), std::move(value));
  }

  size_t size() const {
    size_t n = 0;
    for (size_t i = 0; i < shard_count_; ++i) {
      absl::MutexLock lock(&shards_[i].mu);
      n += shards_[i].entries.size();
    }
    return n;
  }

 private:
  struct Shard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<std::string, V> entries ABSL_GUARDED_BY(mu);
  };

  Shard& ShardFor(std::string_view key) const {
    // High bits: the map inside the shard indexes by the low ones of the same hash.
    return shards_[(absl::Hash<absl::string_view>()(ToAbsl(key)) >> 40) % shard_count_];
  }

  std::unique_ptr<Shard[]> shards_;
  const size_t shard_count_;
  const size_t per_shard_;
};

// Values decoded from bytes a cache hands back again and again (cards, cached answers), each
// kept with the exact bytes it was decoded from: Find returns it only for those very bytes, so
// a rewritten entry (a refill, another replica's write) is decoded afresh and never answered
// from the memo. Bytes longer than `max_bytes` are not kept (Put ignores them).
template <typename T>
class DecodedMemo {
 public:
  DecodedMemo(size_t max_entries, size_t max_bytes) : entries_(max_entries), max_bytes_(max_bytes) {}

  std::optional<T> Find(std::string_view key, std::string_view bytes) const {
    std::optional<T> found;
    entries_.Visit(key, [&](const Entry& e) {
      if (e.bytes == bytes) found = e.value;
    });
    return found;
  }

  void Put(std::string_view key, std::string bytes, T value) {
    if (bytes.size() <= max_bytes_) entries_.Put(key, Entry{std::move(bytes), std::move(value)});
  }

 private:
  struct Entry {
    std::string bytes;
    T value;
  };
  BoundedMemo<Entry> entries_;
  const size_t max_bytes_;
};

}  // namespace mangaassist::core
