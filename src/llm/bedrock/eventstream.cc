#include "llm/bedrock/eventstream.h"

#include <openssl/evp.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "nlohmann/json.hpp"
#include "simdjson.h"

namespace mangaassist::llm::bedrock {
namespace {

using core::ToAbsl;

constexpr size_t kPreludeBytes = 12;
constexpr size_t kCrcBytes = 4;

uint32_t Crc32(std::string_view data) {
  // Frames are capped far below 4 GiB, so one call with a uInt length always suffices.
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size()));
  return static_cast<uint32_t>(crc);
}

uint64_t ReadBigEndian(std::string_view data, size_t pos, size_t width) {
  uint64_t v = 0;
  for (size_t i = 0; i < width; ++i) v = (v << 8) | static_cast<unsigned char>(data[pos + i]);
  return v;
}

void AppendBigEndian(std::string* out, uint64_t v, size_t width) {
  for (size_t i = width; i > 0; --i) out->push_back(static_cast<char>((v >> (8 * (i - 1))) & 0xFF));
}

absl::Status Corrupt(std::string_view what) {
  return absl::DataLossError(absl::StrCat("event stream: ", ToAbsl(what)));
}

[[noreturn]] void EncodeBug(const char* what) {
  std::fprintf(stderr, "EncodeEventMessage: %s\n", what);
  std::abort();
}

// Parses the headers section; `data` is exactly the headers bytes.
absl::Status ParseHeaders(std::string_view data, std::vector<Header>* headers) {
  size_t pos = 0;
  auto need = [&](size_t n) { return data.size() - pos >= n; };
  while (pos < data.size()) {
    size_t name_len = static_cast<unsigned char>(data[pos++]);
    if (name_len == 0) return Corrupt("header with an empty name");
    if (!need(name_len + 1)) return Corrupt("header runs past the headers section");
    Header h;
    h.name.assign(data.substr(pos, name_len));
    pos += name_len;
    // Names are unique within a message (botocore refuses duplicates too); a repeat means the
    // frame was put together wrongly.
    for (const Header& seen : *headers) {
      if (seen.name == h.name) return Corrupt(absl::StrCat("duplicate header '", h.name, "'"));
    }
    auto type = static_cast<unsigned char>(data[pos++]);
    size_t width = 0;
    switch (type) {
      case static_cast<uint8_t>(HeaderType::kBoolTrue):
        h.value = HeaderValue::Bool(true);
        break;
      case static_cast<uint8_t>(HeaderType::kBoolFalse):
        h.value = HeaderValue::Bool(false);
        break;
      case static_cast<uint8_t>(HeaderType::kByte):
        width = 1;
        break;
      case static_cast<uint8_t>(HeaderType::kShort):
        width = 2;
        break;
      case static_cast<uint8_t>(HeaderType::kInt):
        width = 4;
        break;
      case static_cast<uint8_t>(HeaderType::kLong):
      case static_cast<uint8_t>(HeaderType::kTimestamp):
        width = 8;
        break;
      case static_cast<uint8_t>(HeaderType::kByteArray):
      case static_cast<uint8_t>(HeaderType::kString): {
        if (!need(2)) return Corrupt("header value length runs past the headers section");
        size_t len = ReadBigEndian(data, pos, 2);
        pos += 2;
        if (!need(len)) return Corrupt("header value runs past the headers section");
        h.value.type = static_cast<HeaderType>(type);
        h.value.bytes.assign(data.substr(pos, len));
        pos += len;
        break;
      }
      case static_cast<uint8_t>(HeaderType::kUuid):
        if (!need(16)) return Corrupt("UUID header runs past the headers section");
        h.value.type = HeaderType::kUuid;
        h.value.bytes.assign(data.substr(pos, 16));
        pos += 16;
        break;
      default:
        return Corrupt(absl::StrCat("unknown header value type ", type));
    }
    if (width > 0) {
      if (!need(width)) return Corrupt("header value runs past the headers section");
      uint64_t raw = ReadBigEndian(data, pos, width);
      pos += width;
      // Sign-extend from `width` bytes.
      int64_t v = width == 8 ? static_cast<int64_t>(raw)
                             : static_cast<int64_t>(raw << (64 - 8 * width)) >> (64 - 8 * width);
      h.value.type = static_cast<HeaderType>(type);
      h.value.integer = v;
    }
    headers->push_back(std::move(h));
  }
  return absl::OkStatus();
}

