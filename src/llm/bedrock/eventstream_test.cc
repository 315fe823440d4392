#include "llm/bedrock/eventstream.h"

#include <zlib.h>

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace mangaassist::llm::bedrock {
namespace {

std::string FromHex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// Known-answer frames from botocore's event-stream unit tests (tests/unit/test_eventstream.py).
const std::string kEmptyMessage = FromHex("000000100000000005c248eb7d98c8ff");
const std::string kAllHeaderTypes = FromHex(
    "000000620000005203b5cb9c013000013101013202020133030003013404000000040135050000000000000005"
    "01360600056279746573013707000475746638013808000000000000000801390930313233343536373839616263"
    "646566"
    "63353671");
const std::string kErrorMessage = FromHex(
    "0000005200000042bf23637e0d3a6d6573736167652d747970650700056572726f720b3a6572726f722d636f6465"
    "070004636f64650e3a6572726f722d6d6573736167650700076d6573736167656b6cea3d");
const std::string kOneStringHeader = FromHex(
    "0000003d0000002007fd83960c636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e7b27"
    "666f6f273a27626172277d8d9c08b1");

std::vector<Header> AllHeaderTypesHeaders() {
  std::array<uint8_t, 16> uuid{};
  std::string digits = "0123456789abcdef";
  for (size_t i = 0; i < 16; ++i) uuid[i] = static_cast<uint8_t>(digits[i]);
  return {{"0", HeaderValue::Bool(true)},
          {"1", HeaderValue::Bool(false)},
          {"2", HeaderValue::Byte(2)},
          {"3", HeaderValue::Short(3)},
          {"4", HeaderValue::Int(4)},
          {"5", HeaderValue::Long(5)},
          {"6", HeaderValue::ByteArray("bytes")},
          {"7", HeaderValue::String("utf8")},
          {"8", HeaderValue::Timestamp(absl::FromUnixMillis(8))},
          {"9", HeaderValue::Uuid(uuid)}};
}

std::vector<EventMessage> DecodeAll(std::string_view bytes) {
  EventStreamDecoder d;
  EXPECT_TRUE(d.Feed(bytes).ok());
  EXPECT_TRUE(d.Finish().ok());
  std::vector<EventMessage> out;
  while (auto m = d.Next()) out.push_back(std::move(*m));
  return out;
}

TEST(EventStreamTest, EncoderMatchesPublishedFrames) {
  EXPECT_EQ(EncodeEventMessage({}, ""), kEmptyMessage);
  EXPECT_EQ(EncodeEventMessage(AllHeaderTypesHeaders(), ""), kAllHeaderTypes);
  EXPECT_EQ(EncodeEventMessage({{":message-type", HeaderValue::String("error")},
                                {":error-code", HeaderValue::String("code")},
                                {":error-message", HeaderValue::String("message")}},
                               ""),
            kErrorMessage);
  EXPECT_EQ(EncodeEventMessage({{"content-type", HeaderValue::String("application/json")}},
                               "{'foo':'bar'}"),
            kOneStringHeader);
}

TEST(EventStreamTest, DecoderReadsPublishedFrames) {
  std::vector<EventMessage> msgs =
      DecodeAll(kEmptyMessage + kAllHeaderTypes + kErrorMessage + kOneStringHeader);
  ASSERT_EQ(msgs.size(), 4u);
  EXPECT_TRUE(msgs[0].headers.empty());
  EXPECT_EQ(msgs[0].payload, "");
  EXPECT_EQ(msgs[1].headers, AllHeaderTypesHeaders());
  EXPECT_EQ(msgs[2].MessageType(), "error");
  EXPECT_TRUE(msgs[2].IsException());
  absl::Status s = StreamExceptionStatus(msgs[2]);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnknown);
  EXPECT_NE(s.message().find("code: message"), absl::string_view::npos) << s;
  EXPECT_EQ(msgs[3].HeaderString("content-type"), "application/json");
  EXPECT_EQ(msgs[3].payload, "{'foo':'bar'}");
}

TEST(EventStreamTest, EveryHeaderTypeRoundTripsIncludingExtremes) {
  std::array<uint8_t, 16> uuid;
  for (size_t i = 0; i < 16; ++i) uuid[i] = static_cast<uint8_t>(0xF0 + i);
  std::vector<Header> headers = {
      {"t", HeaderValue::Bool(true)},
      {"f", HeaderValue::Bool(false)},
      {"byte-min", HeaderValue::Byte(std::numeric_limits<int8_t>::min())},
      {"byte-max", HeaderValue::Byte(std::numeric_limits<int8_t>::max())},
      {"short-min", HeaderValue::Short(std::numeric_limits<int16_t>::min())},
      {"short-neg", HeaderValue::Short(-2)},
      {"int-min", HeaderValue::Int(std::numeric_limits<int32_t>::min())},
      {"int-max", HeaderValue::Int(std::numeric_limits<int32_t>::max())},
      {"long-min", HeaderValue::Long(std::numeric_limits<int64_t>::min())},
      {"long-max", HeaderValue::Long(std::numeric_limits<int64_t>::max())},
      {"bytes", HeaderValue::ByteArray(std::string("\x00\xff\x01", 3))},
      {"empty-bytes", HeaderValue::ByteArray("")},
      {"string", HeaderValue::String("日本語のテキスト")},
      {"long-string", HeaderValue::String(std::string(65535, 'x'))},
      {"time", HeaderValue::Timestamp(absl::FromUnixMillis(1730797623123))},
      {"before-epoch", HeaderValue::Timestamp(absl::FromUnixMillis(-1))},
      {"uuid", HeaderValue::Uuid(uuid)},
      {std::string(255, 'n'), HeaderValue::Int(7)},
  };
  const std::string payload("binary\0payload", 14);
  std::string frame = EncodeEventMessage(headers, payload);
  absl::StatusOr<EventMessage> m = DecodeEventMessage(frame);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->headers, headers);
  EXPECT_EQ(m->payload, payload);
  EXPECT_EQ(m->FindHeader("time")->value.AsTime(), absl::FromUnixMillis(1730797623123));
  EXPECT_TRUE(m->FindHeader("t")->value.AsBool());
  EXPECT_FALSE(m->FindHeader("f")->value.AsBool());
  EXPECT_EQ(m->HeaderString("string"), "日本語のテキスト");
  EXPECT_EQ(m->HeaderString("bytes"), "");  // not a string header
  EXPECT_EQ(m->HeaderString("missing"), "");
}

