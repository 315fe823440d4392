// Writing JSON by hand on hot paths (responses, provider request bodies): field by field into
// one string, with every string value going through AppendJsonString. Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace mangaassist::core {

// Appends `s` as a JSON string literal, quotes included (nlohmann's serializer): `"` `\` and
// every C0 control character are escaped; valid UTF-8 is copied through; each byte that is not
// part of a well-formed UTF-8 sequence becomes U+FFFD, so the output is always valid JSON.
void AppendJsonString(std::string* out, std::string_view s);

}  // namespace mangaassist::core
