#include "rag/promotions.h"

#include <algorithm>
#include <exception>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cache/key_hasher.h"
#include "core/yaml.h"
#include "yaml-cpp/yaml.h"

namespace mangaassist::rag {
namespace {

// "FILE:LINE: key: problem", the shape of every YAML loader's errors in this repo.
class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  absl::Status Bad(const YAML::Node& at, const std::string& key, const std::string& what) const {
    const int line = at.IsDefined() ? at.Mark().line + 1 : 0;
    return absl::InvalidArgumentError(absl::StrCat(source_, ":", line, ": ", key, ": ", what));
  }

  // Every key of `map` must be one of `allowed`.
  absl::Status Keys(const YAML::Node& map, const std::string& where,
                    std::initializer_list<std::string_view> allowed) const {
    for (const auto& kv : map) {
      const std::string key = kv.first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        return Bad(kv.first, where.empty() ? key : absl::StrCat(where, ".", key), "unknown key");
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> Text(const YAML::Node& parent, const char* name,
                                   const std::string& key) const {
    const YAML::Node n = parent[name];
    if (!n.IsDefined() || n.IsNull()) return Bad(parent, key, "missing");
    if (!n.IsScalar() || n.Scalar().empty()) return Bad(n, key, "must be a non-empty string");
    return n.Scalar();
  }

  absl::StatusOr<absl::Time> Timestamp(const YAML::Node& parent, const char* name,
                                       const std::string& key) const {
    auto text = Text(parent, name, key);
    if (!text.ok()) return text.status();
    absl::Time t;
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, *text, &t, &err)) {
      return Bad(parent[name], key,
                 absl::StrCat("'", *text, "' is not an RFC 3339 time with an offset (",
                              "2026-11-01T00:00:00+09:00): ", err));
    }
    if (absl::ToUnixNanos(t) % 1'000'000'000 != 0) {
      return Bad(parent[name], key, "must be a whole second");
    }
    return t;
  }

  absl::StatusOr<std::vector<std::string>> List(const YAML::Node& parent, const char* name,
                                                const std::string& key) const {
    std::vector<std::string> out;
    const YAML::Node n = parent[name];
    if (!n.IsDefined() || n.IsNull()) return out;
    if (!n.IsSequence()) return Bad(n, key, "must be a list of strings");
    for (const YAML::Node& item : n) {
      if (!item.IsScalar() || item.Scalar().empty()) {
        return Bad(item, key, "must be a list of non-empty strings");
      }
      out.push_back(item.Scalar());
    }
    return out;
  }

  absl::StatusOr<std::pair<std::string, std::string>> Bilingual(const YAML::Node& parent,
                                                                const char* name,
                                                                const std::string& key) const {
    const YAML::Node n = parent[name];
    if (!n.IsDefined() || n.IsNull()) return Bad(parent, key, "missing");
    if (!n.IsMap()) return Bad(n, key, "must be a map with 'en' and 'ja'");
    if (absl::Status s = Keys(n, key, {"en", "ja"}); !s.ok()) return s;
    auto en = Text(n, "en", absl::StrCat(key, ".en"));
    if (!en.ok()) return en.status();
    auto ja = Text(n, "ja", absl::StrCat(key, ".ja"));
    if (!ja.ok()) return ja.status();
    return std::make_pair(*std::move(en), *std::move(ja));
  }

  absl::StatusOr<Promotion> Parse(const YAML::Node& n, const std::string& where) const {
    if (!n.IsMap()) return Bad(n, where, "must be a map");
    if (absl::Status s =
            Keys(n, where,
                 {"id", "title", "text", "start", "end", "discount_percent", "genres", "titles"});
        !s.ok()) {
      return s;
    }
    Promotion p;
    auto id = Text(n, "id", absl::StrCat(where, ".id"));
    if (!id.ok()) return id.status();
    p.id = *std::move(id);
    auto title = Bilingual(n, "title", absl::StrCat(where, ".title"));
    if (!title.ok()) return title.status();
    std::tie(p.title_en, p.title_ja) = *std::move(title);
    auto text = Bilingual(n, "text", absl::StrCat(where, ".text"));
    if (!text.ok()) return text.status();
    std::tie(p.text_en, p.text_ja) = *std::move(text);
    auto start = Timestamp(n, "start", absl::StrCat(where, ".start"));
    if (!start.ok()) return start.status();
    auto end = Timestamp(n, "end", absl::StrCat(where, ".end"));
    if (!end.ok()) return end.status();
    p.start = *start;
    p.end = *end;
    if (p.end <= p.start) return Bad(n["end"], absl::StrCat(where, ".end"), "must be after start");
    if (const YAML::Node d = n["discount_percent"]; d.IsDefined() && !d.IsNull()) {
      int percent = -1;
      if (!d.IsScalar() || !YAML::convert<int>::decode(d, percent) || percent < 0 ||
          percent > 100) {
        return Bad(d, absl::StrCat(where, ".discount_percent"), "must be an integer from 0 to 100");
      }
      p.discount_percent = percent;
    }
    auto genres = List(n, "genres", absl::StrCat(where, ".genres"));
    if (!genres.ok()) return genres.status();
    p.genres = *std::move(genres);
    auto titles = List(n, "titles", absl::StrCat(where, ".titles"));
    if (!titles.ok()) return titles.status();
    p.title_ids = *std::move(titles);
    return p;
  }

