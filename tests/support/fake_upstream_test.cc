#include "tests/support/fake_upstream.h"

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "llm/bedrock/eventstream.h"
#include "nlohmann/json.hpp"
#include "tests/support/http_test_client.h"

namespace mangaassist::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;
using Failure = Behavior::Failure;
using std::chrono::milliseconds;

constexpr char kOpenAiPath[] = "/v1/chat/completions";
constexpr char kAnthropicPath[] = "/v1/messages";
// The model id travels percent-encoded once (':' as %3A), as AWS SDKs send it.
constexpr char kBedrockInvokePath[] = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke";
constexpr char kBedrockStreamPath[] =
    "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke-with-response-stream";
constexpr char kBedrockModel[] = "anthropic.claude-3-haiku-20240307-v1:0";

std::string OpenAiRequest(bool stream, bool include_usage = false) {
  Json body = {{"model", "gpt-4o-mini"}, {"messages", {{{"role", "user"}, {"content", "hello"}}}}};
  if (stream) body["stream"] = true;
  if (include_usage) body["stream_options"] = {{"include_usage", true}};
  return body.dump();
}

std::string AnthropicRequest(bool stream) {
  Json body = {{"model", "claude-3-5-haiku-20241022"},
               {"max_tokens", 256},
               {"messages", {{{"role", "user"}, {"content", "hello"}}}}};
  if (stream) body["stream"] = true;
  return body.dump();
}

std::string BedrockRequest() {
  Json body = {{"anthropic_version", "bedrock-2023-05-31"},
               {"max_tokens", 256},
               {"messages", {{{"role", "user"}, {"content", "hello"}}}}};
  return body.dump();
}

// The Anthropic event JSONs carried by a Bedrock event-stream body; exceptions as
// "exception:<type>".
std::vector<Json> BedrockEvents(std::string_view body, std::vector<std::string>* exceptions) {
  llm::bedrock::EventStreamDecoder decoder;
  EXPECT_TRUE(decoder.Feed(body).ok());
  std::vector<Json> events;
  while (std::optional<llm::bedrock::EventMessage> message = decoder.Next()) {
    if (message->IsException()) {
      exceptions->push_back(message->ExceptionType());
      continue;
    }
    EXPECT_EQ(message->EventType(), "chunk");
    absl::StatusOr<std::string> inner = llm::bedrock::DecodeChunkPayload(message->payload);
    EXPECT_TRUE(inner.ok()) << inner.status();
    if (!inner.ok()) continue;
    events.push_back(Json::parse(*inner, nullptr, /*allow_exceptions=*/false));
  }
  return events;
}

const HttpHeaders kAnthropicHeaders = {{"x-api-key", "sk-ant-test"},
                                       {"anthropic-version", "2023-06-01"}};

class FakeUpstreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    upstream_ = FakeUpstream::Start();
    ASSERT_NE(upstream_, nullptr);
    client_ = std::make_unique<HttpTestClient>(upstream_->port());
  }

  HttpResponse PostOk(std::string_view path, std::string_view body,
                      const HttpHeaders& headers = {}) {
    absl::StatusOr<HttpResponse> response = client_->Post(path, body, headers);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *std::move(response) : HttpResponse{};
  }

  std::unique_ptr<FakeUpstream> upstream_;
  std::unique_ptr<HttpTestClient> client_;
};

// Concatenated `choices[0].delta.content` of an OpenAI stream.
std::string OpenAiStreamText(const std::vector<SseEvent>& events) {
  std::string text;
  for (const SseEvent& event : events) {
    if (event.data == "[DONE]") continue;
    const Json chunk = Json::parse(event.data);
    if (chunk["choices"].empty()) continue;
    const Json& delta = chunk["choices"][0]["delta"];
    if (delta.contains("content")) text += delta["content"].get<std::string>();
  }
  return text;
}

std::string AnthropicStreamText(const std::vector<SseEvent>& events) {
  std::string text;
  for (const SseEvent& event : events) {
    if (event.event != "content_block_delta") continue;
    text += Json::parse(event.data)["delta"]["text"].get<std::string>();
  }
  return text;
}

std::vector<std::string> EventNames(const std::vector<SseEvent>& events) {
  std::vector<std::string> names;
  for (const SseEvent& event : events) {
    if (names.empty() || names.back() != event.event) names.push_back(event.event);
  }
  return names;
}

