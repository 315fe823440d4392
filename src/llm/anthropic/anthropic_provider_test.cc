#include "llm/anthropic/anthropic_provider.h"

// clang-format off
#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).
// clang-format on

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/retry.h"
#include "http/upstream_client.h"
#include "llm/anthropic/anthropic_events.h"
#include "llm/provider_test_support.h"
#include "nlohmann/json.hpp"

namespace mangaassist::llm {
namespace {

using ::mangaassist::testing::Behavior;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Json = nlohmann::json;

LlmRequest FullRequest() {
  LlmRequest request = test_support::ProviderFixture::Request("claude-3-5-haiku-20241022");
  request.system = "You are MangaAssist.";
  request.cache_system = true;
  request.messages = {
      {Role::kUser, "Is vol 107 out?"}, {Role::kAssistant, "Yes."}, {Role::kUser, "When?"}};
  request.max_tokens = 300;
  request.temperature = 0.7f;
  request.top_p = 0.9f;
  request.stop = {"\n\nHuman:"};
  return request;
}

class AnthropicProviderTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(f_.ready()); }
  test_support::ProviderFixture f_;
};

TEST_F(AnthropicProviderTest, SendsAMessagesApiRequest) {
  std::unique_ptr<Provider> provider = f_.Create(f_.Config("anthropic"));
  ASSERT_NE(provider, nullptr);
  ASSERT_TRUE(f_.Complete(*provider, FullRequest()).ok());

  const testing::RecordedRequest sent = f_.fake().LastRequest();
  EXPECT_EQ(sent.method, "POST");
  EXPECT_EQ(sent.target, "/v1/messages");
  EXPECT_EQ(sent.Header("x-api-key"), "sk-test");
  EXPECT_EQ(sent.Header("anthropic-version"), "2023-06-01");
  EXPECT_EQ(sent.Header("content-type"), "application/json");
  const Json body = Json::parse(sent.body);
  EXPECT_EQ(body["model"], "claude-3-5-haiku-20241022");
  EXPECT_EQ(body["max_tokens"], 300);
  EXPECT_EQ(body["system"], Json::parse(R"([{"type":"text","text":"You are MangaAssist.",
                             "cache_control":{"type":"ephemeral"}}])"));
  ASSERT_EQ(body["messages"].size(), 3u);
  EXPECT_EQ(body["messages"][1], Json::parse(R"({"role":"assistant","content":"Yes."})"));
  EXPECT_EQ(body["temperature"], 0.7);  // no float noise (0.699999988...)
  EXPECT_EQ(body["top_p"], 0.9);
  EXPECT_EQ(body["stop_sequences"], Json::parse(R"(["\n\nHuman:"])"));
  EXPECT_FALSE(body.contains("stream"));

  absl::StatusOr<std::unique_ptr<LlmStream>> stream = f_.Stream(*provider, FullRequest());
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_TRUE(f_.Drain(**stream).status.ok());
  EXPECT_EQ(Json::parse(f_.fake().LastRequest().body)["stream"], true);
}

TEST_F(AnthropicProviderTest, SystemWithoutCachingHasNoCacheControl) {
  std::unique_ptr<Provider> provider = f_.Create(f_.Config("anthropic"));
  ASSERT_NE(provider, nullptr);
  LlmRequest request = FullRequest();
  request.cache_system = false;
  request.temperature.reset();
  request.stop.clear();
  ASSERT_TRUE(f_.Complete(*provider, request).ok());
  const Json body = Json::parse(f_.fake().LastRequest().body);
  EXPECT_FALSE(body["system"][0].contains("cache_control"));
  EXPECT_FALSE(body.contains("temperature"));
  EXPECT_FALSE(body.contains("stop_sequences"));
}

TEST_F(AnthropicProviderTest, WrongKeyIsUnauthenticated) {
  Behavior behavior;
  behavior.expected_api_key = "sk-right";
  f_.fake().SetBehavior(behavior);
  std::unique_ptr<Provider> provider = f_.Create(f_.Config("anthropic"));
  ASSERT_NE(provider, nullptr);
  const absl::StatusOr<LlmResponse> response =
      f_.Complete(*provider, f_.Request("claude-3-5-haiku-20241022"));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(response.status().message(), HasSubstr("authentication_error: invalid x-api-key"));
  EXPECT_EQ(http::HttpStatusOf(response.status()), 401);
}

TEST_F(AnthropicProviderTest, BadBaseUrlIsRefusedAtCreation) {
  core::ProviderConfig config = f_.Config("anthropic");
  config.base_url = "ftp://example.com";
  EXPECT_EQ(CreateProvider(config, f_.Deps()).status().code(), absl::StatusCode::kInvalidArgument);
  config.base_url = "";  // the public API by default
  EXPECT_TRUE(CreateProvider(config, f_.Deps()).ok());
}

