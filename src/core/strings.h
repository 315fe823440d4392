// Bridges std::string_view and absl::string_view. Debian 12's abseil is built with its own
// string_view type (ABSL_OPTION_USE_STD_STRING_VIEW 0), so the two do not convert implicitly.
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace mangaassist::core {

inline absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view ToStd(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace mangaassist::core
