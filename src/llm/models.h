// Models: the gateway's model aliases made callable — every provider of the config, created once,
// and for every alias (`auto`, `haiku`, `sonnet`, ...) its fallback chain, its route label and its
// price. Resolves what a client names (an alias, or a concrete provider model id that some alias
// uses) and prices what a provider reports. Created at start-up; immutable and thread-safe after.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/config.h"
#include "core/pricing.h"
#include "core/request_context.h"
#include "llm/provider.h"
#include "llm/provider_deps.h"

namespace mangaassist::llm {

struct ModelEntry {
  std::string name;            // the alias, or the concrete id for a pass-through entry
  Provider* provider = nullptr;  // the alias's fallback chain
  std::string provider_name;   // the `providers:` key of the alias's own provider
  std::string model;           // the provider model id of the first target
  core::Route route = core::Route::kHaiku;
  bool is_alias = true;
  // The highest sampling temperature every provider of the chain accepts (Claude: 1, OpenAI-
  // compatible servers: 2); the call stage refuses more with a clear 400.
  float max_temperature = 2.0f;
};

// What a call cost, priced at the model that answered (after fallback).
struct PricedUsage {
  core::LlmCost cost;
  bool priced = true;  // false: no price entry (a free or self-hosted model)
};

class Models {
 public:
  // Creates the providers and chains of `config`, prices from `prices` (may be null: every
  // model is then free — tests only). A non-free model without a price entry, an unknown
  // provider type, a cross-region Bedrock endpoint: an error naming the alias or provider.
  // REQUIRES: `prices` and deps' pointees outlive the Models.
  static absl::StatusOr<std::unique_ptr<Models>> Create(const core::Config& config,
                                                        const core::PriceTable* prices,
                                                        ProviderDeps deps);
  ~Models();

  // An alias by name, else the first alias whose model id is `name` (a concrete model passes
  // through, on that alias's provider and fallback chain). Null when neither.
  const ModelEntry* Find(std::string_view name) const;
  // The aliases in config order, then the concrete model ids they use (for /v1/models).
  std::vector<std::string> Names() const;
  // The cost of `usage` on `answered_model` (LlmResponse.model), with the regional uplift of
  // the provider it belongs to.
  PricedUsage Price(std::string_view answered_model, const core::TokenUsage& usage) const;

 private:
  struct PriceEntry {
    const core::ModelPrice* price = nullptr;  // null: free
    int uplift_percent = 0;
  };
  Models() = default;

  std::vector<std::unique_ptr<Provider>> providers_;
  std::vector<std::unique_ptr<Provider>> chains_;
  std::vector<ModelEntry> entries_;  // aliases, then pass-through ids
  std::map<std::string, PriceEntry, std::less<>> prices_;  // provider model id -> price
  const core::PriceTable* table_ = nullptr;
};

}  // namespace mangaassist::llm
