// The `anthropic` provider: Claude through the Anthropic Messages API (POST {base_url}/v1/messages
// with x-api-key and anthropic-version), streaming over SSE. Built on HttpProvider (retries with
// Retry-After, circuit breaker, deadlines, metrics); the wire format lives in
// anthropic_events.h, shared with the bedrock provider. Thread-safe like every Provider.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "core/llm_config.h"
#include "llm/provider.h"
#include "llm/provider_deps.h"

namespace mangaassist::llm {

// Uses config.name, base_url (default https://api.anthropic.com), api_key, anthropic_version,
// ca_file, the timeouts, retry and breaker. InvalidArgument for a malformed base URL.
absl::StatusOr<std::unique_ptr<Provider>> NewAnthropicProvider(const core::ProviderConfig& config,
                                                               const ProviderDeps& deps);

}  // namespace mangaassist::llm
