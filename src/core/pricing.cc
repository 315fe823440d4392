#include "core/pricing.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "core/yaml.h"
#include "yaml-cpp/yaml.h"

namespace mangaassist::core {
namespace {

absl::Status Bad(const std::string& source, const YAML::Node& n, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(source, ":", n.Mark().line + 1, ": ", what));
}

absl::StatusOr<Money> ReadMoney(const std::string& source, const YAML::Node& n,
                                const std::string& key) {
  if (!n.IsScalar()) return Bad(source, n, absl::StrCat(key, ": must be a decimal amount"));
  auto m = Money::ParseUsd(n.Scalar());
  if (!m.ok()) return Bad(source, n, absl::StrCat(key, ": ", m.status().message()));
  if (m->nanos() < 0) return Bad(source, n, absl::StrCat(key, ": must not be negative"));
  return *m;
}

}  // namespace

absl::StatusOr<PriceTable> PriceTable::LoadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open price table ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return LoadString(ss.str(), path);
}

absl::StatusOr<PriceTable> PriceTable::LoadString(const std::string& yaml,
                                                  const std::string& source) {
  PriceTable t;
  absl::StatusOr<YAML::Node> parsed = core::ParseYaml(yaml, source);
  if (!parsed.ok()) return parsed.status();
  YAML::Node root = *std::move(parsed);
  if (!root.IsMap()) return absl::InvalidArgumentError(absl::StrCat(source, ": not a mapping"));
  if (root["as_of"]) t.as_of_ = root["as_of"].Scalar();
  YAML::Node models = root["models"];
  if (!models.IsMap() || models.size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": 'models' must list model prices"));
  }
  for (const auto& kv : models) {
    ModelPrice p;
    p.name = kv.first.Scalar();
    const YAML::Node& m = kv.second;
    if (!m.IsMap()) return Bad(source, m, absl::StrCat("models.", p.name, ": must be a mapping"));
    for (const char* key : {"input", "output", "cache_write", "cache_read"}) {
      if (!m[key]) return Bad(source, m, absl::StrCat("models.", p.name, ": missing '", key, "'"));
      auto money = ReadMoney(source, m[key], absl::StrCat("models.", p.name, ".", key));
      if (!money.ok()) return money.status();
      std::string k = key;
      (k == "input" ? p.input : k == "output" ? p.output : k == "cache_write" ? p.cache_write
                                                                              : p.cache_read) = *money;
    }
    if (m["source"]) p.source = m["source"].Scalar();
    if (m["ids"]) {
      for (const auto& id : m["ids"]) p.ids.push_back(id.Scalar());
    }
    t.models_.push_back(std::move(p));
  }
  if (YAML::Node services = root["services"]; services.IsMap()) {
    for (const auto& svc : services) {
      auto& entries = t.services_[svc.first.Scalar()];
      for (const auto& kv : svc.second) {
        std::string key = kv.first.Scalar();
        if (key == "source") continue;
        auto money = ReadMoney(source, kv.second, absl::StrCat("services.", svc.first.Scalar(), ".", key));
        if (!money.ok()) return money.status();
        entries[key] = *money;
      }
    }
  }
  if (YAML::Node up = root["regional_uplift_percent"]; up.IsMap()) {
    for (const auto& region : up) {
      for (const auto& kv : region.second) {
        int pct = 0;
        try {
          pct = kv.second.as<int>();
        } catch (const YAML::Exception&) {
          return Bad(source, kv.second, "regional uplift must be an integer percent");
        }
        t.uplift_[region.first.Scalar()][kv.first.Scalar()] = pct;
      }
    }
  }
  return t;
}

const ModelPrice* PriceTable::FindModel(std::string_view name_or_id) const {
  for (const ModelPrice& p : models_) {
    if (p.name == name_or_id) return &p;
    for (const std::string& id : p.ids) {
      if (id == name_or_id) return &p;
    }
  }
  return nullptr;
}

absl::StatusOr<Money> PriceTable::Service(std::string_view service, std::string_view key) const {
  auto s = services_.find(service);
  if (s != services_.end()) {
    auto k = s->second.find(std::string(key));
    if (k != s->second.end()) return k->second;
  }
  return absl::NotFoundError(absl::StrCat("no price for ", ToAbsl(service), ".", ToAbsl(key)));
}

int PriceTable::UpliftPercent(std::string_view region, std::string_view family) const {
  auto r = uplift_.find(region);
  if (r == uplift_.end()) return 0;
  auto f = r->second.find(std::string(family));
  return f == r->second.end() ? 0 : f->second;
}

LlmCost CostOf(const ModelPrice& price, const TokenUsage& usage) {
  return LlmCost{Money::PerMillion(price.input, usage.input_tokens),
                 Money::PerMillion(price.output, usage.output_tokens),
                 Money::PerMillion(price.cache_read, usage.cache_read_tokens),
                 Money::PerMillion(price.cache_write, usage.cache_write_tokens)};
}

Money WithUplift(Money amount, int percent) {
  __int128 v = static_cast<__int128>(amount.nanos()) * (100 + percent);
  __int128 q = v / 100, r = v % 100;
  if (r * 2 >= 100) ++q;
  return Money::FromNanos(static_cast<int64_t>(q));
}

}  // namespace mangaassist::core