TEST(EventStreamTest, BytesSplitAnywhereDecodeTheSame) {
  const std::string stream = EncodeChunkEvent(R"({"type":"message_start"})") + kAllHeaderTypes +
                             EncodeEventMessage({}, std::string(300, 'p')) + kEmptyMessage;
  const std::vector<EventMessage> whole = DecodeAll(stream);
  ASSERT_EQ(whole.size(), 4u);

  // Every two-piece split.
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    SCOPED_TRACE(cut);
    EventStreamDecoder d;
    ASSERT_TRUE(d.Feed(std::string_view(stream).substr(0, cut)).ok());
    ASSERT_TRUE(d.Feed(std::string_view(stream).substr(cut)).ok());
    ASSERT_TRUE(d.Finish().ok());
    for (const EventMessage& expected : whole) {
      std::optional<EventMessage> m = d.Next();
      ASSERT_TRUE(m.has_value());
      EXPECT_EQ(m->headers, expected.headers);
      EXPECT_EQ(m->payload, expected.payload);
    }
    EXPECT_FALSE(d.Next().has_value());
  }

  // One byte at a time, draining as messages complete.
  EventStreamDecoder d;
  size_t got = 0;
  for (char c : stream) {
    ASSERT_TRUE(d.Feed(std::string_view(&c, 1)).ok());
    while (auto m = d.Next()) {
      ASSERT_LT(got, whole.size());
      EXPECT_EQ(m->payload, whole[got].payload);
      ++got;
    }
  }
  EXPECT_EQ(got, whole.size());
  EXPECT_EQ(d.buffered_bytes(), 0u);
  EXPECT_TRUE(d.Finish().ok());
}

