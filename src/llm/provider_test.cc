// Behaviour every network provider shares (anthropic, openai, bedrock), each run against the
// fake upstream: answers, streams, error mapping, retries, timeouts, malformed and truncated
// answers, fallback, the circuit breaker and client cancellation. Provider-specific wire details
// are in each provider's own test.

// clang-format off
#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).
// clang-format on

#include "llm/provider.h"

#include <chrono>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/retry.h"
#include "http/upstream_client.h"
#include "llm/fallback_provider.h"
#include "llm/http_provider.h"
#include "llm/provider_test_support.h"
#include "nlohmann/json.hpp"
#include "tests/support/fake_upstream.h"

namespace mangaassist::llm {
namespace {

using ::mangaassist::testing::Behavior;
using ::mangaassist::testing::RecordedRequest;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Failure = Behavior::Failure;
using std::chrono::milliseconds;

struct Case {
  std::string type;
  std::string model_a;
  std::string model_b;
  absl::StatusCode auth_code;  // bedrock: AWS answers a bad key with 403
  std::string auth_text;       // the provider's own words, kept in the status
  std::string server_error_text;
};

std::string CaseName(const ::testing::TestParamInfo<Case>& info) { return info.param.type; }
void PrintTo(const Case& c, std::ostream* os) { *os << c.type; }

// The model a recorded request asked for: the body's `model`, or Bedrock's path segment.
std::string ModelOf(const RecordedRequest& request) {
  const std::string prefix = "/model/";
  if (request.target.rfind(prefix, 0) == 0) {
    const std::string encoded = request.target.substr(
        prefix.size(), request.target.find('/', prefix.size()) - prefix.size());
    std::string out;
    for (size_t i = 0; i < encoded.size(); ++i) {
      if (encoded[i] == '%' && i + 2 < encoded.size()) {
        out += static_cast<char>(std::stoi(encoded.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        out += encoded[i];
      }
    }
    return out;
  }
  const nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
  return body.is_object() ? body.value("model", "") : "";
}

std::vector<std::string> RecordedModels(const testing::FakeUpstream& fake) {
  std::vector<std::string> models;
  for (const RecordedRequest& request : fake.RecentRequests()) models.push_back(ModelOf(request));
  return models;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

class ProviderTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override { ASSERT_TRUE(f_.ready()); }

  const Case& param() const { return GetParam(); }
  bool reports_input_early() const { return param().type != "openai"; }

  // The usage the provider must report for the fake's `usage` (OpenAI has no cache writes:
  // they bill as input).
  core::TokenUsage Expected(const Behavior::Usage& u) const {
    if (param().type == "openai") {
      return {u.input_tokens + u.cache_write_tokens, u.output_tokens, u.cache_read_tokens, 0};
    }
    return {u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_write_tokens};
  }

  core::ProviderConfig Config() const { return f_.Config(param().type); }
  LlmRequest Request() const { return f_.Request(param().model_a); }

  int64_t Requests(const std::string& provider, const std::string& model, const char* outcome) {
    return f_.Counter("mangaassist_llm_requests_total",
                      {{"provider", provider}, {"model", model}, {"outcome", outcome}});
  }

  test_support::ProviderFixture f_;
};

void ExpectUsage(const core::TokenUsage& got, const core::TokenUsage& want) {
  EXPECT_EQ(got.input_tokens, want.input_tokens);
  EXPECT_EQ(got.output_tokens, want.output_tokens);
  EXPECT_EQ(got.cache_read_tokens, want.cache_read_tokens);
  EXPECT_EQ(got.cache_write_tokens, want.cache_write_tokens);
}

TEST_P(ProviderTest, CompleteReturnsTheAnswerAndTheReportedUsage) {
  Behavior behavior;
  behavior.usage = {
      .input_tokens = 30, .output_tokens = 9, .cache_read_tokens = 5, .cache_write_tokens = 7};
  f_.fake().SetBehavior(behavior);
  const core::ProviderConfig config = Config();
  std::unique_ptr<Provider> provider = f_.Create(config);
  ASSERT_NE(provider, nullptr);
  EXPECT_EQ(provider->name(), config.name);

  const absl::StatusOr<LlmResponse> response = f_.Complete(*provider, Request());
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->text, behavior.answer);
  EXPECT_EQ(response->finish_reason, "stop");
  EXPECT_EQ(response->model, param().model_a);
  EXPECT_EQ(response->attempts, 1);
  ExpectUsage(response->usage, Expected(behavior.usage));

  const RecordedRequest sent = f_.fake().LastRequest();
  EXPECT_EQ(sent.Header("x-request-id"), "req-test-1");
  EXPECT_EQ(ModelOf(sent), param().model_a);
  EXPECT_EQ(Requests(config.name, param().model_a, "ok"), 1);
  EXPECT_EQ(f_.Counter("mangaassist_llm_tokens_total",
                       {{"provider", config.name}, {"model", param().model_a}, {"kind", "output"}}),
            9);
}

TEST_P(ProviderTest, MaxTokensFinishIsLength) {
  Behavior behavior;
  behavior.stop_at_max_tokens = true;
  f_.fake().SetBehavior(behavior);
  std::unique_ptr<Provider> provider = f_.Create(Config());
  ASSERT_NE(provider, nullptr);
  const absl::StatusOr<LlmResponse> response = f_.Complete(*provider, Request());
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->finish_reason, "length");

  absl::StatusOr<std::unique_ptr<LlmStream>> stream = f_.Stream(*provider, Request());
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_TRUE(f_.Drain(**stream).status.ok());
  EXPECT_EQ((*stream)->Final().finish_reason, "length");
}

TEST_P(ProviderTest, StreamDeltasConcatenateToTheAnswer) {
  Behavior behavior;
  behavior.answer = "ワンピース 第107巻は2024年発売です。One Piece vol. 107 is out.";
  behavior.stream_chunks = 5;
  behavior.usage = {.input_tokens = 41, .output_tokens = 23, .cache_read_tokens = 11};
  f_.fake().SetBehavior(behavior);
  const core::ProviderConfig config = Config();
  std::unique_ptr<Provider> provider = f_.Create(config);
  ASSERT_NE(provider, nullptr);

  absl::StatusOr<std::unique_ptr<LlmStream>> stream = f_.Stream(*provider, Request());
  ASSERT_TRUE(stream.ok()) << stream.status();
  const test_support::Drained drained = f_.Drain(**stream);
  EXPECT_TRUE(drained.status.ok()) << drained.status;
  EXPECT_EQ(drained.text, behavior.answer);
  EXPECT_EQ(drained.deltas.size(), 5u);
  const LlmResponse& final = (*stream)->Final();
  EXPECT_EQ(final.text, behavior.answer);
  EXPECT_EQ(final.finish_reason, "stop");
  EXPECT_EQ(final.model, param().model_a);
  EXPECT_EQ(final.attempts, 1);
  ExpectUsage(final.usage, Expected(behavior.usage));
  // After the end Next() keeps saying "done".
  const absl::StatusOr<std::optional<std::string>> after = f_.Next(**stream);
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(after->has_value());

  EXPECT_EQ(f_.fake().LastRequest().Header("x-request-id"), "req-test-1");
  EXPECT_EQ(f_.fake().ClientAbortedStreams(), 0);
  EXPECT_EQ(Requests(config.name, param().model_a, "ok"), 1);
}

TEST_P(ProviderTest, AuthenticationFailureIsNotRetriedAndKeepsTheProvidersMessage) {
  Behavior behavior;
  behavior.failure = Failure::kUnauthorized;
  f_.fake().SetBehavior(behavior);
  const core::ProviderConfig config = Config();
  std::unique_ptr<Provider> provider = f_.Create(config);
  ASSERT_NE(provider, nullptr);

  const absl::StatusOr<LlmResponse> response = f_.Complete(*provider, Request());
  EXPECT_EQ(response.status().code(), param().auth_code) << response.status();
  EXPECT_THAT(response.status().message(), HasSubstr(param().auth_text));
  EXPECT_THAT(response.status().message(), HasSubstr(config.name));
  EXPECT_EQ(f_.fake().TotalRequests(), 1);

  const absl::StatusOr<std::unique_ptr<LlmStream>> stream = f_.Stream(*provider, Request());
  EXPECT_EQ(stream.status().code(), param().auth_code) << stream.status();
  EXPECT_THAT(stream.status().message(), HasSubstr(param().auth_text));
  EXPECT_EQ(f_.fake().TotalRequests(), 2);
}

TEST_P(ProviderTest, RateLimitIsRetriedAfterRetryAfter) {
  Behavior behavior;
  behavior.failure = Failure::kRateLimited;
  behavior.fail_first_n = 1;
  behavior.retry_after_seconds = 1;
  f_.fake().SetBehavior(behavior);
  std::unique_ptr<Provider> provider = f_.Create(Config());
  ASSERT_NE(provider, nullptr);

  auto start = std::chrono::steady_clock::now();
  const absl::StatusOr<LlmResponse> response = f_.Complete(*provider, Request());
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->attempts, 2);
  EXPECT_EQ(response->text, behavior.answer);
  EXPECT_GE(SecondsSince(start), 0.9);  // the backoff alone is a few milliseconds
  EXPECT_EQ(f_.fake().TotalRequests(), 2);

