#include "tests/support/http_test_client.h"

#include <chrono>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/fake_upstream.h"

namespace mangaassist::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::FieldsAre;

TEST(ParseSseTest, SplitsEventsOnBlankLines) {
  EXPECT_THAT(ParseSse("event: a\ndata: {\"x\":1}\n\ndata: [DONE]\n\n"),
              ElementsAre(FieldsAre("a", "{\"x\":1}"), FieldsAre("", "[DONE]")));
}

TEST(ParseSseTest, HandlesCrlfCommentsAndMultiLineData) {
  EXPECT_THAT(ParseSse(": keep-alive\r\n\r\nevent:e\r\ndata: one\r\ndata:two\r\nid: 7\r\n\r\n"),
              ElementsAre(FieldsAre("e", "one\ntwo")));
}

TEST(ParseSseTest, DropsAnUnterminatedTrailingEvent) {
  EXPECT_THAT(ParseSse("data: whole\n\ndata: cut"), ElementsAre(FieldsAre("", "whole")));
  EXPECT_THAT(ParseSse("data: almost\n"), ElementsAre());
}

TEST(HttpTestClientTest, ConnectionRefusedIsUnavailable) {
  uint16_t port = 0;
  {
    std::unique_ptr<FakeUpstream> upstream = FakeUpstream::Start();
    ASSERT_NE(upstream, nullptr);
    port = upstream->port();
  }
  HttpTestClient client(port);
  EXPECT_EQ(client.Get("/healthz").status().code(), absl::StatusCode::kUnavailable);
}

TEST(HttpTestClientTest, ReconnectsAfterTheServerClosedTheConnection) {
  std::unique_ptr<FakeUpstream> upstream = FakeUpstream::Start();
  ASSERT_NE(upstream, nullptr);
  HttpTestClient client(upstream->port());
  Behavior cut;
  cut.failure = Behavior::Failure::kTruncatedStream;
  upstream->SetBehavior(cut);
  absl::StatusOr<HttpResponse> response =
      client.Post("/v1/chat/completions", R"({"model":"m","messages":[]})");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_FALSE(response->complete);
  EXPECT_FALSE(client.connected());

  upstream->SetBehavior(Behavior{});
  response = client.Post("/v1/chat/completions", R"({"model":"m","messages":[]})");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_TRUE(response->complete);
  EXPECT_EQ(upstream->ConnectionsAccepted(), 2);
}

TEST(HttpTestClientTest, AStartedStreamIsAbandonedByTheNextRequest) {
  std::unique_ptr<FakeUpstream> upstream = FakeUpstream::Start();
  ASSERT_NE(upstream, nullptr);
  HttpTestClient client(upstream->port());
  ASSERT_TRUE(
      client.StartStream("/v1/chat/completions", R"({"model":"m","messages":[],"stream":true})")
          .ok());
  absl::StatusOr<HttpResponse> health = client.Get("/healthz");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(client.ReadStreamChunk().status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace mangaassist::testing
