#include "llm/sse_decoder.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "llm/token_count.h"

namespace mangaassist::llm {
namespace {

std::vector<SseMessage> FeedAll(SseDecoder& decoder, const std::vector<std::string>& pieces) {
  std::vector<SseMessage> out;
  for (const std::string& piece : pieces) EXPECT_TRUE(decoder.Feed(piece, &out).ok());
  return out;
}

TEST(SseDecoderTest, SplitsEventsAtBlankLines) {
  SseDecoder decoder;
  const std::vector<SseMessage> events = FeedAll(
      decoder,
      {"event: message_start\ndata: {\"a\":1}\n\nevent: ping\ndata: {}\n\ndata: [DONE]\n\n"});
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].event, "message_start");
  EXPECT_EQ(events[0].data, "{\"a\":1}");
  EXPECT_EQ(events[1].event, "ping");
  EXPECT_EQ(events[2].event, "");
  EXPECT_EQ(events[2].data, "[DONE]");
  EXPECT_FALSE(decoder.HasPartialEvent());
}

TEST(SseDecoderTest, BytesMaySplitAnywhere) {
  const std::string body =
      "event: a\r\ndata: x1\r\n\r\ndata: y\ndata: z\n\n: comment\n\ndata:no-space\r\r";
  for (size_t cut = 0; cut <= body.size(); ++cut) {
    SseDecoder decoder;
    const std::vector<SseMessage> events =
        FeedAll(decoder, {body.substr(0, cut), body.substr(cut)});
    ASSERT_EQ(events.size(), 3u) << "cut at " << cut;
    EXPECT_EQ(events[0].event, "a");
    EXPECT_EQ(events[0].data, "x1");
    EXPECT_EQ(events[1].data, "y\nz");  // multi-line data is joined with '\n'
    EXPECT_EQ(events[2].data, "no-space");
  }
}

TEST(SseDecoderTest, AnUnfinishedEventIsPending) {
  SseDecoder decoder;
  std::vector<SseMessage> events = FeedAll(decoder, {"data: {\"partial\":"});
  EXPECT_TRUE(events.empty());
  EXPECT_TRUE(decoder.HasPartialEvent());
  events = FeedAll(decoder, {"true}\n"});
  EXPECT_TRUE(events.empty());
  EXPECT_TRUE(decoder.HasPartialEvent());
  events = FeedAll(decoder, {"\n"});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "{\"partial\":true}");
}

TEST(SseDecoderTest, OversizedLineIsDataLossAndSticky) {
  SseDecoder decoder(16);
  std::vector<SseMessage> events;
  EXPECT_TRUE(decoder.Feed("data: short\n\n", &events).ok());
  EXPECT_EQ(decoder.Feed("data: " + std::string(32, 'x'), &events).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(decoder.Feed("\n\n", &events).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(events.size(), 1u);
}

TEST(RoughTokenCountTest, CountsAsciiByFourAndOtherCharactersByOne) {
  EXPECT_EQ(RoughTokenCount(""), 0);
  EXPECT_EQ(RoughTokenCount("a"), 1);
  EXPECT_EQ(RoughTokenCount("abcdefgh"), 2);
  EXPECT_EQ(RoughTokenCount("ワンピース"), 5);
  EXPECT_EQ(RoughTokenCount("vol ワン"), 3);
  LlmRequest request;
  request.system = "abcd";
  request.messages = {{Role::kUser, "abcd"}, {Role::kAssistant, "efgh"}};
  EXPECT_EQ(RoughPromptTokens(request), 1 + (1 + 4) * 2);
  // The system prompt's count is remembered per thread: a changed prompt is counted afresh.
  for (const char* system : {"ワンピース", "abcd", "", "ワンピース", "abcdefghi"}) {
    request.system = system;
    EXPECT_EQ(RoughPromptTokens(request), RoughTokenCount(system) + (1 + 4) * 2) << system;
  }
}

}  // namespace
}  // namespace mangaassist::llm