void AppendHeader(std::string* out, const Header& h) {
  if (h.name.empty() || h.name.size() > 255) EncodeBug("header name must be 1..255 bytes");
  out->push_back(static_cast<char>(h.name.size()));
  out->append(h.name);
  out->push_back(static_cast<char>(h.value.type));
  const HeaderValue& v = h.value;
  switch (v.type) {
    case HeaderType::kBoolTrue:
    case HeaderType::kBoolFalse:
      break;
    case HeaderType::kByte:
      AppendBigEndian(out, static_cast<uint64_t>(v.integer), 1);
      break;
    case HeaderType::kShort:
      AppendBigEndian(out, static_cast<uint64_t>(v.integer), 2);
      break;
    case HeaderType::kInt:
      AppendBigEndian(out, static_cast<uint64_t>(v.integer), 4);
      break;
    case HeaderType::kLong:
    case HeaderType::kTimestamp:
      AppendBigEndian(out, static_cast<uint64_t>(v.integer), 8);
      break;
    case HeaderType::kByteArray:
    case HeaderType::kString:
      if (v.bytes.size() > 0xFFFF) EncodeBug("string / byte-array header longer than 65535 bytes");
      AppendBigEndian(out, v.bytes.size(), 2);
      out->append(v.bytes);
      break;
    case HeaderType::kUuid:
      if (v.bytes.size() != 16) EncodeBug("UUID header value must be 16 bytes");
      out->append(v.bytes);
      break;
    default:
      EncodeBug("unknown header type");
  }
}

std::string Base64Encode(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

absl::StatusOr<std::string> Base64Decode(std::string_view in) {
  // EVP_DecodeBlock tolerates surrounding whitespace and reports padding as zero bytes, so the
  // input is held to canonical padded base64 first and the padding subtracted afterwards.
  if (in.size() % 4 != 0) return Corrupt("chunk base64 length is not a multiple of 4");
  size_t padding = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (alnum || c == '+' || c == '/') {
      if (padding > 0) return Corrupt("chunk base64 has data after '=' padding");
      continue;
    }
    if (c == '=' && i + 2 >= in.size()) {
      ++padding;
      continue;
    }
    return Corrupt("chunk base64 contains an invalid character");
  }
  if (in.empty()) return std::string();
  if (in.size() > static_cast<size_t>(INT32_MAX)) return Corrupt("chunk base64 is too large");
  std::string out(in.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0 || static_cast<size_t>(n) != out.size()) return Corrupt("chunk base64 is malformed");
  out.resize(out.size() - padding);
  return out;
}

simdjson::dom::parser& ThreadParser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

absl::StatusCode CodeForException(std::string_view type) {
  std::string t = absl::AsciiStrToLower(ToAbsl(type));
  if (t == "throttlingexception") return absl::StatusCode::kResourceExhausted;
  if (t == "validationexception") return absl::StatusCode::kInvalidArgument;
  if (t == "accessdeniedexception") return absl::StatusCode::kPermissionDenied;
  if (t == "resourcenotfoundexception") return absl::StatusCode::kNotFound;
  if (t == "modeltimeoutexception") return absl::StatusCode::kDeadlineExceeded;
  if (t == "serviceunavailableexception" || t == "modelnotreadyexception" ||
      t == "internalserverexception" || t == "modelstreamerrorexception") {
    return absl::StatusCode::kUnavailable;
  }
  return absl::StatusCode::kUnknown;
}

}  // namespace