TEST_F(FakeUpstreamTest, HealthzAnswers200) {
  absl::StatusOr<HttpResponse> response = client_->Get("/healthz");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(upstream_->RequestCount("/healthz"), 1);
  EXPECT_EQ(upstream_->base_url(), "http://127.0.0.1:" + std::to_string(upstream_->port()));
}

TEST_F(FakeUpstreamTest, UnknownPathIs404) {
  EXPECT_EQ(PostOk("/v2/nothing", "{}").status, 404);
  EXPECT_EQ(upstream_->RequestCount("/v2/nothing"), 1);
}

TEST_F(FakeUpstreamTest, OpenAiNonStreamingAnswerEchoesModelAndUsage) {
  Behavior behavior;
  behavior.usage = {
      .input_tokens = 100, .output_tokens = 20, .cache_read_tokens = 40, .cache_write_tokens = 0};
  upstream_->SetBehavior(behavior);

  const HttpResponse response = PostOk(kOpenAiPath, OpenAiRequest(false));
  ASSERT_EQ(response.status, 200);
  EXPECT_TRUE(response.complete);
  EXPECT_THAT(response.Header("content-type"), HasSubstr("application/json"));
  const Json body = Json::parse(response.body);
  EXPECT_THAT(body["id"].get<std::string>(), HasSubstr("chatcmpl-"));
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["model"], "gpt-4o-mini");
  EXPECT_EQ(body["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(body["choices"][0]["message"]["content"], "This is the fake upstream's answer.");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(body["usage"]["prompt_tokens"], 140);  // input + cached, OpenAI's convention.
  EXPECT_EQ(body["usage"]["completion_tokens"], 20);
  EXPECT_EQ(body["usage"]["total_tokens"], 160);
  EXPECT_EQ(body["usage"]["prompt_tokens_details"]["cached_tokens"], 40);
  EXPECT_EQ(upstream_->RequestCount(kOpenAiPath), 1);
}

TEST_F(FakeUpstreamTest, OpenAiStreamSplitsAnswerAndEndsWithUsageThenDone) {
  Behavior behavior;
  behavior.stream_chunks = 5;
  behavior.usage.input_tokens = 7;
  behavior.usage.output_tokens = 11;
  upstream_->SetBehavior(behavior);

  const HttpResponse response = PostOk(kOpenAiPath, OpenAiRequest(true, true));
  ASSERT_EQ(response.status, 200);
  EXPECT_TRUE(response.complete);
  EXPECT_THAT(response.Header("content-type"), HasSubstr("text/event-stream"));
  const std::vector<SseEvent> events = ParseSse(response.body);
  // Role chunk, 5 text chunks, finish chunk, usage chunk, [DONE].
  ASSERT_EQ(events.size(), 9u);
  EXPECT_EQ(OpenAiStreamText(events), behavior.answer);
  EXPECT_EQ(events.back().data, "[DONE]");

  const Json finish = Json::parse(events[6].data);
  EXPECT_EQ(finish["object"], "chat.completion.chunk");
  EXPECT_EQ(finish["model"], "gpt-4o-mini");
  EXPECT_EQ(finish["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(finish["usage"].is_null());

  const Json usage = Json::parse(events[7].data);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["prompt_tokens"], 7);
  EXPECT_EQ(usage["usage"]["completion_tokens"], 11);
  EXPECT_EQ(usage["usage"]["total_tokens"], 18);
}

TEST_F(FakeUpstreamTest, OpenAiStreamWithoutIncludeUsageHasNoUsageChunk) {
  const HttpResponse response = PostOk(kOpenAiPath, OpenAiRequest(true, false));
  ASSERT_EQ(response.status, 200);
  const std::vector<SseEvent> events = ParseSse(response.body);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back().data, "[DONE]");
  const Json last = Json::parse(events[events.size() - 2].data);
  EXPECT_EQ(last["choices"][0]["finish_reason"], "stop");
  EXPECT_FALSE(last.contains("usage"));
  EXPECT_EQ(OpenAiStreamText(events), Behavior{}.answer);
}

TEST_F(FakeUpstreamTest, AnthropicNonStreamingAnswerEchoesModelAndUsage) {
  Behavior behavior;
  behavior.answer = "Volume 105 is in stock.";
  behavior.usage = {.input_tokens = 50,
                    .output_tokens = 12,
                    .cache_read_tokens = 1000,
                    .cache_write_tokens = 200};
  behavior.stop_at_max_tokens = true;
  upstream_->SetBehavior(behavior);

  const HttpResponse response = PostOk(kAnthropicPath, AnthropicRequest(false), kAnthropicHeaders);
  ASSERT_EQ(response.status, 200);
  const Json body = Json::parse(response.body);
  EXPECT_THAT(body["id"].get<std::string>(), HasSubstr("msg_"));
  EXPECT_EQ(body["type"], "message");
  EXPECT_EQ(body["role"], "assistant");
  EXPECT_EQ(body["model"], "claude-3-5-haiku-20241022");
  ASSERT_EQ(body["content"].size(), 1u);
  EXPECT_EQ(body["content"][0]["type"], "text");
  EXPECT_EQ(body["content"][0]["text"], "Volume 105 is in stock.");
  EXPECT_EQ(body["stop_reason"], "max_tokens");
  EXPECT_EQ(body["usage"]["input_tokens"], 50);
  EXPECT_EQ(body["usage"]["output_tokens"], 12);
  EXPECT_EQ(body["usage"]["cache_read_input_tokens"], 1000);
  EXPECT_EQ(body["usage"]["cache_creation_input_tokens"], 200);
  EXPECT_FALSE(response.Header("request-id").empty());
}

TEST_F(FakeUpstreamTest, AnthropicStreamHasTheFullEventSequence) {
  Behavior behavior;
  behavior.stream_chunks = 3;
  behavior.usage.input_tokens = 33;
  behavior.usage.output_tokens = 44;
  upstream_->SetBehavior(behavior);

  const HttpResponse response = PostOk(kAnthropicPath, AnthropicRequest(true), kAnthropicHeaders);
  ASSERT_EQ(response.status, 200);
  EXPECT_TRUE(response.complete);
  const std::vector<SseEvent> events = ParseSse(response.body);
  EXPECT_THAT(EventNames(events),
              ElementsAre("message_start", "content_block_start", "ping", "content_block_delta",
                          "content_block_stop", "message_delta", "message_stop"));
  EXPECT_EQ(AnthropicStreamText(events), behavior.answer);
  int deltas = 0;
  for (const SseEvent& event : events) {
    const Json data = Json::parse(event.data);
    EXPECT_EQ(data["type"], event.event);
    if (event.event == "message_start") {
      EXPECT_EQ(data["message"]["usage"]["input_tokens"], 33);
      EXPECT_EQ(data["message"]["model"], "claude-3-5-haiku-20241022");
    } else if (event.event == "content_block_delta") {
      EXPECT_EQ(data["delta"]["type"], "text_delta");
      ++deltas;
    } else if (event.event == "message_delta") {
      EXPECT_EQ(data["delta"]["stop_reason"], "end_turn");
      EXPECT_EQ(data["usage"]["output_tokens"], 44);
    }
  }
  EXPECT_EQ(deltas, 3);
}

TEST_F(FakeUpstreamTest, StreamChunksNeverSplitUtf8Characters) {
  Behavior behavior;
  behavior.answer = "ワンピース105巻は在庫あり。Yes, in stock!";
  behavior.stream_chunks = 7;
  upstream_->SetBehavior(behavior);
  const HttpResponse response = PostOk(kAnthropicPath, AnthropicRequest(true), kAnthropicHeaders);
  // Json::parse rejects ill-formed UTF-8, so every delta parsing proves the split is clean.
  EXPECT_EQ(AnthropicStreamText(ParseSse(response.body)), behavior.answer);
}

TEST_F(FakeUpstreamTest, RateLimitedAnswers429WithRetryAfter) {
  Behavior behavior;
  behavior.failure = Failure::kRateLimited;
  behavior.retry_after_seconds = 7;
  upstream_->SetBehavior(behavior);

  const HttpResponse openai = PostOk(kOpenAiPath, OpenAiRequest(false));
  EXPECT_EQ(openai.status, 429);
  EXPECT_EQ(openai.Header("Retry-After"), "7");
  EXPECT_EQ(Json::parse(openai.body)["error"]["code"], "rate_limit_exceeded");

  const HttpResponse anthropic = PostOk(kAnthropicPath, AnthropicRequest(true), kAnthropicHeaders);
  EXPECT_EQ(anthropic.status, 429);
  EXPECT_EQ(anthropic.Header("retry-after"), "7");
  const Json error = Json::parse(anthropic.body);
  EXPECT_EQ(error["type"], "error");
  EXPECT_EQ(error["error"]["type"], "rate_limit_error");
  EXPECT_FALSE(error["error"]["message"].get<std::string>().empty());
}

TEST_F(FakeUpstreamTest, ServerErrorAnswers500) {
  Behavior behavior;
  behavior.failure = Failure::kServerError;
  upstream_->SetBehavior(behavior);
  const HttpResponse openai = PostOk(kOpenAiPath, OpenAiRequest(true));
  EXPECT_EQ(openai.status, 500);
  EXPECT_EQ(Json::parse(openai.body)["error"]["type"], "server_error");
  const HttpResponse anthropic = PostOk(kAnthropicPath, AnthropicRequest(false));
  EXPECT_EQ(anthropic.status, 500);
  EXPECT_EQ(Json::parse(anthropic.body)["error"]["type"], "api_error");
}

TEST_F(FakeUpstreamTest, OverloadedAnswers529ForAnthropicAnd503ForOpenAi) {
  Behavior behavior;
  behavior.failure = Failure::kOverloaded;
  upstream_->SetBehavior(behavior);
  EXPECT_EQ(PostOk(kOpenAiPath, OpenAiRequest(false)).status, 503);
  const HttpResponse anthropic = PostOk(kAnthropicPath, AnthropicRequest(false));
  EXPECT_EQ(anthropic.status, 529);
  EXPECT_EQ(Json::parse(anthropic.body)["error"]["type"], "overloaded_error");
}

TEST_F(FakeUpstreamTest, UnauthorizedAnswers401) {
  Behavior behavior;
  behavior.failure = Failure::kUnauthorized;
  upstream_->SetBehavior(behavior);
  EXPECT_EQ(PostOk(kOpenAiPath, OpenAiRequest(false)).status, 401);
  const HttpResponse anthropic = PostOk(kAnthropicPath, AnthropicRequest(false));
  EXPECT_EQ(anthropic.status, 401);
  EXPECT_EQ(Json::parse(anthropic.body)["error"]["type"], "authentication_error");
}

TEST_F(FakeUpstreamTest, ExpectedApiKeyIsCheckedPerProtocol) {
  Behavior behavior;
  behavior.expected_api_key = "sk-good";
  upstream_->SetBehavior(behavior);
  EXPECT_EQ(PostOk(kOpenAiPath, OpenAiRequest(false), {{"Authorization", "Bearer sk-bad"}}).status,
            401);
  EXPECT_EQ(PostOk(kOpenAiPath, OpenAiRequest(false), {{"Authorization", "Bearer sk-good"}}).status,
            200);
  EXPECT_EQ(PostOk(kAnthropicPath, AnthropicRequest(false), {{"x-api-key", "sk-bad"}}).status, 401);
  EXPECT_EQ(PostOk(kAnthropicPath, AnthropicRequest(false), {{"x-api-key", "sk-good"}}).status,
            200);
}

TEST_F(FakeUpstreamTest, InvalidRequestsAreRejectedLikeTheRealApi) {
  EXPECT_EQ(PostOk(kOpenAiPath, "not json").status, 400);
  EXPECT_EQ(PostOk(kOpenAiPath, R"({"model":"gpt-4o"})").status, 400);
  const HttpResponse anthropic =
      PostOk(kAnthropicPath, R"({"model":"claude","messages":[{"role":"user","content":"x"}]})");
  EXPECT_EQ(anthropic.status, 400);
  EXPECT_THAT(anthropic.body, HasSubstr("max_tokens"));

  Behavior lenient;
  lenient.validate_requests = false;
  upstream_->SetBehavior(lenient);
  EXPECT_EQ(PostOk(kOpenAiPath, R"({"model":"gpt-4o"})").status, 200);
}

TEST_F(FakeUpstreamTest, MalformedJsonBodyDoesNotParse) {
  Behavior behavior;
  behavior.failure = Failure::kMalformedJson;
  upstream_->SetBehavior(behavior);
  for (const auto& [path, request] : {std::pair{kOpenAiPath, OpenAiRequest(false)},
                                      std::pair{kAnthropicPath, AnthropicRequest(false)}}) {
    const HttpResponse response = PostOk(path, request);
    EXPECT_EQ(response.status, 200);
    EXPECT_TRUE(response.complete);
    EXPECT_THAT(response.Header("content-type"), HasSubstr("application/json"));
    EXPECT_FALSE(Json::accept(response.body)) << response.body;
  }
  const HttpResponse stream = PostOk(kOpenAiPath, OpenAiRequest(true));
  const std::vector<SseEvent> events = ParseSse(stream.body);
  ASSERT_FALSE(events.empty());
  EXPECT_FALSE(Json::accept(events.front().data));
}

TEST_F(FakeUpstreamTest, TruncatedStreamClosesBeforeTheFinalEvents) {
  Behavior behavior;
  behavior.failure = Failure::kTruncatedStream;
  behavior.stream_chunks = 4;
  behavior.truncate_after_chunks = 2;
  upstream_->SetBehavior(behavior);

  const HttpResponse openai = PostOk(kOpenAiPath, OpenAiRequest(true, true));
  EXPECT_EQ(openai.status, 200);
  EXPECT_FALSE(openai.complete);
  const std::vector<SseEvent> openai_events = ParseSse(openai.body);
  EXPECT_EQ(openai_events.size(), 3u);  // Role chunk and two text chunks.
  EXPECT_THAT(openai.body, Not(HasSubstr("[DONE]")));
  EXPECT_THAT(openai.body, Not(HasSubstr("finish_reason\":\"stop")));

  const HttpResponse anthropic = PostOk(kAnthropicPath, AnthropicRequest(true));
  EXPECT_FALSE(anthropic.complete);
  const std::vector<SseEvent> anthropic_events = ParseSse(anthropic.body);
  EXPECT_THAT(EventNames(anthropic_events),
              ElementsAre("message_start", "content_block_start", "ping", "content_block_delta"));
  EXPECT_THAT(anthropic.body, Not(HasSubstr("message_stop")));

  // A non-streaming request gets a body shorter than its Content-Length.
  const HttpResponse plain = PostOk(kOpenAiPath, OpenAiRequest(false));
  EXPECT_EQ(plain.status, 200);
  EXPECT_FALSE(plain.complete);
  // The truncations are the server's doing, not client aborts.
  EXPECT_EQ(upstream_->ClientAbortedStreams(), 0);
}

TEST_F(FakeUpstreamTest, MidStreamErrorArrivesInBand) {
  Behavior behavior;
  behavior.failure = Failure::kMidStreamError;
  behavior.truncate_after_chunks = 1;
  upstream_->SetBehavior(behavior);
  const HttpResponse response = PostOk(kAnthropicPath, AnthropicRequest(true));
  EXPECT_TRUE(response.complete);
  const std::vector<SseEvent> events = ParseSse(response.body);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().event, "error");
  EXPECT_EQ(Json::parse(events.back().data)["error"]["type"], "overloaded_error");
}