TEST(EventStreamTest, CorruptionIsDataLossAndSticky) {
  const std::string good = EncodeChunkEvent(R"({"type":"ping"})");
  // Flip one bit in each byte position in turn: every position is covered by a CRC.
  for (size_t i = 0; i < good.size(); ++i) {
    SCOPED_TRACE(i);
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    EventStreamDecoder d;
    absl::Status s = d.Feed(bad);
    if (s.ok()) s = d.Finish();  // a corrupted length may just look like an incomplete frame
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
    EXPECT_FALSE(d.Next().has_value());
    EXPECT_EQ(d.Feed(good).code(), absl::StatusCode::kDataLoss);  // sticky
  }
}

TEST(EventStreamTest, PublishedNegativeFramesAreDataLoss) {
  const char* kBad[] = {
      // CORRUPTED_LENGTH, CORRUPTED_PAYLOAD, CORRUPTED_HEADERS, CORRUPTED_HEADER_LENGTH,
      // DUPLICATE_HEADER from botocore's tests.
      "0100001d00000000fd528c5a7b27666f6f273a27626172277dc3653936",
      "0000001d00000000fd528c5a7b27666f6f273a27626172278dc3653936",
      "0000003d0000002007fd83960c636f6e74656e742b747970650700106170706c69636174696f6e2f6a736f6e"
      "7b27666f6f273a27626172277d8d9c08b1",
      "0000003dff00010207fd83960c636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e"
      "7b27666f6f273a27626172277d8d9c08b1",
      "00000024000000144bb982d00474657374046173646604746573740461736466f3f47563",
  };
  for (const char* hex : kBad) {
    SCOPED_TRACE(hex);
    EventStreamDecoder d;
    absl::Status s = d.Feed(FromHex(hex));
    if (s.ok()) s = d.Finish();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
    EXPECT_EQ(DecodeEventMessage(FromHex(hex)).status().code(), absl::StatusCode::kDataLoss);
  }
}

// A 12-byte prelude declaring `total` / `headers_len`, with a valid prelude CRC (zlib's), so that
// the length checks themselves are what fire.
std::string Prelude(uint32_t total, uint32_t headers_len) {
  std::string p;
  for (uint32_t v : {total, headers_len}) {
    for (int shift = 24; shift >= 0; shift -= 8)
      p.push_back(static_cast<char>((v >> shift) & 0xFF));
  }
  uint32_t crc = static_cast<uint32_t>(
      crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(p.data()), 8));
  for (int shift = 24; shift >= 0; shift -= 8)
    p.push_back(static_cast<char>((crc >> shift) & 0xFF));
  return p;
}

TEST(EventStreamTest, AbsurdLengthsAreRefusedFromThePrelude) {
  const uint32_t kMax = static_cast<uint32_t>(kMaxEventMessageBytes);
  for (auto [total, headers_len] : std::vector<std::pair<uint32_t, uint32_t>>{
           {0xFFFFFFFFu, 0}, {kMax + 1, 0}, {15, 0}, {0, 0}, {100, 85}, {16, 0xFFFFFFFFu}}) {
    SCOPED_TRACE(total);
    EventStreamDecoder d;
    absl::Status s = d.Feed(Prelude(total, headers_len));
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  }
  // Exactly 16 MiB is allowed: the decoder waits for the rest.
  EventStreamDecoder d;
  EXPECT_TRUE(d.Feed(Prelude(kMax, 0)).ok());
  EXPECT_EQ(d.buffered_bytes(), 12u);
  EXPECT_EQ(d.Finish().code(), absl::StatusCode::kDataLoss);
  // A smaller cap applies to real frames too.
  EventStreamDecoder small(/*max_message_bytes=*/64);
  EXPECT_EQ(small.Feed(EncodeEventMessage({}, std::string(100, 'x'))).code(),
            absl::StatusCode::kDataLoss);
}

