#include "core/utf8.h"

#include "simdjson.h"

namespace mangaassist::core {

bool IsValidUtf8(std::string_view text) { return simdjson::validate_utf8(text.data(), text.size()); }

bool HasControlCharacters(std::string_view text) {
  for (unsigned char c : text) {
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return true;
    if (c == 0x7F) return true;
  }
  return false;
}

}  // namespace mangaassist::core