TEST_F(FakeUpstreamTest, FailFirstNThenSucceed) {
  Behavior behavior;
  behavior.failure = Failure::kRateLimited;
  behavior.fail_first_n = 2;
  upstream_->SetBehavior(behavior);
  EXPECT_EQ(PostOk(kAnthropicPath, AnthropicRequest(false)).status, 429);
  EXPECT_EQ(PostOk(kAnthropicPath, AnthropicRequest(false)).status, 429);
  EXPECT_EQ(PostOk(kAnthropicPath, AnthropicRequest(false)).status, 200);
  EXPECT_EQ(PostOk(kAnthropicPath, AnthropicRequest(false)).status, 200);
  // SetBehavior starts the count again.
  upstream_->SetBehavior(behavior);
  EXPECT_EQ(PostOk(kOpenAiPath, OpenAiRequest(false)).status, 429);
  EXPECT_EQ(upstream_->RequestCount(kAnthropicPath), 4);
  EXPECT_EQ(upstream_->RequestCount(kOpenAiPath), 1);
}

TEST_F(FakeUpstreamTest, LatencyDelaysTheResponse) {
  Behavior behavior;
  behavior.latency = milliseconds(150);
  upstream_->SetBehavior(behavior);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(PostOk(kOpenAiPath, OpenAiRequest(false)).status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(150));
}