TEST(EventStreamTest, TruncatedStreamIsDataLossAtFinish) {
  const std::string frame = EncodeChunkEvent(R"({"type":"message_stop"})");
  for (size_t keep : {size_t{1}, size_t{11}, size_t{12}, frame.size() - 1}) {
    SCOPED_TRACE(keep);
    EventStreamDecoder d;
    ASSERT_TRUE(d.Feed(std::string_view(frame).substr(0, keep)).ok());
    EXPECT_FALSE(d.Next().has_value());
    EXPECT_EQ(d.Finish().code(), absl::StatusCode::kDataLoss);
  }
  EventStreamDecoder empty;
  EXPECT_TRUE(empty.Finish().ok());
}

TEST(EventStreamTest, BedrockChunkCarriesBase64AnthropicEvent) {
  // As Bedrock sends it: the Anthropic event base64-encoded, plus a "p" padding field.
  const std::string inner =
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"こんにちは"}})";
  const std::string payload =
      R"({"bytes":"eyJ0eXBlIjoiY29udGVudF9ibG9ja19kZWx0YSIsImluZGV4IjowLCJkZWx0YSI6eyJ0eXBlIjoidGV4dF9kZWx0YSIsInRleHQiOiLjgZPjgpPjgavjgaHjga8ifX0=",)"
      R"("p":"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123"})";
  const std::string frame =
      EncodeEventMessage({{":event-type", HeaderValue::String("chunk")},
                          {":content-type", HeaderValue::String("application/json")},
                          {":message-type", HeaderValue::String("event")}},
                         payload);
  std::vector<EventMessage> msgs = DecodeAll(frame);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].EventType(), "chunk");
  EXPECT_FALSE(msgs[0].IsException());
  EXPECT_TRUE(StreamExceptionStatus(msgs[0]).ok());
  absl::StatusOr<std::string> decoded = DecodeChunkPayload(msgs[0].payload);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, inner);

  // EncodeChunkEvent produces the same framing.
  msgs = DecodeAll(EncodeChunkEvent(inner));
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(*DecodeChunkPayload(msgs[0].payload), inner);
  EXPECT_EQ(msgs[0].headers, DecodeAll(frame)[0].headers);
}

TEST(EventStreamTest, ChunkPayloadRoundTripsEveryLengthAndEscapedSlash) {
  for (size_t n = 0; n < 8; ++n) {
    std::string inner(n, '\xff');
    EXPECT_EQ(*DecodeChunkPayload(EncodeChunkPayload(inner)), inner) << n;
  }
  // JSON may escape '/' as "\/".
  EXPECT_EQ(*DecodeChunkPayload(R"({"bytes":"\/\/8="})"), "\xff\xff");
}

TEST(EventStreamTest, MalformedChunkPayloadIsDataLoss) {
  for (const char* bad : {"", "not json", "[]", R"({"byte":"QQ=="})", R"({"bytes":5})",
                          R"({"bytes":"QQ"})", R"({"bytes":"Q=Q="})", R"({"bytes":"QQ$="})",
                          R"({"bytes":" QQ=="})", R"({"bytes":"QQ==QQ=="})"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(DecodeChunkPayload(bad).status().code(), absl::StatusCode::kDataLoss);
  }
}

TEST(EventStreamTest, ServiceExceptionsMapToStatuses) {
  std::vector<EventMessage> msgs =
      DecodeAll(EncodeExceptionEvent("throttlingException", "Too many tokens, please wait.") +
                EncodeExceptionEvent("validationException", "max_tokens: bad") +
                EncodeExceptionEvent("modelStreamErrorException", "stream broke") +
                EncodeExceptionEvent("somethingNewException", "?"));
  ASSERT_EQ(msgs.size(), 4u);
  EXPECT_TRUE(msgs[0].IsException());
  EXPECT_EQ(msgs[0].ExceptionType(), "throttlingException");
  absl::Status s = StreamExceptionStatus(msgs[0]);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("Too many tokens, please wait."), absl::string_view::npos) << s;
  EXPECT_EQ(StreamExceptionStatus(msgs[1]).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(StreamExceptionStatus(msgs[2]).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StreamExceptionStatus(msgs[3]).code(), absl::StatusCode::kUnknown);
}

}  // namespace
}  // namespace mangaassist::llm::bedrock
