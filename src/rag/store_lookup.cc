#include "rag/store_lookup.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cache/key_hasher.h"
#include "core/strings.h"
#include "nlohmann/json.hpp"
#include "simdjson.h"

namespace mangaassist::rag {
namespace {

using cache::Keyspace;

constexpr char kFormat[] = "1";  // the value format; part of every key

class LocalCatalogOrigin final : public CatalogOrigin {
 public:
  explicit LocalCatalogOrigin(const Catalog* catalog)
      : catalog_(catalog), version_(CatalogVersion(*catalog)) {}

  std::string Version() const override { return version_; }

  absl::StatusOr<CatalogEntry> Product(std::string_view id) const override {
    const CatalogEntry* e = catalog_->FindById(id);
    if (e == nullptr) {
      return absl::NotFoundError(absl::StrCat("no catalog id '", core::ToAbsl(id), "'"));
    }
    CatalogEntry card = *e;
    card.aliases.clear();
    card.popularity = -1;
    card.strict_match = false;
    return card;
  }

  absl::StatusOr<std::vector<RecoItem>> Recommend(const RecoQuery& query) const override {
    return rag::Recommend(*catalog_, query);
  }

 private:
  const Catalog* const catalog_;
  const std::string version_;
};

class LocalPromotionOrigin final : public PromotionOrigin {
 public:
  explicit LocalPromotionOrigin(const PromotionSet* set) : set_(set) {}
  std::string Version() const override { return set_->version(); }
  absl::StatusOr<std::vector<Promotion>> Overlapping(absl::Time from,
                                                     absl::Time to) const override {
    return set_->Overlapping(from, to);
  }