TEST_F(FakeUpstreamTest, TimeoutHangsUntilTheClientGivesUp) {
  Behavior behavior;
  behavior.failure = Failure::kTimeout;
  upstream_->SetBehavior(behavior);
  client_->set_timeout(milliseconds(200));
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<HttpResponse> response = client_->Post(kOpenAiPath, OpenAiRequest(false));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded) << response.status();
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(5000));
  EXPECT_TRUE(upstream_->WaitForClientAbortedRequests(1, milliseconds(5000)));
  EXPECT_EQ(upstream_->ClientAbortedStreams(), 0);
  EXPECT_EQ(upstream_->RequestCount(kOpenAiPath), 1);

  // The fake still serves others once the behavior changes.
  upstream_->SetBehavior(Behavior{});
  client_->set_timeout(milliseconds(5000));
  EXPECT_EQ(PostOk(kOpenAiPath, OpenAiRequest(false)).status, 200);
}

TEST_F(FakeUpstreamTest, ClientAbortMidStreamIsCounted) {
  Behavior behavior;
  behavior.answer = std::string(400, 'a');
  behavior.stream_chunks = 100;
  behavior.chunk_interval = milliseconds(5);
  upstream_->SetBehavior(behavior);

  absl::StatusOr<HttpResponse> head = client_->StartStream(kAnthropicPath, AnthropicRequest(true));
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->status, 200);
  absl::StatusOr<std::string> first = client_->ReadStreamChunk();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_THAT(*first, HasSubstr("message_start"));
  client_->Close();

  EXPECT_TRUE(upstream_->WaitForClientAbortedStreams(1, milliseconds(5000)));
  EXPECT_EQ(upstream_->ClientAbortedStreams(), 1);
  EXPECT_EQ(upstream_->ClientAbortedRequests(), 1);
}