  f_.fake().SetBehavior(behavior);  // fail the next first request again
  start = std::chrono::steady_clock::now();
  absl::StatusOr<std::unique_ptr<LlmStream>> stream = f_.Stream(*provider, Request());
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_EQ(f_.Drain(**stream).text, behavior.answer);
  EXPECT_EQ((*stream)->Final().attempts, 2);
  EXPECT_GE(SecondsSince(start), 0.9);
}

TEST_P(ProviderTest, RateLimitWithTheRetriesSpentIsResourceExhausted) {
  Behavior behavior;
  behavior.failure = Failure::kRateLimited;
  behavior.retry_after_seconds = 60;  // longer than max_retry_after: no point waiting
  f_.fake().SetBehavior(behavior);
  std::unique_ptr<Provider> provider = f_.Create(Config());
  ASSERT_NE(provider, nullptr);
  const absl::StatusOr<LlmResponse> response = f_.Complete(*provider, Request());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kResourceExhausted) << response.status();
  EXPECT_EQ(http::RetryAfterOf(response.status()), absl::Seconds(60));
  EXPECT_EQ(f_.fake().TotalRequests(), 1);
}

TEST_P(ProviderTest, ServerErrorIsRetriedThenUnavailable) {
  Behavior behavior;
  behavior.failure = Failure::kServerError;
  f_.fake().SetBehavior(behavior);
  core::ProviderConfig config = Config();
  config.breaker.consecutive_failures = 100;  // the breaker has its own tests
  std::unique_ptr<Provider> provider = f_.Create(config);
  ASSERT_NE(provider, nullptr);

  const absl::StatusOr<LlmResponse> response = f_.Complete(*provider, Request());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
  EXPECT_EQ(http::HttpStatusOf(response.status()), 500);
  EXPECT_THAT(response.status().message(), HasSubstr(param().server_error_text));
  EXPECT_EQ(f_.fake().TotalRequests(), config.retry.max_attempts);
  EXPECT_EQ(AttemptsOf(response.status()), config.retry.max_attempts);
  EXPECT_EQ(Requests(config.name, param().model_a, "unavailable"), 1);

  const absl::StatusOr<std::unique_ptr<LlmStream>> stream = f_.Stream(*provider, Request());
  EXPECT_EQ(stream.status().code(), absl::StatusCode::kUnavailable) << stream.status();
  EXPECT_EQ(f_.fake().TotalRequests(), 2 * config.retry.max_attempts);
}