HeaderValue HeaderValue::Bool(bool v) {
  return {v ? HeaderType::kBoolTrue : HeaderType::kBoolFalse, v ? 1 : 0, {}};
}
HeaderValue HeaderValue::Byte(int8_t v) { return {HeaderType::kByte, v, {}}; }
HeaderValue HeaderValue::Short(int16_t v) { return {HeaderType::kShort, v, {}}; }
HeaderValue HeaderValue::Int(int32_t v) { return {HeaderType::kInt, v, {}}; }
HeaderValue HeaderValue::Long(int64_t v) { return {HeaderType::kLong, v, {}}; }
HeaderValue HeaderValue::ByteArray(std::string_view v) {
  return {HeaderType::kByteArray, 0, std::string(v)};
}
HeaderValue HeaderValue::String(std::string_view v) {
  return {HeaderType::kString, 0, std::string(v)};
}
HeaderValue HeaderValue::Timestamp(absl::Time t) {
  return {HeaderType::kTimestamp, absl::ToUnixMillis(t), {}};
}
HeaderValue HeaderValue::Uuid(const std::array<uint8_t, 16>& v) {
  return {HeaderType::kUuid, 0, std::string(reinterpret_cast<const char*>(v.data()), v.size())};
}

const Header* EventMessage::FindHeader(std::string_view name) const {
  for (const Header& h : headers) {
    if (h.name == name) return &h;
  }
  return nullptr;
}

std::string EventMessage::HeaderString(std::string_view name) const {
  const Header* h = FindHeader(name);
  if (h == nullptr || h->value.type != HeaderType::kString) return "";
  return h->value.bytes;
}

bool EventMessage::IsException() const {
  std::string type = MessageType();
  return type == "exception" || type == "error";
}

absl::StatusOr<EventMessage> DecodeEventMessage(std::string_view frame) {
  if (frame.size() < kEventMessageOverheadBytes) return Corrupt("message shorter than 16 bytes");
  const size_t total = ReadBigEndian(frame, 0, 4);
  const size_t headers_len = ReadBigEndian(frame, 4, 4);
  const uint32_t prelude_crc = static_cast<uint32_t>(ReadBigEndian(frame, 8, 4));
  if (Crc32(frame.substr(0, 8)) != prelude_crc) return Corrupt("prelude CRC mismatch");
  if (total != frame.size()) return Corrupt("message length does not match its frame");
  if (headers_len > total - kEventMessageOverheadBytes) {
    return Corrupt("headers length exceeds the message length");
  }
  const uint32_t message_crc = static_cast<uint32_t>(ReadBigEndian(frame, total - kCrcBytes, 4));
  if (Crc32(frame.substr(0, total - kCrcBytes)) != message_crc) {
    return Corrupt("message CRC mismatch");
  }
  EventMessage msg;
  absl::Status s = ParseHeaders(frame.substr(kPreludeBytes, headers_len), &msg.headers);
  if (!s.ok()) return s;
  const size_t payload_start = kPreludeBytes + headers_len;
  msg.payload.assign(frame.substr(payload_start, total - kCrcBytes - payload_start));
  return msg;
}

absl::Status EventStreamDecoder::Feed(std::string_view bytes) {
  if (!error_.ok()) return error_;
  // Drop the decoded prefix once it is at least half the buffer: amortised O(1) per byte.
  if (consumed_ > 0 && consumed_ * 2 >= buffer_.size()) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  buffer_.append(bytes);
  error_ = DecodeAvailable();
  return error_;
}

absl::Status EventStreamDecoder::DecodeAvailable() {
  while (buffer_.size() - consumed_ >= kPreludeBytes) {
    std::string_view rest(buffer_.data() + consumed_, buffer_.size() - consumed_);
    const size_t total = ReadBigEndian(rest, 0, 4);
    const size_t headers_len = ReadBigEndian(rest, 4, 4);
    // Check the prelude before trusting its lengths, so a corrupt length is reported as such
    // instead of making the decoder wait for bytes that never come.
    if (Crc32(rest.substr(0, 8)) != static_cast<uint32_t>(ReadBigEndian(rest, 8, 4))) {
      return Corrupt("prelude CRC mismatch");
    }
    if (total < kEventMessageOverheadBytes || total > max_message_bytes_) {
      return Corrupt(
          absl::StrCat("message length ", total, " outside [16, ", max_message_bytes_, "]"));
    }
    if (headers_len > total - kEventMessageOverheadBytes) {
      return Corrupt("headers length exceeds the message length");
    }
    if (rest.size() < total) return absl::OkStatus();
    absl::StatusOr<EventMessage> msg = DecodeEventMessage(rest.substr(0, total));
    if (!msg.ok()) return msg.status();
    ready_.push_back(std::move(*msg));
    consumed_ += total;
  }
  return absl::OkStatus();
}

