// FallbackProvider: the configured fallback chain of a model alias — (provider, model) pairs,
// e.g. Sonnet then Haiku in the same region — tried in order. It moves on only when a failure
// is the provider's fault (ShouldFallBack): unavailable (connection, 5xx, malformed answer),
// circuit open, deadline, 429 once the retries are spent; never for a bad request (other 4xx)
// or a client that went away. A stream falls back only before its first byte: once text has
// reached the client, switching models would splice two answers. LlmResponse.model names the
// model that answered, attempts counts every upstream attempt of the chain. The whole chain
// shares the request's timeout.
// Thread-safe when its providers are; it does not own them (REQUIRES: they outlive it).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/llm_config.h"
#include "core/metrics.h"
#include "llm/provider.h"

namespace mangaassist::llm {

struct FallbackTarget {
  Provider* provider = nullptr;
  std::string model;  // the provider's model id
};

// Whether a failure of one target lets the chain try the next.
bool ShouldFallBack(const absl::Status& status);

// `name` labels metrics (mangaassist_llm_fallbacks_total{chain,from_model}); `metrics` may be
// null. InvalidArgument for an empty chain or a null provider.
absl::StatusOr<std::unique_ptr<Provider>> NewFallbackProvider(std::string name,
                                                              std::vector<FallbackTarget> chain,
                                                              core::Registry* metrics = nullptr);

// The chain of alias `alias`: its own (provider, model), then the (provider, model) of each of
// its `fallback` aliases in order (one level: a fallback's own fallbacks are not followed),
// duplicates dropped. InvalidArgument for an unknown alias or provider name.
absl::StatusOr<std::vector<FallbackTarget>> ResolveFallbackChain(
    std::string_view alias, const std::vector<core::ModelAliasConfig>& aliases,
    const std::map<std::string, Provider*, std::less<>>& providers);

}  // namespace mangaassist::llm