TEST_P(ProviderTest, ServerErrorThenSuccessIsRetried) {
  Behavior behavior;
  behavior.failure = Failure::kOverloaded;
  behavior.fail_first_n = 2;
  f_.fake().SetBehavior(behavior);
  std::unique_ptr<Provider> provider = f_.Create(Config());
  ASSERT_NE(provider, nullptr);
  const absl::StatusOr<LlmResponse> response = f_.Complete(*provider, Request());
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->attempts, 3);
}

TEST_P(ProviderTest, SilentUpstreamIsDeadlineExceeded) {
  Behavior behavior;
  behavior.failure = Failure::kTimeout;
  f_.fake().SetBehavior(behavior);
  core::ProviderConfig config = Config();
  config.first_byte_timeout = absl::Milliseconds(300);
  config.retry.max_attempts = 1;
  std::unique_ptr<Provider> provider = f_.Create(config);
  ASSERT_NE(provider, nullptr);

  const absl::StatusOr<LlmResponse> response = f_.Complete(*provider, Request());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded) << response.status();

  // The request's own budget binds too, retries included.
  config.first_byte_timeout = absl::Seconds(20);
  config.retry.max_attempts = 3;
  std::unique_ptr<Provider> patient = f_.Create(config);
  ASSERT_NE(patient, nullptr);
  LlmRequest request = Request();
  request.timeout = absl::Milliseconds(400);
  const auto start = std::chrono::steady_clock::now();
  const absl::StatusOr<std::unique_ptr<LlmStream>> stream = f_.Stream(*patient, request);
  EXPECT_EQ(stream.status().code(), absl::StatusCode::kDeadlineExceeded) << stream.status();
  EXPECT_LT(SecondsSince(start), 10.0);
  EXPECT_TRUE(f_.fake().WaitForClientAbortedRequests(2, milliseconds(10000)));
}

