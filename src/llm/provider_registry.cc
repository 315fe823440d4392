#include "llm/provider_registry.h"

#include <string>

#include "llm/anthropic/anthropic_provider.h"
#include "llm/bedrock/bedrock_provider.h"
#include "llm/extractive/extractive_provider.h"
#include "llm/openai/openai_provider.h"
#include "llm/simulated/simulated_provider.h"

namespace mangaassist::llm {

namespace {

struct Registration {
  std::string_view type;
  ProviderFactory factory;
};

// One line per provider type.
constexpr Registration kProviders[] = {
    {"anthropic", &NewAnthropicProvider},
    {"bedrock", &NewBedrockProvider},
    {"openai", &NewOpenAiProvider},
    {"extractive", &NewExtractiveProvider},
    {"simulated", &NewSimulatedProvider},
};

}  // namespace

absl::StatusOr<std::unique_ptr<Provider>> CreateProvider(const core::ProviderConfig& config,
                                                         ProviderDeps deps) {
  if (config.name.empty()) return absl::InvalidArgumentError("a provider needs a name");
  for (const Registration& registration : kProviders) {
    if (registration.type == config.type) return registration.factory(config, deps);
  }
  std::string known;
  for (const Registration& registration : kProviders) {
    if (!known.empty()) known += ", ";
    known.append(registration.type);
  }
  return absl::InvalidArgumentError("provider '" + config.name + "': unknown type '" + config.type +
                                    "' (known: " + known + ")");
}

std::vector<std::string_view> ProviderTypes() {
  std::vector<std::string_view> types;
  for (const Registration& registration : kProviders) types.push_back(registration.type);
  return types;
}

}  // namespace mangaassist::llm
