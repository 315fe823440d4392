#include "llm/token_count.h"

#include <string>

namespace mangaassist::llm {

int64_t RoughPromptTokens(const LlmRequest& request) {
  constexpr int64_t kPerMessageFraming = 4;
  // The system prompt is nearly always the configured one: count it once per thread.
  thread_local std::string last_system;
  thread_local int64_t last_system_tokens = 0;
  if (request.system != last_system) {
    last_system_tokens = RoughTokenCount(request.system);
    last_system.assign(request.system);
  }
  int64_t tokens = last_system_tokens;
  for (const Message& message : request.messages) {
    tokens += RoughTokenCount(message.content) + kPerMessageFraming;
  }
  return tokens;
}

}  // namespace mangaassist::llm