TEST_F(FakeUpstreamTest, StreamReadPieceByPieceReachesTheEnd) {
  Behavior behavior;
  behavior.chunk_interval = milliseconds(2);
  upstream_->SetBehavior(behavior);
  ASSERT_TRUE(client_->StartStream(kOpenAiPath, OpenAiRequest(true)).ok());
  std::string text;
  absl::StatusOr<std::string> piece;
  while ((piece = client_->ReadStreamChunk()).ok()) text += *piece;
  EXPECT_EQ(piece.status().code(), absl::StatusCode::kOutOfRange) << piece.status();
  EXPECT_EQ(OpenAiStreamText(ParseSse(text)), behavior.answer);
  EXPECT_TRUE(client_->connected());  // Keep-alive survives a finished stream.
  EXPECT_EQ(upstream_->ClientAbortedStreams(), 0);
}

TEST_F(FakeUpstreamTest, StopDuringAHangingRequestIsPromptAndUnblocksTheClient) {
  Behavior behavior;
  behavior.failure = Failure::kTimeout;
  upstream_->SetBehavior(behavior);
  std::atomic<bool> returned{false};
  absl::Status client_status;
  std::thread hung([&] {
    HttpTestClient client(upstream_->port());
    client.set_timeout(milliseconds(30000));
    client_status = client.Post(kOpenAiPath, OpenAiRequest(false)).status();
    returned = true;
  });
  while (upstream_->RequestCount(kOpenAiPath) == 0) std::this_thread::sleep_for(milliseconds(1));

  const auto start = std::chrono::steady_clock::now();
  upstream_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(2000));
  hung.join();
  EXPECT_TRUE(returned);
  EXPECT_FALSE(client_status.ok());
  EXPECT_EQ(upstream_->ClientAbortedRequests(), 0);  // Our Stop(), not the client.
  upstream_->Stop();                                 // Idempotent.
}