TEST_P(ProviderTest, MalformedJsonIsUnavailableAndNotRetried) {
  Behavior behavior;
  behavior.failure = Failure::kMalformedJson;
  f_.fake().SetBehavior(behavior);
  std::unique_ptr<Provider> provider = f_.Create(Config());
  ASSERT_NE(provider, nullptr);

  const absl::StatusOr<LlmResponse> response = f_.Complete(*provider, Request());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
  EXPECT_EQ(http::UpstreamFailureOf(response.status()), http::UpstreamFailure::kProtocol);
  EXPECT_THAT(response.status().message(), HasSubstr("malformed"));
  EXPECT_EQ(f_.fake().TotalRequests(), 1);  // the call may have been billed: no retry

  absl::StatusOr<std::unique_ptr<LlmStream>> stream = f_.Stream(*provider, Request());
  ASSERT_TRUE(stream.ok()) << stream.status();
  const test_support::Drained drained = f_.Drain(**stream);
  EXPECT_EQ(drained.status.code(), absl::StatusCode::kUnavailable) << drained.status;
  EXPECT_EQ((*stream)->Final().finish_reason, "error");
}

TEST_P(ProviderTest, TruncatedStreamIsDataLossWithTheUsageSoFar) {
  Behavior behavior;
  behavior.answer = "one two three four five six seven eight";
  behavior.stream_chunks = 4;
  behavior.truncate_after_chunks = 2;
  behavior.failure = Failure::kTruncatedStream;
  f_.fake().SetBehavior(behavior);
  const core::ProviderConfig config = Config();
  std::unique_ptr<Provider> provider = f_.Create(config);
  ASSERT_NE(provider, nullptr);

  absl::StatusOr<std::unique_ptr<LlmStream>> stream = f_.Stream(*provider, Request());
  ASSERT_TRUE(stream.ok()) << stream.status();
  const test_support::Drained drained = f_.Drain(**stream);
  EXPECT_EQ(drained.status.code(), absl::StatusCode::kDataLoss) << drained.status;
  EXPECT_EQ(drained.deltas.size(), 2u);
  EXPECT_TRUE(absl::StartsWith(behavior.answer, drained.text));
  const LlmResponse& final = (*stream)->Final();
  EXPECT_EQ(final.finish_reason, "error");
  EXPECT_EQ(final.text, drained.text);
  if (reports_input_early()) {
    EXPECT_EQ(final.usage.input_tokens, behavior.usage.input_tokens);  // from message_start
  } else {
    EXPECT_GT(final.usage.input_tokens, 0);  // estimated: OpenAI reports usage at the end
  }
  EXPECT_GE(final.usage.output_tokens, 2);
  EXPECT_EQ(Requests(config.name, param().model_a, "data_loss"), 1);

  // A non-streaming body cut short is DataLoss too, and not retried.
  const absl::StatusOr<LlmResponse> response = f_.Complete(*provider, Request());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDataLoss) << response.status();
  EXPECT_EQ(f_.fake().TotalRequests(), 2);
}