std::optional<EventMessage> EventStreamDecoder::Next() {
  if (ready_.empty()) return std::nullopt;
  EventMessage msg = std::move(ready_.front());
  ready_.pop_front();
  return msg;
}

absl::Status EventStreamDecoder::Finish() {
  if (!error_.ok()) return error_;
  if (buffered_bytes() > 0) {
    error_ = Corrupt(
        absl::StrCat("stream ended inside a message (", buffered_bytes(), " bytes left over)"));
  }
  return error_;
}

std::string EncodeEventMessage(const std::vector<Header>& headers, std::string_view payload) {
  std::string header_bytes;
  for (const Header& h : headers) AppendHeader(&header_bytes, h);
  const size_t total = kEventMessageOverheadBytes + header_bytes.size() + payload.size();
  if (total > kMaxEventMessageBytes) EncodeBug("message larger than 16 MiB");
  std::string out;
  out.reserve(total);
  AppendBigEndian(&out, total, 4);
  AppendBigEndian(&out, header_bytes.size(), 4);
  AppendBigEndian(&out, Crc32(out), 4);
  out.append(header_bytes);
  out.append(payload);
  AppendBigEndian(&out, Crc32(out), 4);
  return out;
}

absl::StatusOr<std::string> DecodeChunkPayload(std::string_view payload) {
  simdjson::dom::element root;
  if (ThreadParser().parse(payload.data(), payload.size()).get(root) != simdjson::SUCCESS) {
    return Corrupt("chunk payload is not JSON");
  }
  std::string_view b64;
  if (root["bytes"].get(b64) != simdjson::SUCCESS) {
    return Corrupt("chunk payload has no string field \"bytes\"");
  }
  return Base64Decode(b64);
}

std::string EncodeChunkPayload(std::string_view inner) {
  // Base64 needs no JSON escaping.
  return absl::StrCat("{\"bytes\":\"", Base64Encode(inner), "\"}");
}

std::string EncodeChunkEvent(std::string_view inner) {
  return EncodeEventMessage({{":event-type", HeaderValue::String("chunk")},
                             {":content-type", HeaderValue::String("application/json")},
                             {":message-type", HeaderValue::String("event")}},
                            EncodeChunkPayload(inner));
}

std::string EncodeExceptionEvent(std::string_view exception_type, std::string_view message) {
  nlohmann::json body = {{"message", std::string(message)}};
  return EncodeEventMessage({{":exception-type", HeaderValue::String(exception_type)},
                             {":content-type", HeaderValue::String("application/json")},
                             {":message-type", HeaderValue::String("exception")}},
                            body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

absl::Status StreamExceptionStatus(const EventMessage& message) {
  std::string kind = message.MessageType();
  std::string type;
  std::string text;
  if (kind == "exception") {
    type = message.ExceptionType();
    simdjson::dom::element root;
    std::string_view m;
    if (ThreadParser().parse(message.payload.data(), message.payload.size()).get(root) ==
            simdjson::SUCCESS &&
        (root["message"].get(m) == simdjson::SUCCESS ||
         root["Message"].get(m) == simdjson::SUCCESS)) {
      text.assign(m);
    } else {
      text = message.payload.substr(0, 512);
    }
  } else if (kind == "error") {
    type = message.HeaderString(":error-code");
    text = message.HeaderString(":error-message");
  } else {
    return absl::OkStatus();
  }
  if (type.empty()) type = "unknown";
  return absl::Status(CodeForException(type), absl::StrCat("Bedrock stream ", kind, " ", type,
                                                           text.empty() ? "" : ": ", text));
}

}  // namespace mangaassist::llm::bedrock