TEST_F(FakeUpstreamTest, StopDuringSlowStreamsAndLatency) {
  Behavior behavior;
  behavior.stream_chunks = 50;
  behavior.chunk_interval = milliseconds(1000);
  upstream_->SetBehavior(behavior);
  auto streaming = std::make_unique<HttpTestClient>(upstream_->port());
  ASSERT_TRUE(streaming->StartStream(kOpenAiPath, OpenAiRequest(true)).ok());

  behavior.latency = milliseconds(60000);
  upstream_->SetBehavior(behavior);
  std::thread waiting([port = upstream_->port()] {
    HttpTestClient client(port);
    EXPECT_FALSE(client.Post(kOpenAiPath, OpenAiRequest(false)).ok());
  });
  while (upstream_->RequestCount(kOpenAiPath) < 2) std::this_thread::sleep_for(milliseconds(1));

  const auto start = std::chrono::steady_clock::now();
  upstream_.reset();  // The destructor stops.
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(2000));
  waiting.join();
  absl::StatusOr<std::string> piece;
  while ((piece = streaming->ReadStreamChunk()).ok()) {
  }
  EXPECT_EQ(piece.status().code(), absl::StatusCode::kDataLoss) << piece.status();
}

TEST_F(FakeUpstreamTest, RecordsTheLastRequestWithHeadersAndBody) {
  const std::string body = AnthropicRequest(false);
  HttpHeaders headers = kAnthropicHeaders;
  headers.emplace_back("X-Request-Id", "req-123");
  PostOk(kAnthropicPath, body, headers);

  const RecordedRequest last = upstream_->LastRequest();
  EXPECT_EQ(last.method, "POST");
  EXPECT_EQ(last.target, kAnthropicPath);
  EXPECT_EQ(last.body, body);
  EXPECT_EQ(last.Header("x-api-key"), "sk-ant-test");
  EXPECT_EQ(last.Header("Anthropic-Version"), "2023-06-01");
  EXPECT_EQ(last.Header("x-request-id"), "req-123");
  EXPECT_FALSE(last.HasHeader("authorization"));

  PostOk(kOpenAiPath + std::string("?api-version=1"), OpenAiRequest(false),
         {{"Authorization", "Bearer sk-openai"}});
  EXPECT_EQ(upstream_->LastRequest().Header("authorization"), "Bearer sk-openai");
  EXPECT_EQ(upstream_->RequestCount(kOpenAiPath), 1);  // Query strings do not split counts.
  EXPECT_EQ(upstream_->RecentRequests().size(), 2u);
  EXPECT_EQ(upstream_->TotalRequests(), 2);

  upstream_->ResetStats();
  EXPECT_EQ(upstream_->TotalRequests(), 0);
  EXPECT_TRUE(upstream_->LastRequest().method.empty());
}

