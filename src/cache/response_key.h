// The exact response cache's key (US-03, keyspace llmresp:): a 128-bit XXH3 digest over every
// input that can change an answer — the normalized, redacted prompt (a hash of the system
// prompt, a digest of the history, the user message), the provider and model id with its
// version, the prompt-template and classifier versions, locale and language, the tenant, and
// the sampling parameters. Each field is length-prefixed, so no two different inputs share an
// encoding. The key starts with a digest of the model id alone, so a model's entries can be
// invalidated by prefix when it rotates. Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/request_context.h"

namespace mangaassist::cache {

struct ResponseKeyInputs {
  std::string_view tenant;
  // Narrows sharing to one user (or session) when set; "" shares within the tenant.
  std::string_view user_scope;
  std::string_view locale;  // the client's hint, as given
  core::Lang lang = core::Lang::kEn;
  std::string_view provider;       // the `providers:` key
  std::string_view model;          // the provider model id of the alias's first target
  std::string_view model_version;  // "" when the id carries its version
  std::string_view prompt_template_version;
  std::string_view classifier_version;  // "" until the intent classifier exists
  std::string_view intent;
  std::string_view system_prompt;
  const std::vector<core::ChatTurn>* history = nullptr;
  std::string_view message;
  int max_tokens = 0;
  std::optional<float> temperature;
  std::optional<float> top_p;
  const std::vector<std::string>* stop = nullptr;
};

// "<16 hex: model digest>:<32 hex: request digest>" (the keyspace prefix is not included).
std::string ResponseCacheKey(const ResponseKeyInputs& in);

// The key prefix of every entry of `model` (with its version): for invalidation by model.
std::string ResponseCacheModelPrefix(std::string_view model, std::string_view model_version);

}  // namespace mangaassist::cache
