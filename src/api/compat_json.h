// JSON helpers shared by the request parsers and response writers of src/api (native chat,
// OpenAI- and Anthropic-compatible; not API outside src/api). Parsing uses one simdjson parser per
// thread, so a parsed document is valid only until the next ParseJsonObject on that thread and
// must not be held across a coroutine suspension. Everything else is pure and thread-safe.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/json_write.h"
#include "llm/provider.h"

namespace mangaassist::api::internal {

using core::AppendJsonString;  // core/json_write.h

// Parses `body`, which must be one JSON object nested at most `max_depth` deep. Errors are
// InvalidArgument saying which: empty body, malformed JSON, invalid UTF-8, too deep, not an
// object; OutOfRange when the body is too large to parse.
absl::StatusOr<simdjson::dom::object> ParseJsonObject(std::string_view body, int max_depth);

// `obj[key]`, or nullopt when the key is absent or its value is JSON null: clients send null
// for "not set" as often as they omit the key, and both mean the same to us.
std::optional<simdjson::dom::element> Field(simdjson::dom::object obj, std::string_view key);

// Typed views of a value; `name` is how the error message names the field
// ("'temperature' must be a number").
absl::StatusOr<std::string_view> AsString(simdjson::dom::element el, std::string_view name);
absl::StatusOr<int64_t> AsInt(simdjson::dom::element el, std::string_view name);
absl::StatusOr<double> AsNumber(simdjson::dom::element el, std::string_view name);
absl::StatusOr<bool> AsBool(simdjson::dom::element el, std::string_view name);
absl::StatusOr<simdjson::dom::array> AsArray(simdjson::dom::element el, std::string_view name);
absl::StatusOr<simdjson::dom::object> AsObject(simdjson::dom::element el, std::string_view name);

// Reads a message `content` (or a `system` value): a string, or an array of text parts
// `{"type": "text", "text": ...}` whose texts are concatenated as they are (no separator: the
// parts of one message are one text). A part of any other type is InvalidArgument naming
// `where` and the part's type; `describe(type)` gives the feature's plain name ("image input")
// or "" when it has none. *cache_control (may be null) is set when a text part carries a
// non-null `cache_control`.
using DescribePartType = std::string_view (*)(std::string_view type);
absl::Status ReadTextContent(simdjson::dom::element content, std::string_view where,
                             DescribePartType describe, std::string* out, bool* cache_control);

// Appends a turn, merging it into the previous one with "\n\n" when both have the same role:
// Anthropic-style providers require strictly alternating roles, and merging is the faithful
// reading of two consecutive user (or assistant) messages. Empty texts add no separator.
void AppendTurn(std::vector<llm::Message>* messages, llm::Role role, std::string_view text);

// The "'x' cannot be translated faithfully" error every unsupported feature gets.
absl::Status Untranslatable(std::string_view what);

}  // namespace mangaassist::api::internal
