#include "api/compat_json.h"

#include <cstdint>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "core/strings.h"

namespace mangaassist::api::internal {
namespace {

using core::ToAbsl;

simdjson::dom::parser& ThreadParser(int max_depth) {
  thread_local simdjson::dom::parser parser;
  thread_local int depth = 0;
  if (depth != max_depth) {
    // Capacity grows on demand; only the depth limit is fixed here.
    parser = simdjson::dom::parser();
    if (parser.allocate(64 * 1024, static_cast<size_t>(max_depth)) != simdjson::SUCCESS) {
      std::abort();  // 64 KiB could not be allocated: out of memory, "cannot happen"
    }
    depth = max_depth;
  }
  return parser;
}

absl::Status TypeError(std::string_view name, std::string_view type) {
  return absl::InvalidArgumentError(absl::StrCat("'", ToAbsl(name), "' must be ", ToAbsl(type)));
}

}  // namespace

absl::StatusOr<simdjson::dom::object> ParseJsonObject(std::string_view body, int max_depth) {
  if (body.empty()) return absl::InvalidArgumentError("request body is empty");
  simdjson::dom::parser& parser = ThreadParser(max_depth);
  simdjson::dom::element root;
  auto err = parser.parse(body.data(), body.size()).get(root);
  if (err != simdjson::SUCCESS) {
    switch (err) {
      case simdjson::UTF8_ERROR:
        return absl::InvalidArgumentError("request body is not valid UTF-8");
      case simdjson::DEPTH_ERROR:
        return absl::InvalidArgumentError(
            absl::StrCat("JSON nesting is deeper than ", max_depth, " levels"));
      case simdjson::CAPACITY:
        return absl::OutOfRangeError("request body is too large to parse");
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("malformed JSON: ", simdjson::error_message(err)));
    }
  }
  simdjson::dom::object obj;
  if (root.get(obj) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("request body must be a JSON object");
  }
  return obj;
}

std::optional<simdjson::dom::element> Field(simdjson::dom::object obj, std::string_view key) {
  simdjson::dom::element el;
  if (obj.at_key(key).get(el) != simdjson::SUCCESS || el.is_null()) return std::nullopt;
  return el;
}

absl::StatusOr<std::string_view> AsString(simdjson::dom::element el, std::string_view name) {
  std::string_view v;
  if (el.get(v) != simdjson::SUCCESS) return TypeError(name, "a string");
  return v;
}

absl::StatusOr<int64_t> AsInt(simdjson::dom::element el, std::string_view name) {
  int64_t v = 0;
  if (el.get(v) != simdjson::SUCCESS) return TypeError(name, "an integer");
  return v;
}

absl::StatusOr<double> AsNumber(simdjson::dom::element el, std::string_view name) {
  if (!el.is_number()) return TypeError(name, "a number");
  double v = 0;
  if (el.get(v) != simdjson::SUCCESS) return TypeError(name, "a number");
  return v;
}

absl::StatusOr<bool> AsBool(simdjson::dom::element el, std::string_view name) {
  bool v = false;
  if (el.get(v) != simdjson::SUCCESS) return TypeError(name, "a boolean");
  return v;
}

absl::StatusOr<simdjson::dom::array> AsArray(simdjson::dom::element el, std::string_view name) {
  simdjson::dom::array v;
  if (el.get(v) != simdjson::SUCCESS) return TypeError(name, "an array");
  return v;
}

absl::StatusOr<simdjson::dom::object> AsObject(simdjson::dom::element el, std::string_view name) {
  simdjson::dom::object v;
  if (el.get(v) != simdjson::SUCCESS) return TypeError(name, "an object");
  return v;
}

absl::Status ReadTextContent(simdjson::dom::element content, std::string_view where,
                             DescribePartType describe, std::string* out, bool* cache_control) {
  std::string_view text;
  if (content.get(text) == simdjson::SUCCESS) {
    out->append(text);
    return absl::OkStatus();
  }
  simdjson::dom::array parts;
  if (content.get(parts) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", ToAbsl(where), "' must be a string or an array of {\"type\": \"text\"} parts"));
  }
  size_t index = 0;
  for (simdjson::dom::element part_el : parts) {
    const std::string name = absl::StrCat(ToAbsl(where), "[", index++, "]");
    auto part = AsObject(part_el, name);
    if (!part.ok()) return part.status();
    auto type_el = Field(*part, "type");
    if (!type_el) {
      return absl::InvalidArgumentError(absl::StrCat("'", name, ".type' is required"));
    }
    auto type = AsString(*type_el, name + ".type");
    if (!type.ok()) return type.status();
    if (*type != "text") {
      std::string_view feature = describe(*type);
      return absl::InvalidArgumentError(absl::StrCat(
          "'", name, "': content of type '", ToAbsl(*type), "'",
          feature.empty() ? "" : absl::StrCat(" (", ToAbsl(feature), ")"),
          " is not supported: only text can be translated faithfully across providers"));
    }
    auto text_el = Field(*part, "text");
    if (!text_el) {
      return absl::InvalidArgumentError(absl::StrCat("'", name, ".text' is required"));
    }
    auto part_text = AsString(*text_el, name + ".text");
    if (!part_text.ok()) return part_text.status();
    out->append(*part_text);
    if (cache_control != nullptr && Field(*part, "cache_control").has_value()) {
      *cache_control = true;
    }
  }
  return absl::OkStatus();
}

void AppendTurn(std::vector<llm::Message>* messages, llm::Role role, std::string_view text) {
  if (messages->empty() || messages->back().role != role) {
    messages->push_back(llm::Message{role, std::string(text)});
    return;
  }
  std::string& content = messages->back().content;
  if (text.empty()) return;
  if (!content.empty()) content.append("\n\n");
  content.append(text);
}

absl::Status Untranslatable(std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(ToAbsl(what), " cannot be translated faithfully across providers"));
}

}  // namespace mangaassist::api::internal
