#include "core/json_write.h"

#include <cstdint>
#include <cstring>

#include "nlohmann/json.hpp"
#include "simdjson.h"

namespace mangaassist::core {

void AppendJsonString(std::string* out, std::string_view s) {
  // Most strings (ids, labels, answers) need no escaping: valid UTF-8 without quotes,
  // backslashes or control characters goes out as it is, which is what the serializer below
  // would write too. Anything else takes the serializer: it escapes, and `replace` turns
  // ill-formed UTF-8 into U+FFFD. The scan reads eight bytes at a time: a word has a byte below
  // 0x20, a quote or a backslash exactly when the "has a zero byte" test fires on the word, on
  // it XOR '"' or on it XOR '\' (each exact for presence: a borrow starts only at a zero byte).
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  uint64_t special = 0, high = 0;
  size_t i = 0;
  for (; i + 8 <= s.size() && special == 0; i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    const uint64_t quote = w ^ (kOnes * '"');
    const uint64_t slash = w ^ (kOnes * '\\');
    special = (((w - kOnes * 0x20) & ~w) | ((quote - kOnes) & ~quote) | ((slash - kOnes) & ~slash)) &
              kHigh;
    high |= w & kHigh;
  }
  for (; i < s.size() && special == 0; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    special = c < 0x20 || c == '"' || c == '\\';
    high |= c & 0x80;
  }
  if (special == 0 && (high == 0 || simdjson::validate_utf8(s.data(), s.size()))) {
    out->reserve(out->size() + s.size() + 2);
    out->push_back('"');
    out->append(s);
    out->push_back('"');
    return;
  }
  out->append(nlohmann::json(std::string(s)).dump(-1, ' ', false,
                                                  nlohmann::json::error_handler_t::replace));
}

}  // namespace mangaassist::core
