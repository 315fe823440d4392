// The `extractive` provider: the offline ExtractiveResponder behind the Provider interface, so
// routing can treat "no model at all" like any other model. Answers the last user message (in
// its detected language), with no network; usage is a rough token count (RoughTokenCount) and
// costs nothing (no price entry). A stream yields the whole answer as one delta.
// Thread-safe; does not own the responder (REQUIRES: it outlives the provider).
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "core/llm_config.h"
#include "llm/provider.h"
#include "llm/provider_deps.h"

namespace mangaassist::llm {

// FailedPrecondition when deps.extractive is null.
absl::StatusOr<std::unique_ptr<Provider>> NewExtractiveProvider(const core::ProviderConfig& config,
                                                                const ProviderDeps& deps);

}  // namespace mangaassist::llm