TEST_F(FakeUpstreamTest, KeepAliveReusesOneConnection) {
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(PostOk(kOpenAiPath, OpenAiRequest(i % 2 == 0)).status, 200);
  }
  EXPECT_EQ(upstream_->ConnectionsAccepted(), 1);
}

TEST_F(FakeUpstreamTest, BedrockInvokeAnswersWithTheModelFromThePath) {
  Behavior behavior;
  behavior.usage = {.input_tokens = 12, .output_tokens = 7, .cache_read_tokens = 3};
  upstream_->SetBehavior(behavior);
  const HttpResponse response = PostOk(kBedrockInvokePath, BedrockRequest());
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_FALSE(response.Header("x-amzn-RequestId").empty());
  const Json body = Json::parse(response.body);
  EXPECT_EQ(body["model"], kBedrockModel);
  EXPECT_EQ(body["content"][0]["text"], behavior.answer);
  EXPECT_EQ(body["stop_reason"], "end_turn");
  EXPECT_EQ(body["usage"]["input_tokens"], 12);
  EXPECT_EQ(body["usage"]["output_tokens"], 7);
  EXPECT_EQ(body["usage"]["cache_read_input_tokens"], 3);
  EXPECT_EQ(upstream_->RequestCount(kBedrockInvokePath), 1);
}

TEST_F(FakeUpstreamTest, BedrockStreamIsEventStreamFramedAnthropicEvents) {
  const HttpResponse response = PostOk(kBedrockStreamPath, BedrockRequest());
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_TRUE(response.complete);
  EXPECT_EQ(response.Header("content-type"), "application/vnd.amazon.eventstream");
  std::vector<std::string> exceptions;
  const std::vector<Json> events = BedrockEvents(response.body, &exceptions);
  EXPECT_TRUE(exceptions.empty());
  std::vector<std::string> types;
  std::string text;
  for (const Json& event : events) {
    types.push_back(event.value("type", ""));
    if (types.back() == "content_block_delta") text += event["delta"]["text"].get<std::string>();
  }
  ASSERT_GE(types.size(), 5u);
  EXPECT_EQ(types.front(), "message_start");
  EXPECT_EQ(types.back(), "message_stop");
  EXPECT_EQ(events.front()["message"]["model"], kBedrockModel);
  EXPECT_EQ(text, Behavior{}.answer);
  EXPECT_EQ(events.back()["amazon-bedrock-invocationMetrics"]["outputTokenCount"],
            Behavior{}.usage.output_tokens);
}

