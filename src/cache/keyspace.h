// The keyspaces of the shared cache tier (SPEC §4, US-03): each names a key prefix, the Redis
// logical DB the seed assigns it, and whether evicting its entries under memory pressure is
// acceptable (cost-critical and response state must never be evicted silently). Constants only;
// thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

namespace mangaassist::cache {

enum class Keyspace {
  kLlmResp = 0,  // llmresp:     exact (and later semantic) response cache      db1 noeviction
  kIntentSess,   // intent:sess: session intent cache (US-02)                    db2 allkeys-lru
  kProduct,      // product:     catalog lookups                                 db3 allkeys-lru
  kReco,         // reco:        recommendations                                 db3 allkeys-lru
  kPromo,        // promo:       promotions                                      db3 allkeys-lru
  kEmb,          // emb:         int8 embedding vectors (US-06)                  db4 allkeys-lru
  kRate,         // rate:        rate-limit state (US-08)                        db0 noeviction
  kCost,         // cost:        cost ledger read-through (US-08)                db0 noeviction
  kCount
};
inline constexpr size_t kKeyspaceCount = static_cast<size_t>(Keyspace::kCount);

struct KeyspaceInfo {
  Keyspace keyspace;
  std::string_view name;    // config and metrics label: "llmresp", "intent_sess", ...
  std::string_view prefix;  // the Redis key prefix: "llmresp:", "intent:sess:", ...
  int db;                   // the seed's logical DB
  bool noeviction;          // belongs on a `maxmemory-policy noeviction` instance
};

const KeyspaceInfo& Info(Keyspace ks);
inline std::string_view KeyspaceName(Keyspace ks) { return Info(ks).name; }
inline std::string_view KeyspacePrefix(Keyspace ks) { return Info(ks).prefix; }
// By config name ("llmresp", "intent_sess", ...); nullopt when unknown.
std::optional<Keyspace> ParseKeyspace(std::string_view name);
// Every keyspace, in enum order (for loops over the tier).
const std::array<Keyspace, kKeyspaceCount>& AllKeyspaces();

}  // namespace mangaassist::cache