 private:
  const PromotionSet* const set_;
};

// --- value encodings ------------------------------------------------------------------------

std::string Dump(const nlohmann::json& j) {
  // Catalog text is UTF-8; replace rather than throw if a row holds anything else.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

absl::Status Bad(std::string_view what, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("cached ", core::ToAbsl(what), ": ", core::ToAbsl(why)));
}

using simdjson::dom::element;

bool GetString(simdjson::dom::object obj, const char* key, std::string* out) {
  std::string_view s;
  if (obj.at_key(key).get_string().get(s) != simdjson::SUCCESS) return false;
  out->assign(s);
  return true;
}

bool GetStrings(simdjson::dom::object obj, const char* key, std::vector<std::string>* out) {
  simdjson::dom::array arr;
  if (obj.at_key(key).get_array().get(arr) != simdjson::SUCCESS) return false;
  for (element item : arr) {
    std::string_view s;
    if (item.get_string().get(s) != simdjson::SUCCESS) return false;
    out->emplace_back(s);
  }
  return true;
}

bool GetInt(simdjson::dom::object obj, const char* key, int64_t* out) {
  return obj.at_key(key).get_int64().get(*out) == simdjson::SUCCESS;
}

simdjson::dom::parser& Parser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

// The promo: time bucket of a moment: whole seconds since the epoch over the bucket length (the
// promo TTL, at least a second), so every replica maps a moment to the same bucket.
struct Bucket {
  int64_t seconds;  // its length
  int64_t index;
  absl::Time end;
};

Bucket BucketAt(absl::Time now, absl::Duration ttl) {
  Bucket b;
  b.seconds = std::max<int64_t>(1, absl::ToInt64Seconds(ttl));
  const int64_t secs = absl::ToUnixSeconds(now);  // rounds down
  b.index = secs >= 0 ? secs / b.seconds : (secs - b.seconds + 1) / b.seconds;
  b.end = absl::FromUnixSeconds((b.index + 1) * b.seconds);
  return b;
}

}  // namespace

std::string CatalogVersion(const Catalog& catalog) {
  cache::KeyHasher h;
  h.Field("catalog/v1");
  const auto list = [&h](const std::vector<std::string>& items) {
    h.Int(items.size());
    for (const std::string& s : items) h.Field(s);
  };
  for (const CatalogEntry& e : catalog.entries()) {
    for (const std::string* s : {&e.id, &e.title, &e.title_ja, &e.demographic, &e.status,
                                 &e.start_date, &e.end_date, &e.synopsis}) {
      h.Field(*s);
    }
    list(e.authors);
    list(e.authors_ja);
    list(e.genres);
    list(e.aliases);
    for (const int n : {e.volumes, e.chapters, e.popularity, e.strict_match ? 1 : 0}) {
      h.Int(static_cast<uint64_t>(static_cast<int64_t>(n)));
    }
  }
  std::string out;
  cache::AppendHex(h.Digest64(), &out);
  return out;
}

std::unique_ptr<CatalogOrigin> NewCatalogOrigin(const Catalog* catalog) {
  return std::make_unique<LocalCatalogOrigin>(catalog);
}

std::unique_ptr<PromotionOrigin> NewPromotionOrigin(const PromotionSet* promotions) {
  return std::make_unique<LocalPromotionOrigin>(promotions);
}

std::string EncodeProductCard(const CatalogEntry& e) {
  // The catalog's own row shape (ParseCatalogRow reads it back), empty fields left out.
  nlohmann::json j = nlohmann::json::object();
  const auto text = [&j](const char* key, const std::string& s) {
    if (!s.empty()) j[key] = s;
  };
  const auto list = [&j](const char* key, const std::vector<std::string>& v) {
    if (!v.empty()) j[key] = v;
  };
  const auto count = [&j](const char* key, int n) {
    if (n >= 0) j[key] = n;
  };
  text("id", e.id);
  text("title", e.title);
  text("title_ja", e.title_ja);
  list("authors", e.authors);
  list("authors_ja", e.authors_ja);
  list("genres", e.genres);
  text("demographic", e.demographic);
  text("status", e.status);
  count("volumes", e.volumes);
  count("chapters", e.chapters);
  text("start_date", e.start_date);
  text("end_date", e.end_date);
  text("synopsis", e.synopsis);
  return Dump(j);
}

absl::StatusOr<CatalogEntry> DecodeProductCard(std::string_view bytes) {
  absl::StatusOr<CatalogEntry> card = ParseCatalogRow(bytes);
  if (!card.ok()) return Bad("product card", core::ToStd(card.status().message()));
  return card;
}

std::string EncodeRecoItems(const std::vector<RecoItem>& items) {
  nlohmann::json j = nlohmann::json::array();
  for (const RecoItem& r : items) j.push_back({r.id, r.title, r.title_ja});
  return Dump(j);
}

absl::StatusOr<std::vector<RecoItem>> DecodeRecoItems(std::string_view bytes) {
  element doc;
  simdjson::dom::array arr;
  if (Parser().parse(bytes.data(), bytes.size()).get(doc) != simdjson::SUCCESS ||
      doc.get_array().get(arr) != simdjson::SUCCESS) {
    return Bad("recommendations", "not a JSON array");
  }
  std::vector<RecoItem> out;
  for (element item : arr) {
    simdjson::dom::array fields;
    if (item.get_array().get(fields) != simdjson::SUCCESS || fields.size() != 3) {
      return Bad("recommendations", "an item is not [id, title, title_ja]");
    }
    std::string_view f[3];
    for (size_t i = 0; i < 3; ++i) {
      if (fields.at(i).get_string().get(f[i]) != simdjson::SUCCESS) {
        return Bad("recommendations", "an item is not [id, title, title_ja]");
      }
    }
    if (f[0].empty()) return Bad("recommendations", "an item has no id");
    out.push_back({std::string(f[0]), std::string(f[1]), std::string(f[2])});
  }
  return out;
}

std::string EncodePromotions(const std::vector<Promotion>& promotions) {
  nlohmann::json j = nlohmann::json::array();
  for (const Promotion& p : promotions) {
    nlohmann::json o = {{"id", p.id},
                        {"title_en", p.title_en},
                        {"title_ja", p.title_ja},
                        {"text_en", p.text_en},
                        {"text_ja", p.text_ja},
                        {"start", absl::ToUnixSeconds(p.start)},
                        {"end", absl::ToUnixSeconds(p.end)},
                        {"discount", p.discount_percent},
                        {"genres", p.genres},
                        {"titles", p.title_ids}};
    j.push_back(std::move(o));
  }
  return Dump(j);
}

absl::StatusOr<std::vector<Promotion>> DecodePromotions(std::string_view bytes) {
  element doc;
  simdjson::dom::array arr;
  if (Parser().parse(bytes.data(), bytes.size()).get(doc) != simdjson::SUCCESS ||
      doc.get_array().get(arr) != simdjson::SUCCESS) {
    return Bad("promotions", "not a JSON array");
  }
  std::vector<Promotion> out;
  for (element item : arr) {
    simdjson::dom::object o;
    Promotion p;
    int64_t start = 0, end = 0, discount = 0;
    if (item.get_object().get(o) != simdjson::SUCCESS || !GetString(o, "id", &p.id) ||
        !GetString(o, "title_en", &p.title_en) || !GetString(o, "title_ja", &p.title_ja) ||
        !GetString(o, "text_en", &p.text_en) || !GetString(o, "text_ja", &p.text_ja) ||
        !GetInt(o, "start", &start) || !GetInt(o, "end", &end) ||
        !GetInt(o, "discount", &discount) || !GetStrings(o, "genres", &p.genres) ||
        !GetStrings(o, "titles", &p.title_ids) || discount < 0 || discount > 100) {
      return Bad("promotions", "missing or mistyped field");
    }
    p.start = absl::FromUnixSeconds(start);
    p.end = absl::FromUnixSeconds(end);
    p.discount_percent = static_cast<int>(discount);
    out.push_back(std::move(p));
  }
  return out;
}

// --- StoreLookup ----------------------------------------------------------------------------

StoreLookup::StoreLookup(StoreLookupOptions options)
    : options_(std::move(options)),
      cards_(std::make_unique<core::DecodedMemo<std::shared_ptr<const CatalogEntry>>>(
          4096, std::numeric_limits<size_t>::max())) {}

StoreLookup::~StoreLookup() = default;
StoreLookup::StoreLookup(StoreLookup&&) noexcept = default;

std::shared_ptr<const CatalogEntry> StoreLookup::DecodeCard(std::string_view id,
                                                            const std::string& bytes) const {
  if (auto memoized = cards_->Find(id, bytes)) return *std::move(memoized);
  absl::StatusOr<CatalogEntry> card = DecodeProductCard(bytes);
  if (!card.ok()) return nullptr;
  auto shared = std::make_shared<const CatalogEntry>(*std::move(card));
  cards_->Put(id, bytes, shared);
  return shared;
}

std::string StoreLookup::ProductKey(std::string_view id) const {
  return absl::StrCat(kFormat, ":", options_.catalog->Version(), ":", core::ToAbsl(id));
}

std::string StoreLookup::RecoKey(const RecoQuery& q) const {
  const char* kind = q.kind == RecoKind::kSimilar ? "similar"
                     : q.kind == RecoKind::kGenre ? "genre"
                                                  : "popular";
  std::string key = absl::StrCat(kFormat, ":", options_.catalog->Version(), ":", kind, ":", q.n);
  if (q.kind != RecoKind::kPopular) absl::StrAppend(&key, ":", core::ToAbsl(q.subject));
  return key;
}

std::string StoreLookup::PromoKey(absl::Time now) const {
  const Bucket b = BucketAt(now, options_.promo_ttl);
  return absl::StrCat(kFormat, ":", options_.promotions->Version(), ":", b.seconds, ":", b.index);
}

absl::StatusOr<std::shared_ptr<const CatalogEntry>> StoreLookup::Product(
    std::string_view id) const {
  if (options_.catalog == nullptr) return absl::FailedPreconditionError("no catalog origin");
  const std::string key = ProductKey(id);
  auto compute = [&]() -> absl::StatusOr<std::string> {
    absl::StatusOr<CatalogEntry> card = options_.catalog->Product(id);
    if (!card.ok()) return card.status();
    return EncodeProductCard(*card);
  };
  absl::StatusOr<std::string> bytes =
      options_.cache->GetOrCompute(Keyspace::kProduct, key, options_.product_ttl, compute);
  if (!bytes.ok()) return bytes.status();
  if (auto card = DecodeCard(id, *bytes)) return card;
  // A value this build did not write: answer from the origin and replace it.
  absl::StatusOr<std::string> fresh = compute();
  if (!fresh.ok()) return fresh.status();
  (void)options_.cache->Set(Keyspace::kProduct, key, *fresh, options_.product_ttl);
  if (auto card = DecodeCard(id, *fresh)) return card;
  return DecodeProductCard(*fresh).status();  // the origin's own card does not round-trip
}

absl::StatusOr<std::vector<RecoItem>> StoreLookup::Recommend(const RecoQuery& query) const {
  if (options_.catalog == nullptr) return absl::FailedPreconditionError("no catalog origin");
  const std::string key = RecoKey(query);
  auto compute = [&]() -> absl::StatusOr<std::string> {
    absl::StatusOr<std::vector<RecoItem>> items = options_.catalog->Recommend(query);
    if (!items.ok()) return items.status();
    return EncodeRecoItems(*items);
  };
  absl::StatusOr<std::string> bytes =
      options_.cache->GetOrCompute(Keyspace::kReco, key, options_.reco_ttl, compute);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<std::vector<RecoItem>> items = DecodeRecoItems(*bytes);
  if (items.ok()) return items;
  absl::StatusOr<std::string> fresh = compute();
  if (!fresh.ok()) return fresh.status();
  (void)options_.cache->Set(Keyspace::kReco, key, *fresh, options_.reco_ttl);
  return DecodeRecoItems(*fresh);
}

absl::StatusOr<std::vector<Promotion>> StoreLookup::ActivePromotions() const {
  if (options_.promotions == nullptr) return std::vector<Promotion>();
  const absl::Time now = options_.clock->Now();
  const std::string key = PromoKey(now);
  const absl::Time bucket_end = BucketAt(now, options_.promo_ttl).end;
  auto compute = [&]() -> absl::StatusOr<cache::Cache::Computed> {
    absl::StatusOr<std::vector<Promotion>> list = options_.promotions->Overlapping(now, bucket_end);
    if (!list.ok()) return list.status();
    // Never past the bucket, the keyspace TTL, or the first end among them.
    absl::Duration ttl = std::min(options_.promo_ttl, bucket_end - now);
    for (const Promotion& p : *list) {
      if (p.end > now) ttl = std::min(ttl, p.end - now);
    }
    return cache::Cache::Computed{EncodePromotions(*list), ttl};
  };
  absl::StatusOr<std::string> bytes =
      options_.cache->GetOrComputeWithTtl(Keyspace::kPromo, key, compute);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<std::vector<Promotion>> list = DecodePromotions(*bytes);
  if (!list.ok()) {
    absl::StatusOr<cache::Cache::Computed> fresh = compute();
    if (!fresh.ok()) return fresh.status();
    if (fresh->ttl > absl::ZeroDuration()) {
      (void)options_.cache->Set(Keyspace::kPromo, key, fresh->value, fresh->ttl);
    }
    list = DecodePromotions(fresh->value);
    if (!list.ok()) return list.status();
  }
  std::erase_if(*list, [now](const Promotion& p) { return !p.RunningAt(now); });
  return list;
}

}  // namespace mangaassist::rag
