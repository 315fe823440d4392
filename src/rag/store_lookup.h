// StoreLookup: the read-through caches of the store's catalog and promotion lookups (US-03,
// SPEC §4: keyspaces product:, reco: and promo:, Redis db3 allkeys-lru), used by the extractive
// responder's product, recommendation and promotion answers. Each lookup is Cache::GetOrCompute
// over an origin — the loaded catalog and promotions file by default, a catalog service or
// database behind the same interfaces in a larger deployment — so concurrent misses on one key
// compute once, and a cache that is down only means every lookup goes to the origin (a lookup
// fails only when its origin does).
//
// Keys (after the keyspace prefix; "1" is the value format):
//   product:1:<catalog version>:<id>                       a card, for cache.keyspaces.product.ttl
//   reco:1:<catalog version>:similar:<n>:<seed id>         for cache.keyspaces.reco.ttl
//   reco:1:<catalog version>:genre:<n>:<genre>
//   reco:1:<catalog version>:popular:<n>
//   promo:1:<promotions version>:<bucket seconds>:<bucket>  the promotions overlapping the rest
//       of the time bucket (bucket length = the promo TTL); stored until the bucket ends, the
//       promo TTL passes or the first of them ends, whichever is first. Reads keep only those
//       running at the clock's now, so starts and ends are exact whatever is cached.
// A new catalog or promotions file has a new version, hence new keys: nothing stale is served,
// and the old entries age out (TTL, LRU). Values carry both languages, so English and Japanese
// askers share one entry. Thread-safe. The only state of its own is a bounded memo of decoded
// cards, keyed by the exact bytes the cache returned (a hit whose bytes are the ones decoded
// before reuses that decode; any other bytes are decoded afresh), so it never changes an answer.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cache/cache.h"
#include "core/bounded_memo.h"
#include "core/clock.h"
#include "rag/catalog.h"
#include "rag/promotions.h"
#include "rag/recommend.h"

namespace mangaassist::rag {

// Where cards and recommendations come from on a miss. Implementations are thread-safe.
class CatalogOrigin {
 public:
  virtual ~CatalogOrigin() = default;
  // Identifies the row set: changes whenever any row does. Part of every product: / reco: key.
  virtual std::string Version() const = 0;
  // A title's card: CatalogEntry without aliases, popularity and strict_match (what answers
  // show). NotFound for an unknown id.
  virtual absl::StatusOr<CatalogEntry> Product(std::string_view id) const = 0;
  virtual absl::StatusOr<std::vector<RecoItem>> Recommend(const RecoQuery& query) const = 0;
};

// Where promotions come from on a miss. Implementations are thread-safe.
class PromotionOrigin {
 public:
  virtual ~PromotionOrigin() = default;
  // Changes whenever any promotion does. Part of every promo: key.
  virtual std::string Version() const = 0;
  // The promotions running at some moment of [from, to).
  virtual absl::StatusOr<std::vector<Promotion>> Overlapping(absl::Time from,
                                                             absl::Time to) const = 0;
};

// Origins over what this process loaded. The version of a catalog is a digest of every field
// of every row, computed here once. REQUIRES: `catalog` / `promotions` outlive the origin.
std::unique_ptr<CatalogOrigin> NewCatalogOrigin(const Catalog* catalog);
std::unique_ptr<PromotionOrigin> NewPromotionOrigin(const PromotionSet* promotions);

// A catalog's version as NewCatalogOrigin computes it: 16 hex digits.
std::string CatalogVersion(const Catalog& catalog);

struct StoreLookupOptions {
  cache::Cache* cache = nullptr;                // required
  const CatalogOrigin* catalog = nullptr;       // null: Product and Recommend fail
  const PromotionOrigin* promotions = nullptr;  // null: no promotion ever runs
  const core::Clock* clock = &core::SystemClock();
  // The keyspaces' TTLs (cache.keyspaces.{product,reco,promo}.ttl); each > 0.
  absl::Duration product_ttl = absl::Minutes(10);
  absl::Duration reco_ttl = absl::Minutes(10);
  absl::Duration promo_ttl = absl::Minutes(5);
};

class StoreLookup {
 public:
  // REQUIRES: options.cache, the origins and the clock outlive the lookup.
  explicit StoreLookup(StoreLookupOptions options);
  ~StoreLookup();
  StoreLookup(StoreLookup&&) noexcept;

  // A title's card (see CatalogOrigin::Product); the origin's error when it fails. Shared and
  // immutable: repeated hits on the same cached bytes hand out the same decoded card.
  absl::StatusOr<std::shared_ptr<const CatalogEntry>> Product(std::string_view id) const;
  // At most query.n titles, best first (rag/recommend.h).
  absl::StatusOr<std::vector<RecoItem>> Recommend(const RecoQuery& query) const;
  // The promotions running at the clock's now, in the origin's order.
  absl::StatusOr<std::vector<Promotion>> ActivePromotions() const;

  // The keys, without the keyspace prefix (tests, docs, invalidation by prefix).
  std::string ProductKey(std::string_view id) const;
  std::string RecoKey(const RecoQuery& query) const;
  std::string PromoKey(absl::Time now) const;

 private:
  std::shared_ptr<const CatalogEntry> DecodeCard(std::string_view id,
                                                 const std::string& bytes) const;

  StoreLookupOptions options_;
  // Decoded cards by product id (unique_ptr: the lookup stays movable).
  std::unique_ptr<core::DecodedMemo<std::shared_ptr<const CatalogEntry>>> cards_;
};

// The values as stored (JSON; readable with redis-cli). Decoders fail with InvalidArgument on
// anything the encoder did not write; the lookup then asks the origin and rewrites the entry.
std::string EncodeProductCard(const CatalogEntry& card);
absl::StatusOr<CatalogEntry> DecodeProductCard(std::string_view bytes);
std::string EncodeRecoItems(const std::vector<RecoItem>& items);
absl::StatusOr<std::vector<RecoItem>> DecodeRecoItems(std::string_view bytes);
std::string EncodePromotions(const std::vector<Promotion>& promotions);
absl::StatusOr<std::vector<Promotion>> DecodePromotions(std::string_view bytes);

}  // namespace mangaassist::rag
