#include "llm/models.h"

#include "absl/strings/match.h"
#include "llm/fallback_provider.h"
#include "llm/provider_registry.h"

namespace mangaassist::llm {

namespace {

core::Route RouteOf(const core::ModelAliasConfig& alias, const core::ProviderConfig& provider) {
  if (provider.type == "extractive") return core::Route::kExtractive;
  if (alias.route == "sonnet") return core::Route::kSonnet;
  if (alias.route == "haiku") return core::Route::kHaiku;
  // Guess from the id: the big model is the one to watch in the reports.
  if (absl::StrContains(alias.model, "sonnet") || absl::StrContains(alias.model, "opus")) {
    return core::Route::kSonnet;
  }
  return core::Route::kHaiku;
}

}  // namespace

Models::~Models() {
  // Chains refer to providers: destroy them first.
  chains_.clear();
  providers_.clear();
}

absl::StatusOr<std::unique_ptr<Models>> Models::Create(const core::Config& config,
                                                       const core::PriceTable* prices,
                                                       ProviderDeps deps) {
  std::unique_ptr<Models> m(new Models());
  m->table_ = prices;
  std::map<std::string, Provider*, std::less<>> by_name;
  for (const core::ProviderConfig& pc : config.providers) {
    absl::StatusOr<std::unique_ptr<Provider>> p = CreateProvider(pc, deps);
    if (!p.ok()) return p.status();
    by_name[pc.name] = p->get();
    m->providers_.push_back(*std::move(p));
  }
  for (const core::ModelAliasConfig& alias : config.models) {
    const core::ProviderConfig* pc = config.FindProvider(alias.provider);
    if (pc == nullptr) {
      return absl::InvalidArgumentError("model '" + alias.name + "': no provider '" +
                                        alias.provider + "'");
    }
    PriceEntry price;
    // A simulated provider with a region (replay standing in for Bedrock) is priced like it.
    if ((pc->type == "bedrock" || (pc->type == "simulated" && !pc->region.empty())) &&
        prices != nullptr) {
      price.uplift_percent = prices->UpliftPercent(pc->region, "bedrock");
    }
    if (prices != nullptr && pc->type != "extractive" && alias.price != "free") {
      const std::string& key = alias.price.empty() ? alias.model : alias.price;
      price.price = prices->FindModel(key);
      if (price.price == nullptr) {
        return absl::InvalidArgumentError(
            "model '" + alias.name + "': no price for '" + key +
            "' in the price table; add it to pricing.yaml, or set `price:` to a price entry "
            "(or to `free` for a self-hosted model)");
      }
    }
    m->prices_.try_emplace(alias.model, price);

    absl::StatusOr<std::vector<FallbackTarget>> chain =
        ResolveFallbackChain(alias.name, config.models, by_name);
    if (!chain.ok()) return chain.status();
    Provider* callable = by_name[alias.provider];
    if (chain->size() > 1) {
      absl::StatusOr<std::unique_ptr<Provider>> fb =
          NewFallbackProvider(alias.name, *std::move(chain), deps.metrics);
      if (!fb.ok()) return fb.status();
      callable = fb->get();
      m->chains_.push_back(*std::move(fb));
    }
    float max_temperature = 2.0f;
    std::vector<std::string> chain_aliases = alias.fallback;
    chain_aliases.push_back(alias.name);
    for (const std::string& name : chain_aliases) {
      const core::ModelAliasConfig* a = config.FindModel(name);
      const core::ProviderConfig* p = a != nullptr ? config.FindProvider(a->provider) : nullptr;
      if (p != nullptr && (p->type == "anthropic" || p->type == "bedrock")) max_temperature = 1.0f;
    }
    m->entries_.push_back(ModelEntry{alias.name, callable, alias.provider, alias.model,
                                     RouteOf(alias, *pc), /*is_alias=*/true, max_temperature});
  }
  // Concrete ids pass through on the first alias that uses them.
  const size_t aliases = m->entries_.size();
  for (size_t i = 0; i < aliases; ++i) {
    ModelEntry e = m->entries_[i];
    if (m->Find(e.model) != nullptr) continue;
    e.name = e.model;
    e.is_alias = false;
    m->entries_.push_back(std::move(e));
  }
  return m;
}

const ModelEntry* Models::Find(std::string_view name) const {
  for (const ModelEntry& e : entries_) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

std::vector<std::string> Models::Names() const {
  std::vector<std::string> names;
  names.reserve(entries_.size());
  for (const ModelEntry& e : entries_) names.push_back(e.name);
  return names;
}

PricedUsage Models::Price(std::string_view answered_model, const core::TokenUsage& usage) const {
  PricedUsage out;
  const core::ModelPrice* price = nullptr;
  int uplift = 0;
  if (auto it = prices_.find(answered_model); it != prices_.end()) {
    price = it->second.price;
    uplift = it->second.uplift_percent;
  } else if (table_ != nullptr) {
    price = table_->FindModel(answered_model);  // a model that answered under another id
  }
  if (price == nullptr) {
    out.priced = false;
    return out;
  }
  core::LlmCost cost = core::CostOf(*price, usage);
  if (uplift != 0) {
    cost.input = core::WithUplift(cost.input, uplift);
    cost.output = core::WithUplift(cost.output, uplift);
    cost.cache_read = core::WithUplift(cost.cache_read, uplift);
    cost.cache_write = core::WithUplift(cost.cache_write, uplift);
  }
  out.cost = cost;
  return out;
}

}  // namespace mangaassist::llm
