// The query string of a request target ("/admin/kpi?from=...&to=..."): `name=value` pairs split
// on '&', each percent-decoded ('+' is a space, as HTML forms send it). Boost 1.74 has no
// Boost.URL; this is the small strict subset the admin endpoints need.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace mangaassist::http {

// InvalidArgument for a bad escape ("%G1", a '%' at the end), a name given twice or an empty
// name. A pair without '=' has an empty value.
absl::StatusOr<std::map<std::string, std::string, std::less<>>> ParseQuery(std::string_view target);

}  // namespace mangaassist::http