TEST_P(ProviderTest, MidStreamErrorEndsTheStreamAfterTheTextSoFar) {
  Behavior behavior;
  behavior.failure = Failure::kMidStreamError;
  behavior.stream_chunks = 4;
  behavior.truncate_after_chunks = 1;
  f_.fake().SetBehavior(behavior);
  std::unique_ptr<Provider> provider = f_.Create(Config());
  ASSERT_NE(provider, nullptr);

  absl::StatusOr<std::unique_ptr<LlmStream>> stream = f_.Stream(*provider, Request());
  ASSERT_TRUE(stream.ok()) << stream.status();
  const test_support::Drained drained = f_.Drain(**stream);
  EXPECT_EQ(drained.status.code(), absl::StatusCode::kUnavailable) << drained.status;
  EXPECT_EQ(drained.deltas.size(), 1u);
  EXPECT_GE((*stream)->Final().usage.output_tokens, 1);
}

TEST_P(ProviderTest, FallsBackToTheSecondModelWhenTheFirstFails) {
  Behavior behavior;
  behavior.failure = Failure::kServerError;
  behavior.fail_first_n = 1;
  f_.fake().SetBehavior(behavior);
  core::ProviderConfig config = Config();
  config.retry.max_attempts = 1;
  std::unique_ptr<Provider> provider = f_.Create(config);
  ASSERT_NE(provider, nullptr);
  absl::StatusOr<std::unique_ptr<Provider>> chain = NewFallbackProvider(
      "sonnet", {{provider.get(), param().model_a}, {provider.get(), param().model_b}},
      &f_.registry());
  ASSERT_TRUE(chain.ok()) << chain.status();

  const absl::StatusOr<LlmResponse> response = f_.Complete(**chain, Request());
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->model, param().model_b);
  EXPECT_EQ(response->attempts, 2);
  EXPECT_THAT(RecordedModels(f_.fake()), ElementsAre(param().model_a, param().model_b));

  f_.fake().ResetStats();
  f_.fake().SetBehavior(behavior);
  absl::StatusOr<std::unique_ptr<LlmStream>> stream = f_.Stream(**chain, Request());
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_EQ(f_.Drain(**stream).text, behavior.answer);
  EXPECT_EQ((*stream)->Final().model, param().model_b);
  EXPECT_EQ((*stream)->Final().attempts, 2);
  EXPECT_THAT(RecordedModels(f_.fake()), ElementsAre(param().model_a, param().model_b));
  EXPECT_EQ(f_.Counter("mangaassist_llm_fallbacks_total",
                       {{"chain", "sonnet"}, {"from_model", param().model_a}}),
            2);
}

