// What the `call` stage will ask of a model, computed the same way by `reserve` (to size the
// budget hold before the call) and by `call` itself: the alias, the provider request and the
// most the call can cost.
#pragma once

#include <string_view>

#include "core/config.h"
#include "core/money.h"
#include "core/request_context.h"
#include "llm/models.h"
#include "llm/provider.h"

namespace mangaassist::pipeline {

// The alias this request is answered with: the one `reserve` sized its hold for, else the
// client's model or the tier's (CallConfig::AliasFor).
std::string_view CallAlias(const core::CallConfig& call, const core::RequestContext& ctx);

// The provider request for `entry`: system prompt, history, message, sampling, max_tokens.
llm::LlmRequest BuildLlmRequest(const core::CallConfig& call, const core::RequestContext& ctx,
                                const llm::ModelEntry& entry);

// The most a call can cost: `input_tokens` in and `max_tokens` out at the priciest model of
// the alias's fallback chain.
core::Money MaxCallCost(const core::Config& config, const llm::Models& models,
                        std::string_view alias, int64_t input_tokens, int64_t max_tokens);

}  // namespace mangaassist::pipeline
