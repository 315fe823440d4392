#include "core/yaml.h"

#include "absl/strings/str_cat.h"
#include "core/strings.h"

namespace mangaassist::core {

absl::StatusOr<YAML::Node> ParseYaml(const std::string& text, std::string_view source) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(ToAbsl(source), ":", e.mark.line + 1, ": YAML syntax error: ", e.msg));
  }
}

}  // namespace mangaassist::core