TEST_P(ProviderTest, RequestErrorsDoNotFallBack) {
  Behavior behavior;
  behavior.failure = Failure::kUnauthorized;
  f_.fake().SetBehavior(behavior);
  std::unique_ptr<Provider> provider = f_.Create(Config());
  ASSERT_NE(provider, nullptr);
  absl::StatusOr<std::unique_ptr<Provider>> chain = NewFallbackProvider(
      "sonnet", {{provider.get(), param().model_a}, {provider.get(), param().model_b}});
  ASSERT_TRUE(chain.ok()) << chain.status();
  const absl::StatusOr<LlmResponse> response = f_.Complete(**chain, Request());
  EXPECT_EQ(response.status().code(), param().auth_code) << response.status();
  EXPECT_EQ(f_.fake().TotalRequests(), 1);
}

TEST_P(ProviderTest, MalformedAnswersCountAgainstTheBreaker) {
  Behavior behavior;
  behavior.failure = Failure::kMalformedJson;
  f_.fake().SetBehavior(behavior);
  core::ProviderConfig config = Config();
  config.retry.max_attempts = 1;
  config.breaker.consecutive_failures = 2;
  config.breaker.cooldown = absl::Seconds(10);
  std::unique_ptr<Provider> provider = f_.Create(config);
  ASSERT_NE(provider, nullptr);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(f_.Complete(*provider, Request()).status().code(), absl::StatusCode::kUnavailable);
  }
  EXPECT_EQ(f_.BreakerState(config.name), 1);  // open: a 200 with garbage is not health
  const absl::StatusOr<LlmResponse> refused = f_.Complete(*provider, Request());
  EXPECT_EQ(http::UpstreamFailureOf(refused.status()), http::UpstreamFailure::kCircuitOpen);
  EXPECT_EQ(f_.fake().TotalRequests(), 2);
}

TEST_P(ProviderTest, BreakerOpensThenAHalfOpenProbeClosesIt) {
  Behavior behavior;
  behavior.failure = Failure::kServerError;
  f_.fake().SetBehavior(behavior);
  core::ProviderConfig config = Config();
  config.retry.max_attempts = 1;
  config.breaker.consecutive_failures = 2;
  config.breaker.cooldown = absl::Seconds(10);
  std::unique_ptr<Provider> provider = f_.Create(config);
  ASSERT_NE(provider, nullptr);

  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(f_.Complete(*provider, Request()).status().code(), absl::StatusCode::kUnavailable);
  }
  EXPECT_EQ(f_.BreakerState(config.name), 1);  // open
  const absl::StatusOr<LlmResponse> refused = f_.Complete(*provider, Request());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(http::UpstreamFailureOf(refused.status()), http::UpstreamFailure::kCircuitOpen);
  EXPECT_EQ(AttemptsOf(refused.status()), 0);
  const absl::StatusOr<std::unique_ptr<LlmStream>> refused_stream = f_.Stream(*provider, Request());
  EXPECT_EQ(http::UpstreamFailureOf(refused_stream.status()), http::UpstreamFailure::kCircuitOpen);
  EXPECT_EQ(f_.fake().TotalRequests(), 2);  // nothing reached the provider while open

  f_.fake().SetBehavior(Behavior{});
  f_.clock().Advance(absl::Seconds(11));
  const absl::StatusOr<LlmResponse> probe = f_.Complete(*provider, Request());
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_EQ(f_.BreakerState(config.name), 0);  // closed
  EXPECT_EQ(f_.fake().TotalRequests(), 3);
}

