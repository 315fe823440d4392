// The `application/vnd.amazon.eventstream` binary framing of Bedrock's streaming responses
// (InvokeModelWithResponseStream, ConverseStream): an incremental decoder with CRC32 checks
// (zlib), an encoder for tests and the fake upstream, and Bedrock's chunk / exception payloads.
// EventStreamDecoder is a value owned by one stream and not thread-safe; the free functions are.
//
// Frame layout (all integers big-endian):
//   total_length:u32 headers_length:u32 prelude_crc:u32 headers payload message_crc:u32
// prelude_crc covers the first 8 bytes, message_crc everything before it.
// A header is name_length:u8 name type:u8 value, where the value depends on the type (below).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace mangaassist::llm::bedrock {

// The wire value of each header type.
enum class HeaderType : uint8_t {
  kBoolTrue = 0,   // no value bytes
  kBoolFalse = 1,  // no value bytes
  kByte = 2,       // int8
  kShort = 3,      // int16
  kInt = 4,        // int32
  kLong = 5,       // int64
  kByteArray = 6,  // u16 length + bytes
  kString = 7,     // u16 length + UTF-8 bytes
  kTimestamp = 8,  // int64 milliseconds since the Unix epoch
  kUuid = 9,       // 16 bytes
};

// A typed header value. Integral types (and bools, and timestamps in milliseconds) live in
// `integer`; byte arrays, strings and the 16 raw bytes of a UUID in `bytes`.
struct HeaderValue {
  HeaderType type = HeaderType::kString;
  int64_t integer = 0;
  std::string bytes;

  static HeaderValue Bool(bool v);
  static HeaderValue Byte(int8_t v);
  static HeaderValue Short(int16_t v);
  static HeaderValue Int(int32_t v);
  static HeaderValue Long(int64_t v);
  static HeaderValue ByteArray(std::string_view v);
  static HeaderValue String(std::string_view v);
  static HeaderValue Timestamp(absl::Time t);  // truncated to milliseconds
  static HeaderValue Uuid(const std::array<uint8_t, 16>& v);

  bool AsBool() const { return type == HeaderType::kBoolTrue; }
  absl::Time AsTime() const { return absl::FromUnixMillis(integer); }

  bool operator==(const HeaderValue&) const = default;
};

struct Header {
  std::string name;
  HeaderValue value;

  bool operator==(const Header&) const = default;
};

struct EventMessage {
  std::vector<Header> headers;
  std::string payload;

  // The first header called `name`, or nullptr.
  const Header* FindHeader(std::string_view name) const;
  // The value of string header `name`; "" when absent or not a string.
  std::string HeaderString(std::string_view name) const;

  // ":message-type": "event", "exception" or "error".
  std::string MessageType() const { return HeaderString(":message-type"); }
  // ":event-type" of an event ("chunk" for InvokeModelWithResponseStream).
  std::string EventType() const { return HeaderString(":event-type"); }
  // ":exception-type" of an exception ("throttlingException", "validationException", ...).
  std::string ExceptionType() const { return HeaderString(":exception-type"); }
  bool IsException() const;  // message type "exception" or "error"
};

// Frames larger than this are refused: AWS caps event-stream messages at 16 MiB.
inline constexpr size_t kMaxEventMessageBytes = 16 * 1024 * 1024;
// Smallest frame: prelude (12 bytes) + message CRC (4 bytes).
inline constexpr size_t kEventMessageOverheadBytes = 16;

// Splits a byte stream into messages. Bytes may arrive split anywhere. Complete messages are
// decoded and verified as soon as Feed() receives their last byte and queue until Next().
// Any framing error (CRC mismatch, impossible or oversized length, malformed header) is
// DataLoss and is sticky: later Feed() / Finish() calls return the same error.
class EventStreamDecoder {
 public:
  explicit EventStreamDecoder(size_t max_message_bytes = kMaxEventMessageBytes)
      : max_message_bytes_(max_message_bytes) {}

  [[nodiscard]] absl::Status Feed(std::string_view bytes);
  // The next decoded message, in stream order.
  std::optional<EventMessage> Next();
  // Call at the end of the stream: DataLoss when a partial message is left over.
  [[nodiscard]] absl::Status Finish();

  // Bytes received but not yet part of a complete message.
  size_t buffered_bytes() const { return buffer_.size() - consumed_; }

 private:
  absl::Status DecodeAvailable();

  size_t max_message_bytes_;
  std::string buffer_;
  size_t consumed_ = 0;  // Prefix of buffer_ already decoded.
  std::deque<EventMessage> ready_;
  absl::Status error_;
};

// Decodes exactly one frame that spans all of `frame`. DataLoss on any mismatch, an unknown
// header type or a repeated header name.
absl::StatusOr<EventMessage> DecodeEventMessage(std::string_view frame);

// Encodes one frame.
// REQUIRES: header names are 1..255 bytes, byte-array / string values at most 65535 bytes, UUID
// values exactly 16 bytes, and the frame fits in kMaxEventMessageBytes. A violation is a bug in
// the caller (tests, the fake upstream) and aborts.
std::string EncodeEventMessage(const std::vector<Header>& headers, std::string_view payload);

// --- Bedrock InvokeModelWithResponseStream payloads. ---

// A `chunk` event's payload is `{"bytes":"<base64>"[,"p":"..."]}`; returns the decoded inner
// bytes (for Claude: one Anthropic streaming event as JSON). DataLoss when the payload is not
// such an object or the base64 is malformed.
absl::StatusOr<std::string> DecodeChunkPayload(std::string_view payload);

// The inverse of DecodeChunkPayload: `{"bytes":"<base64 of inner>"}`.
std::string EncodeChunkPayload(std::string_view inner);

// A whole `chunk` event frame, as Bedrock sends it (:event-type chunk, :content-type
// application/json, :message-type event) carrying `inner`. For the fake upstream and tests.
std::string EncodeChunkEvent(std::string_view inner);

// An exception frame (:exception-type, :content-type application/json, :message-type
// exception) with payload {"message": message}. For the fake upstream and tests.
std::string EncodeExceptionEvent(std::string_view exception_type, std::string_view message);

// The status an exception or error message stands for (OK for ordinary events):
// throttlingException → ResourceExhausted, validationException → InvalidArgument,
// accessDeniedException → PermissionDenied, resourceNotFoundException → NotFound,
// modelTimeoutException → DeadlineExceeded, serviceUnavailableException /
// modelNotReadyException / internalServerException / modelStreamErrorException → Unavailable,
// anything else → Unknown. The message carries the exception type and the payload's "message".
absl::Status StreamExceptionStatus(const EventMessage& message);

}  // namespace mangaassist::llm::bedrock
