// UTF-8 validation (SIMD, via simdjson's validator). Pure functions; thread-safe.
#pragma once

#include <string_view>

namespace mangaassist::core {

// True when `text` is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool IsValidUtf8(std::string_view text);

// True when `text` contains a NUL or another C0 control character other than \t \n \r.
bool HasControlCharacters(std::string_view text);

}  // namespace mangaassist::core