TEST(AnthropicEventsTest, MessageUsageMapsCacheFields) {
  const absl::StatusOr<LlmResponse> message = anthropic::ParseMessage("p", R"({
      "content":[{"type":"text","text":"Hello, "},{"type":"tool_use","id":"x"},
                 {"type":"text","text":"world"}],
      "stop_reason":"stop_sequence",
      "usage":{"input_tokens":10,"output_tokens":4,"cache_creation_input_tokens":100,
               "cache_read_input_tokens":200}})");
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(message->text, "Hello, world");
  EXPECT_EQ(message->finish_reason, "stop_sequence");
  EXPECT_EQ(message->usage.input_tokens, 10);
  EXPECT_EQ(message->usage.output_tokens, 4);
  EXPECT_EQ(message->usage.cache_write_tokens, 100);
  EXPECT_EQ(message->usage.cache_read_tokens, 200);

  const absl::StatusOr<LlmResponse> no_usage =
      anthropic::ParseMessage("p", R"({"content":[],"stop_reason":"end_turn"})");
  EXPECT_EQ(no_usage.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(anthropic::ParseMessage("p", "[1,2").status().code(), absl::StatusCode::kUnavailable);
}

TEST(AnthropicEventsTest, StopReasonsAreNormalized) {
  EXPECT_EQ(anthropic::NormalizeStopReason("end_turn"), "stop");
  EXPECT_EQ(anthropic::NormalizeStopReason("max_tokens"), "length");
  EXPECT_EQ(anthropic::NormalizeStopReason("stop_sequence"), "stop_sequence");
  EXPECT_EQ(anthropic::NormalizeStopReason("tool_use"), "stop");
}

TEST(AnthropicEventsTest, HandlerFollowsTheEventSequence) {
  anthropic::EventHandler handler("p");
  std::vector<std::string> deltas;
  for (
      const char* event : {
          R"({"type":"message_start","message":{"usage":{"input_tokens":25,"output_tokens":1,
               "cache_creation_input_tokens":3,"cache_read_input_tokens":4}}})",
          R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})",
          R"({"type":"ping"})",
          R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}})",
          R"({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{"}})",
          R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" there"}})",
          R"({"type":"some_future_event"})",
      }) {
    ASSERT_TRUE(handler.OnEvent(event, &deltas).ok()) << event;
  }
  EXPECT_THAT(deltas, ElementsAre("Hi", " there"));
  EXPECT_TRUE(handler.progress().input_reported);
  EXPECT_FALSE(handler.progress().output_reported);
  EXPECT_EQ(handler.AtEnd().code(), absl::StatusCode::kDataLoss);  // cut here

  ASSERT_TRUE(handler
                  .OnEvent(R"({"type":"message_delta","delta":{"stop_reason":"max_tokens"},
                               "usage":{"output_tokens":17}})",
                           &deltas)
                  .ok());
  ASSERT_TRUE(handler.OnEvent(R"({"type":"message_stop"})", &deltas).ok());
  const StreamProgress& progress = handler.progress();
  EXPECT_TRUE(progress.done);
  EXPECT_TRUE(progress.output_reported);
  EXPECT_EQ(progress.finish_reason, "length");
  EXPECT_EQ(progress.usage.input_tokens, 25);
  EXPECT_EQ(progress.usage.output_tokens, 17);
  EXPECT_EQ(progress.usage.cache_write_tokens, 3);
  EXPECT_EQ(progress.usage.cache_read_tokens, 4);
  EXPECT_TRUE(handler.AtEnd().ok());
}

TEST(AnthropicEventsTest, ErrorEventsMapToStatuses) {
  struct Row {
    const char* type;
    absl::StatusCode code;
  };
  for (const Row& row : {Row{"overloaded_error", absl::StatusCode::kUnavailable},
                         Row{"api_error", absl::StatusCode::kUnavailable},
                         Row{"rate_limit_error", absl::StatusCode::kResourceExhausted},
                         Row{"invalid_request_error", absl::StatusCode::kInvalidArgument},
                         Row{"authentication_error", absl::StatusCode::kUnauthenticated},
                         Row{"permission_error", absl::StatusCode::kPermissionDenied},
                         Row{"not_found_error", absl::StatusCode::kNotFound},
                         Row{"request_too_large", absl::StatusCode::kOutOfRange}}) {
    anthropic::EventHandler handler("claude");
    std::vector<std::string> deltas;
    const absl::Status status =
        handler.OnEvent(std::string(R"({"type":"error","error":{"type":")") + row.type +
                            R"(","message":"it broke"}})",
                        &deltas);
    EXPECT_EQ(status.code(), row.code) << row.type;
    EXPECT_THAT(status.message(), HasSubstr(std::string("claude: stream error ") + row.type));
    EXPECT_THAT(status.message(), HasSubstr("it broke"));
  }
  anthropic::EventHandler handler("claude");
  std::vector<std::string> deltas;
  const absl::Status garbage = handler.OnEvent("{\"type\":", &deltas);
  EXPECT_EQ(garbage.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(http::UpstreamFailureOf(garbage), http::UpstreamFailure::kProtocol);
}

TEST(AnthropicEventsTest, ErrorBodiesKeepTheRetryAfterAndTheProvidersMessage) {
  const absl::Status status = anthropic::ErrorStatus(
      "claude", 429, {{"retry-after", "3"}},
      R"({"type":"error","error":{"type":"rate_limit_error","message":"slow down"}})", absl::Now());
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(status.message(), "claude: HTTP 429 rate_limit_error: slow down");
  EXPECT_EQ(http::RetryAfterOf(status), absl::Seconds(3));
  EXPECT_EQ(http::HttpStatusOf(status), 429);

  const absl::Status html =
      anthropic::ErrorStatus("claude", 502, {}, "<html>bad gateway</html>", absl::Now());
  EXPECT_EQ(html.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(html.message(), HasSubstr("bad gateway"));
}

}  // namespace
}  // namespace mangaassist::llm
