// The store's promotions (data/promotions/promotions.yaml): sales, coupons and fairs with EN/JA
// texts, a start and an end, an optional target (genres, catalog ids) and a discount percent.
// A PromotionSet is immutable once loaded, so every const method is thread-safe. The promo:
// cache keyspace stores what Overlapping() returns (rag/store_lookup.h).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "rag/catalog.h"

namespace mangaassist::rag {

struct Promotion {
  std::string id;
  std::string title_en, title_ja;
  std::string text_en, text_ja;
  absl::Time start;  // running on [start, end); whole seconds
  absl::Time end;
  int discount_percent = 0;  // 0..100; 0: no percentage (free shipping, gifts, ...)
  // Whom it targets: a title is covered when one of its genres or its id is listed. Both empty:
  // the whole store.
  std::vector<std::string> genres;
  std::vector<std::string> title_ids;

  bool RunningAt(absl::Time t) const { return start <= t && t < end; }
  bool Covers(const CatalogEntry& e) const;
  friend bool operator==(const Promotion&, const Promotion&) = default;
};

class PromotionSet {
 public:
  // Reads and validates the YAML file. NotFound when it is missing; InvalidArgument naming
  // "FILE:LINE: key: problem" for bad YAML, unknown keys, missing or empty texts, timestamps
  // that are not RFC 3339 with an offset or not whole seconds, an end not after its start, a
  // discount outside 0..100, or a repeated id.
  static absl::StatusOr<std::unique_ptr<PromotionSet>> LoadFile(const std::string& path);
  static absl::StatusOr<std::unique_ptr<PromotionSet>> LoadString(const std::string& yaml,
                                                                  const std::string& source);
  // Promotions already in memory (tests, other sources); the version is their digest.
  static std::unique_ptr<PromotionSet> FromPromotions(std::vector<Promotion> promotions);

  // 16 hex digits of XXH3 over the file's bytes (or the promotions): changes with any edit.
  const std::string& version() const { return version_; }
  const std::vector<Promotion>& promotions() const { return promotions_; }

  // The promotions running at some moment of [from, to), in file order.
  std::vector<Promotion> Overlapping(absl::Time from, absl::Time to) const;

 private:
  PromotionSet() = default;

  std::string version_;
  std::vector<Promotion> promotions_;
};

}  // namespace mangaassist::rag
