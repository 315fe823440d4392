// CreateProvider: the one place where provider types are registered — a table from the config's
// `type` to its factory, one line per provider. Adding a provider touches its own folder and
// that line. Stateless and thread-safe.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/llm_config.h"
#include "llm/provider.h"
#include "llm/provider_deps.h"

namespace mangaassist::llm {

using ProviderFactory = absl::StatusOr<std::unique_ptr<Provider>> (*)(
    const core::ProviderConfig& config, const ProviderDeps& deps);

// Creates the provider of config.type ("anthropic", "bedrock", "openai", "extractive").
// InvalidArgument for an unknown type or a config its factory refuses; PermissionDenied for a
// cross-region Bedrock endpoint. REQUIRES: deps' pointees outlive the provider.
absl::StatusOr<std::unique_ptr<Provider>> CreateProvider(const core::ProviderConfig& config,
                                                         ProviderDeps deps);

// The registered type names, in table order.
std::vector<std::string_view> ProviderTypes();

}  // namespace mangaassist::llm
