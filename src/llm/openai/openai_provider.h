// The `openai` provider: any OpenAI-compatible chat.completions server (OpenAI, vLLM, llama.cpp
// server, Ollama), streaming over SSE with `stream_options: {include_usage: true}` so that a
// stream ends with its usage. Built on HttpProvider (retries with Retry-After / retry-after-ms,
// circuit breaker, deadlines, metrics). Thread-safe like every Provider.
//
// Usage mapping to the Anthropic convention of core::TokenUsage: input = prompt_tokens -
// prompt_tokens_details.cached_tokens, cache_read = cached_tokens, cache_write = 0 (OpenAI bills
// no cache writes). A server that reports no usage gets the prompt and answer estimated
// (RoughTokenCount) rather than accounted as zero.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "core/llm_config.h"
#include "llm/provider.h"
#include "llm/provider_deps.h"

namespace mangaassist::llm {

// Uses config.name, base_url, api_key (sent as `Authorization: Bearer` when set), ca_file, the
// timeouts, retry and breaker. base_url is the server root ("http://vllm:8000") or, as in the
// OpenAI SDKs, its /v1 ("http://vllm:8000/v1"); either way calls go to .../v1/chat/completions.
// InvalidArgument for a missing or malformed base URL.
absl::StatusOr<std::unique_ptr<Provider>> NewOpenAiProvider(const core::ProviderConfig& config,
                                                            const ProviderDeps& deps);

}  // namespace mangaassist::llm
