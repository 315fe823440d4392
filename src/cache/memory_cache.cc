#include "cache/memory_cache.h"

#include <xxhash.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"

namespace mangaassist::cache {
namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

// A miss is the hot path of a cold cache: share one status instead of allocating a message.
const absl::Status& MissStatus() {
  static const auto* miss = new absl::Status(absl::NotFoundError("cache miss"));
  return *miss;
}

size_t RoundUpPow2(int n) {
  size_t p = 1;
  const size_t want = static_cast<size_t>(std::clamp(n, 1, 1024));
  while (p < want) p <<= 1;
  return p;
}

}  // namespace

MemoryCache::MemoryCache(const MemoryCacheOptions& options)
    : clock_(options.clock), shard_mask_(RoundUpPow2(options.shards) - 1) {
  const size_t n = shard_mask_ + 1;
  for (size_t k = 0; k < kKeyspaceCount; ++k) {
    shards_[k] = std::make_unique<Shard[]>(n);
    for (size_t i = 0; i < n; ++i)
      shards_[k][i].budget = std::max<size_t>(1, options.max_bytes[k] / n);
  }
}

MemoryCache::~MemoryCache() = default;

MemoryCache::Shard::~Shard() {
  absl::MutexLock lock(&mu);
  for (Entry* e = lru.next; e != &lru;) {
    Entry* next = e->next;
    std::free(e);
    e = next;
  }
}

MemoryCache::Shard& MemoryCache::ShardFor(Keyspace ks, std::string_view key) {
  const uint64_t h = XXH3_64bits(key.data(), key.size());
  return shards_[static_cast<size_t>(ks)][h & shard_mask_];
}

void MemoryCache::Erase(Shard& s, Entry* e) {
  if (s.sweep == e) s.sweep = e->prev;
  s.bytes -= e->charge();
  s.index.erase(e->key());
  e->prev->next = e->next;
  e->next->prev = e->prev;
  std::free(e);
}

void MemoryCache::SweepExpired(Shard& s, int64_t now, int steps) {
  Entry* e = s.sweep == &s.lru ? s.lru.prev : s.sweep;
  for (int i = 0; i < steps && e != &s.lru; ++i) {
    Entry* toward_front = e->prev;
    if (e->expires_ns <= now) {
      ++s.expirations;
      Erase(s, e);
    }
    e = toward_front;
  }
  s.sweep = e;
}

MemoryCache::Entry* MemoryCache::Find(Shard& s, std::string_view key, int64_t now) {
  auto found = s.index.find(core::ToAbsl(key));
  if (found == s.index.end()) return nullptr;
  Entry* e = found->second;
  if (e->expires_ns <= now) {
    ++s.expirations;
    Erase(s, e);
    return nullptr;
  }
  return e;
}

absl::StatusOr<std::string> MemoryCache::Get(Keyspace ks, std::string_view key) {
  Shard& s = ShardFor(ks, key);
  const int64_t now = clock_->MonotonicNanos();
  absl::MutexLock lock(&s.mu);
  Entry* e = Find(s, key, now);
  if (e == nullptr) return MissStatus();
  e->referenced = true;
  return std::string(e->value());
}

absl::Status MemoryCache::Set(Keyspace ks, std::string_view key, std::string_view value,
                              absl::Duration ttl) {
  return Store(ks, key, value, ttl, /*only_if_absent=*/false, nullptr);
}

absl::StatusOr<bool> MemoryCache::Add(Keyspace ks, std::string_view key, std::string_view value,
                                      absl::Duration ttl) {
  bool stored = false;
  if (absl::Status st = Store(ks, key, value, ttl, /*only_if_absent=*/true, &stored); !st.ok()) {
    return st;
  }
  return stored;
}

