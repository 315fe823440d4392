#include "cli/redact_command.h"

#include <istream>
#include <ostream>
#include <string>

#include "core/strings.h"
#include "nlohmann/json.hpp"
#include "privacy/sanitize.h"

namespace mangaassist::cli {
namespace {

constexpr size_t kMaxChars = 1 << 20;  // per message; longer lines are reported, not processed

nlohmann::json ErrorLine(std::string_view why, size_t line) {
  return nlohmann::json{{"error", why}, {"line", line}};
}

void Emit(const nlohmann::json& j, std::ostream& out) {
  out << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
}

}  // namespace

int RunRedactCommand(bool jsonl, std::istream& in, std::ostream& out) {
  const privacy::Redactor& redactor = privacy::Redactor::Default();
  privacy::SanitizeOptions opts;
  opts.normalize.max_chars = kMaxChars;
  opts.original_offsets = jsonl;
  opts.normalize.invalid_utf8 = jsonl ? core::InvalidUtf8::kReject : core::InvalidUtf8::kReplace;
  int status = 0;
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!jsonl) {
      auto r = privacy::Sanitize(line, opts, redactor);
      if (r.ok()) {
        out << r->text << '\n';
      } else {  // only an over-long line can fail here
        out << '\n';
        status = 1;
      }
      continue;
    }
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      Emit(ErrorLine("not a JSON object", number), out);
      status = 1;
      continue;
    }
    auto text_it = j.find("text");
    if (text_it == j.end() || !text_it->is_string()) {
      Emit(ErrorLine("no string field \"text\"", number), out);
      status = 1;
      continue;
    }
    const std::string& text = text_it->get_ref<const std::string&>();
    auto r = privacy::Sanitize(text, opts, redactor);
    if (!r.ok()) {
      Emit(ErrorLine(core::ToStd(r.status().message()), number), out);
      status = 1;
      continue;
    }
    nlohmann::json spans = nlohmann::json::array();
    for (const privacy::PiiSpan& s : r->spans) {
      spans.push_back({{"type", privacy::PiiTypeName(s.type)},
                       {"value", text.substr(s.start, s.end - s.start)},
                       {"start", s.start},
                       {"end", s.end}});
    }
    Emit(nlohmann::json{{"text", r->text}, {"spans", std::move(spans)}}, out);
  }
  return status;
}

}  // namespace mangaassist::cli