 private:
  std::string source_;
};

std::string DigestOf(std::string_view bytes) {
  cache::KeyHasher h;
  h.Field(bytes);
  std::string out;
  cache::AppendHex(h.Digest64(), &out);
  return out;
}

}  // namespace

bool Promotion::Covers(const CatalogEntry& e) const {
  if (genres.empty() && title_ids.empty()) return true;
  if (std::find(title_ids.begin(), title_ids.end(), e.id) != title_ids.end()) return true;
  for (const std::string& g : e.genres) {
    if (std::find(genres.begin(), genres.end(), g) != genres.end()) return true;
  }
  return false;
}

absl::StatusOr<std::unique_ptr<PromotionSet>> PromotionSet::LoadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("promotions file not found: ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return LoadString(ss.str(), path);
}

absl::StatusOr<std::unique_ptr<PromotionSet>> PromotionSet::LoadString(const std::string& yaml,
                                                                       const std::string& source) {
  const Reader r(source);
  absl::StatusOr<YAML::Node> parsed = core::ParseYaml(yaml, source);
  if (!parsed.ok()) return parsed.status();
  YAML::Node root = *std::move(parsed);
  if (!root.IsMap()) return absl::InvalidArgumentError(absl::StrCat(source, ": not a mapping"));
  auto set = std::unique_ptr<PromotionSet>(new PromotionSet());
  try {
    if (absl::Status s = r.Keys(root, "", {"version", "promotions"}); !s.ok()) return s;
    const YAML::Node version = root["version"];
    if (!version.IsDefined() || !version.IsScalar() || version.Scalar() != "1") {
      return r.Bad(version.IsDefined() ? version : root, "version", "must be 1");
    }
    const YAML::Node list = root["promotions"];
    if (list.IsDefined() && !list.IsNull() && !list.IsSequence()) {
      return r.Bad(list, "promotions", "must be a list");
    }
    std::set<std::string> ids;
    for (size_t i = 0; list.IsSequence() && i < list.size(); ++i) {
      const std::string where = absl::StrCat("promotions[", i, "]");
      auto p = r.Parse(list[i], where);
      if (!p.ok()) return p.status();
      if (!ids.insert(p->id).second) {
        return r.Bad(list[i]["id"], absl::StrCat(where, ".id"),
                     absl::StrCat("'", p->id, "' is used twice"));
      }
      set->promotions_.push_back(*std::move(p));
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ":", e.mark.line + 1, ": ", e.msg));
  }
  set->version_ = DigestOf(yaml);
  return set;
}

std::unique_ptr<PromotionSet> PromotionSet::FromPromotions(std::vector<Promotion> promotions) {
  auto set = std::unique_ptr<PromotionSet>(new PromotionSet());
  cache::KeyHasher h;
  for (const Promotion& p : promotions) {
    for (const std::string* s : {&p.id, &p.title_en, &p.title_ja, &p.text_en, &p.text_ja}) {
      h.Field(*s);
    }
    h.Int(static_cast<uint64_t>(absl::ToUnixSeconds(p.start)));
    h.Int(static_cast<uint64_t>(absl::ToUnixSeconds(p.end)));
    h.Int(static_cast<uint64_t>(p.discount_percent));
    h.Int(p.genres.size());
    for (const std::string& g : p.genres) h.Field(g);
    h.Int(p.title_ids.size());
    for (const std::string& t : p.title_ids) h.Field(t);
  }
  set->version_.clear();
  cache::AppendHex(h.Digest64(), &set->version_);
  set->promotions_ = std::move(promotions);
  return set;
}

std::vector<Promotion> PromotionSet::Overlapping(absl::Time from, absl::Time to) const {
  std::vector<Promotion> out;
  for (const Promotion& p : promotions_) {
    if (p.start < to && from < p.end) out.push_back(p);
  }
  return out;
}

}  // namespace mangaassist::rag