absl::Status MemoryCache::Store(Keyspace ks, std::string_view key, std::string_view value,
                                absl::Duration ttl, bool only_if_absent, bool* stored) {
  if (absl::Status st = CheckTtl(ttl); !st.ok()) return st;
  Shard& s = ShardFor(ks, key);
  const size_t charge = key.size() + value.size() + kEntryOverhead;
  if (charge > s.budget || key.size() > UINT32_MAX || value.size() > UINT32_MAX) {
    (void)Delete(ks, key);  // the old value must not outlive a refused replacement
    return absl::ResourceExhaustedError(absl::StrCat(
        "value of ", value.size(), " bytes exceeds the ", core::ToAbsl(KeyspaceName(ks)),
        " keyspace's per-shard budget of ", s.budget, " bytes"));
  }
  const int64_t now = clock_->MonotonicNanos();
  const int64_t expires =
      ttl == absl::InfiniteDuration()
          ? kNever
          : now + std::min<int64_t>(absl::ToInt64Nanoseconds(ttl), kNever - now);
  auto* e = static_cast<Entry*>(std::malloc(sizeof(Entry) + key.size() + value.size()));
  if (e == nullptr) return absl::ResourceExhaustedError("out of memory");
  e->expires_ns = expires;
  e->key_size = static_cast<uint32_t>(key.size());
  e->value_size = static_cast<uint32_t>(value.size());
  e->referenced = false;
  if (!key.empty()) std::memcpy(e->data(), key.data(), key.size());
  if (!value.empty()) std::memcpy(e->data() + key.size(), value.data(), value.size());
  absl::MutexLock lock(&s.mu);
  if (auto found = s.index.find(core::ToAbsl(key)); found != s.index.end()) {
    if (only_if_absent && found->second->expires_ns > now) {
      std::free(e);
      return absl::OkStatus();
    }
    Erase(s, found->second);
  }
  if (stored != nullptr) *stored = true;
  e->prev = &s.lru;
  e->next = s.lru.next;
  s.lru.next->prev = e;
  s.lru.next = e;
  s.index.emplace(e->key(), e);
  s.bytes += charge;
  SweepExpired(s, now, kSweepStepsPerStore);
  while (s.bytes > s.budget) {
    Entry* victim = s.lru.prev;
    if (victim->referenced && victim->expires_ns > now) {
      // Second chance: used since it was last here; back to the front.
      victim->referenced = false;
      victim->prev->next = victim->next;
      victim->next->prev = victim->prev;
      victim->prev = &s.lru;
      victim->next = s.lru.next;
      s.lru.next->prev = victim;
      s.lru.next = victim;
      continue;
    }
    if (victim->expires_ns <= now) {
      ++s.expirations;
    } else {
      ++s.evictions;
    }
    Erase(s, victim);
  }
  return absl::OkStatus();
}

absl::Status MemoryCache::Delete(Keyspace ks, std::string_view key) {
  Shard& s = ShardFor(ks, key);
  absl::MutexLock lock(&s.mu);
  if (auto found = s.index.find(core::ToAbsl(key)); found != s.index.end()) Erase(s, found->second);
  return absl::OkStatus();
}

std::vector<absl::StatusOr<std::string>> MemoryCache::GetMany(
    Keyspace ks, const std::vector<std::string>& keys) {
  std::vector<absl::StatusOr<std::string>> out;
  out.reserve(keys.size());
  for (const std::string& k : keys) out.push_back(Get(ks, k));
  return out;
}

absl::StatusOr<int64_t> MemoryCache::DeletePrefix(Keyspace ks, std::string_view prefix) {
  int64_t deleted = 0;
  Shard* shards = shards_[static_cast<size_t>(ks)].get();
  for (size_t i = 0; i <= shard_mask_; ++i) {
    Shard& s = shards[i];
    absl::MutexLock lock(&s.mu);
    for (Entry* e = s.lru.next; e != &s.lru;) {
      Entry* next = e->next;
      if (absl::StartsWith(e->key(), core::ToAbsl(prefix))) {
        Erase(s, e);
        ++deleted;
      }
      e = next;
    }
  }
  return deleted;
}

std::vector<KeyspaceHealth> MemoryCache::Health() const {
  std::vector<KeyspaceHealth> out;
  for (Keyspace ks : AllKeyspaces()) out.push_back(KeyspaceHealth{ks, "memory", true, ""});
  return out;
}

MemoryStats MemoryCache::Stats(Keyspace ks) const {
  MemoryStats st;
  const Shard* shards = shards_[static_cast<size_t>(ks)].get();
  for (size_t i = 0; i <= shard_mask_; ++i) {
    const Shard& s = shards[i];
    absl::MutexLock lock(&s.mu);
    st.entries += static_cast<int64_t>(s.index.size());
    st.bytes += static_cast<int64_t>(s.bytes);
    st.evictions += s.evictions;
    st.expirations += s.expirations;
  }
  return st;
}

}  // namespace mangaassist::cache
