// The request shape shared by the drop-in compatible endpoints (`POST /v1/chat/completions`,
// `POST /v1/messages`): what a client asked for, translated into a provider-neutral LlmRequest.
// A plain value produced by the parsers in openai_compat.h and anthropic_compat.h.
#pragma once

#include <string>

#include "llm/provider.h"

namespace mangaassist::api {

struct CompatRequest {
  // The alias (e.g. "auto") or concrete model the client named; never empty.
  std::string model;
  // `model` left empty: the gateway resolves it by policy. `system`, `cache_system`,
  // `messages` (alternating, starting and ending with kUser), `max_tokens`, `temperature`,
  // `top_p` and `stop` are filled.
  llm::LlmRequest llm;
  bool stream = false;
  bool include_usage = false;  // OpenAI `stream_options.include_usage`
  std::string user;            // OpenAI `user` / Anthropic `metadata.user_id`; "" when not given
};

}  // namespace mangaassist::api
