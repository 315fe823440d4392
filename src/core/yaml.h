// Parsing a YAML document with the error every loader of this project reports: a syntax error
// becomes InvalidArgument "SOURCE:LINE: YAML syntax error: MESSAGE". Thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "yaml-cpp/yaml.h"

namespace mangaassist::core {

// The document's root node (Null for empty text). `source` names the file in the error.
absl::StatusOr<YAML::Node> ParseYaml(const std::string& text, std::string_view source);

}  // namespace mangaassist::core
