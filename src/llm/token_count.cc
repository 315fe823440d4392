#include "llm/token_count.h"

namespace mangaassist::llm {

int64_t RoughPromptTokens(const LlmRequest& request) {
  constexpr int64_t kPerMessageFraming = 4;
  int64_t tokens = RoughTokenCount(request.system);
  for (const Message& message : request.messages) {
    tokens += RoughTokenCount(message.content) + kPerMessageFraming;
  }
  return tokens;
}

}  // namespace mangaassist::llm
