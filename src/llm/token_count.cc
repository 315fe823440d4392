#include "llm/token_count.h"

namespace mangaassist::llm {

int64_t RoughTokenCount(std::string_view text) {
  int64_t ascii = 0;
  int64_t other = 0;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      ++ascii;
    } else if ((c & 0xC0) != 0x80) {
      ++other;  // the lead byte of a multi-byte character
    }
  }
  const int64_t tokens = (ascii + 3) / 4 + other;
  return text.empty() ? 0 : (tokens > 0 ? tokens : 1);
}

int64_t RoughPromptTokens(const LlmRequest& request) {
  constexpr int64_t kPerMessageFraming = 4;
  int64_t tokens = RoughTokenCount(request.system);
  for (const Message& message : request.messages) {
    tokens += RoughTokenCount(message.content) + kPerMessageFraming;
  }
  return tokens;
}

}  // namespace mangaassist::llm