TEST_F(FakeUpstreamTest, BedrockRefusesTheMessagesApiFields) {
  const HttpResponse with_model = PostOk(
      kBedrockInvokePath,
      R"({"anthropic_version":"bedrock-2023-05-31","model":"x","max_tokens":5,"messages":[]})");
  EXPECT_EQ(with_model.status, 400);
  EXPECT_THAT(with_model.Header("x-amzn-ErrorType"), HasSubstr("ValidationException"));
  EXPECT_THAT(with_model.body, HasSubstr("model"));
  EXPECT_EQ(PostOk(kBedrockInvokePath, R"({"max_tokens":5,"messages":[]})").status, 400);
  EXPECT_EQ(PostOk("/model/x/invoke-please", BedrockRequest()).status, 404);
}

TEST_F(FakeUpstreamTest, BedrockErrorsUseAwsTypes) {
  Behavior behavior;
  behavior.failure = Failure::kRateLimited;
  behavior.retry_after_seconds = 2;
  upstream_->SetBehavior(behavior);
  const HttpResponse throttled = PostOk(kBedrockInvokePath, BedrockRequest());
  EXPECT_EQ(throttled.status, 429);
  EXPECT_THAT(throttled.Header("x-amzn-ErrorType"), HasSubstr("ThrottlingException"));
  EXPECT_EQ(throttled.Header("retry-after"), "2");
  EXPECT_TRUE(Json::parse(throttled.body).contains("message"));

  behavior.failure = Failure::kNone;
  behavior.expected_api_key = "AKIDEXAMPLE";
  upstream_->SetBehavior(behavior);
  EXPECT_EQ(PostOk(kBedrockInvokePath, BedrockRequest(),
                   {{"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDOTHER/20250101/x"}})
                .status,
            403);
  EXPECT_EQ(PostOk(kBedrockInvokePath, BedrockRequest(),
                   {{"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/x"}})
                .status,
            200);
}

TEST_F(FakeUpstreamTest, BedrockMidStreamErrorIsAnExceptionFrame) {
  Behavior behavior;
  behavior.failure = Failure::kMidStreamError;
  behavior.truncate_after_chunks = 1;
  upstream_->SetBehavior(behavior);
  const HttpResponse response = PostOk(kBedrockStreamPath, BedrockRequest());
  ASSERT_EQ(response.status, 200);
  std::vector<std::string> exceptions;
  const std::vector<Json> events = BedrockEvents(response.body, &exceptions);
  EXPECT_THAT(exceptions, ElementsAre("modelStreamErrorException"));
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back()["type"], "content_block_delta");
}

TEST(FakeUpstreamStartTest, ServesConcurrentClientsOnSeveralThreads) {
  std::unique_ptr<FakeUpstream> upstream = FakeUpstream::Start({.threads = 2});
  ASSERT_NE(upstream, nullptr);
  constexpr int kClients = 4;
  constexpr int kRequests = 50;
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&ok, port = upstream->port(), c] {
      HttpTestClient client(port);
      for (int i = 0; i < kRequests; ++i) {
        const bool anthropic = (c + i) % 2 == 0;
        absl::StatusOr<HttpResponse> response =
            anthropic ? client.Post(kAnthropicPath, AnthropicRequest(i % 3 == 0))
                      : client.Post(kOpenAiPath, OpenAiRequest(i % 3 == 0));
        if (response.ok() && response->status == 200 && response->complete) ++ok;
      }
    });
  }
  for (std::thread& client : clients) client.join();
  EXPECT_EQ(ok, kClients * kRequests);
  EXPECT_EQ(upstream->TotalRequests(), kClients * kRequests);
  EXPECT_EQ(upstream->ConnectionsAccepted(), kClients);
}

TEST(FakeUpstreamStartTest, BusyPortIsAnError) {
  std::unique_ptr<FakeUpstream> first = FakeUpstream::Start();
  ASSERT_NE(first, nullptr);
  absl::StatusOr<std::unique_ptr<FakeUpstream>> second =
      FakeUpstream::StartOrError({.port = first->port()});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
}

}  // namespace
}  // namespace mangaassist::testing