TEST_P(ProviderTest, AFailedHalfOpenProbeReopensTheBreaker) {
  Behavior behavior;
  behavior.failure = Failure::kServerError;
  f_.fake().SetBehavior(behavior);
  core::ProviderConfig config = Config();
  config.retry.max_attempts = 1;
  config.breaker.consecutive_failures = 1;
  config.breaker.cooldown = absl::Seconds(10);
  std::unique_ptr<Provider> provider = f_.Create(config);
  ASSERT_NE(provider, nullptr);

  EXPECT_FALSE(f_.Complete(*provider, Request()).ok());
  EXPECT_EQ(f_.BreakerState(config.name), 1);
  f_.clock().Advance(absl::Seconds(11));
  // The probe is a stream: its verdict comes from how the stream starts.
  const absl::StatusOr<std::unique_ptr<LlmStream>> probe = f_.Stream(*provider, Request());
  EXPECT_EQ(probe.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(f_.BreakerState(config.name), 1);  // open again
  EXPECT_EQ(http::UpstreamFailureOf(f_.Complete(*provider, Request()).status()),
            http::UpstreamFailure::kCircuitOpen);
  EXPECT_EQ(f_.fake().TotalRequests(), 2);
}

TEST_P(ProviderTest, CancelMidStreamAbortsTheUpstreamCallAndKeepsTheUsageSoFar) {
  Behavior behavior;
  behavior.answer.clear();
  for (int i = 0; i < 40; ++i) behavior.answer += "word" + std::to_string(i) + " ";
  behavior.stream_chunks = 40;
  behavior.chunk_interval = milliseconds(20);
  f_.fake().SetBehavior(behavior);
  const core::ProviderConfig config = Config();
  std::unique_ptr<Provider> provider = f_.Create(config);
  ASSERT_NE(provider, nullptr);

  absl::StatusOr<std::unique_ptr<LlmStream>> stream = f_.Stream(*provider, Request());
  ASSERT_TRUE(stream.ok()) << stream.status();
  const absl::StatusOr<std::optional<std::string>> first = f_.Next(**stream);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->has_value());
  (*stream)->Cancel();
  (*stream)->Cancel();  // idempotent

  EXPECT_TRUE(f_.fake().WaitForClientAbortedStreams(1, milliseconds(10000)));
  const absl::StatusOr<std::optional<std::string>> after = f_.Next(**stream);
  EXPECT_EQ(after.status().code(), absl::StatusCode::kCancelled) << after.status();
  const LlmResponse& final = (*stream)->Final();
  EXPECT_EQ(final.finish_reason, "error");
  if (reports_input_early()) {
    EXPECT_EQ(final.usage.input_tokens, behavior.usage.input_tokens);
  } else {
    EXPECT_GT(final.usage.input_tokens, 0);
  }
  EXPECT_GE(final.usage.output_tokens, 1);
  EXPECT_EQ(Requests(config.name, param().model_a, "cancelled"), 1);
}

TEST_P(ProviderTest, DroppingAStreamCancelsTheUpstreamCall) {
  Behavior behavior;
  behavior.answer = std::string(200, 'x');
  behavior.stream_chunks = 40;
  behavior.chunk_interval = milliseconds(20);
  f_.fake().SetBehavior(behavior);
  const core::ProviderConfig config = Config();
  std::unique_ptr<Provider> provider = f_.Create(config);
  ASSERT_NE(provider, nullptr);
  {
    absl::StatusOr<std::unique_ptr<LlmStream>> stream = f_.Stream(*provider, Request());
    ASSERT_TRUE(stream.ok()) << stream.status();
    ASSERT_TRUE(f_.Next(**stream).ok());
  }
  EXPECT_TRUE(f_.fake().WaitForClientAbortedStreams(1, milliseconds(10000)));
  EXPECT_EQ(Requests(config.name, param().model_a, "cancelled"), 1);
}

INSTANTIATE_TEST_SUITE_P(
    Providers, ProviderTest,
    ::testing::Values(Case{"anthropic", "claude-3-5-haiku-20241022", "claude-3-5-sonnet-20241022",
                           absl::StatusCode::kUnauthenticated, "invalid x-api-key",
                           "Internal server error"},
                      Case{"openai", "llama-3.1-8b-instruct", "qwen2.5-7b-instruct",
                           absl::StatusCode::kUnauthenticated, "Incorrect API key provided",
                           "The server had an error"},
                      Case{"bedrock", "anthropic.claude-3-haiku-20240307-v1:0",
                           "anthropic.claude-3-5-sonnet-20240620-v1:0",
                           absl::StatusCode::kPermissionDenied,
                           "security token included in the request is invalid",
                           "The server encountered an error"}),
    CaseName);

}  // namespace
}  // namespace mangaassist::llm
