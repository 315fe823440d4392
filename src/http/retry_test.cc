#include "http/retry.h"

// clang-format off
#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).
// clang-format on

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>

#include "core/clock.h"
#include "gtest/gtest.h"
#include "http/circuit_breaker.h"
#include "http/upstream_client.h"
#include "http/upstream_test_support.h"
#include "tests/support/fake_upstream.h"

namespace mangaassist::http {
namespace {

namespace asio = boost::asio;
using ::mangaassist::testing::Behavior;
using ::mangaassist::testing::FakeUpstream;
using test_support::RunTask;

constexpr char kChatPath[] = "/v1/chat/completions";
constexpr char kChatBody[] = R"({"model":"gpt-test","messages":[{"role":"user","content":"hi"}]})";
constexpr char kStreamBody[] =
    R"({"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"hi"}]})";

absl::Time Now() { return absl::FromUnixSeconds(1'700'000'000); }

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

absl::Status HttpError(int status) { return StatusFromHttpResponse(status, {}, "", Now()); }

TEST(RetryClassificationTest, RetryableHttpStatuses) {
  for (int status : {429, 500, 502, 503, 504, 529}) EXPECT_TRUE(IsRetryableHttpStatus(status));
  for (int status : {200, 400, 401, 403, 404, 409, 413, 422, 501}) {
    EXPECT_FALSE(IsRetryableHttpStatus(status)) << status;
  }
}

TEST(RetryClassificationTest, MapsHttpStatusesToCodes) {
  EXPECT_TRUE(HttpError(200).ok());
  EXPECT_TRUE(HttpError(204).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(HttpError(400)));
  EXPECT_TRUE(absl::IsUnauthenticated(HttpError(401)));
  EXPECT_TRUE(absl::IsPermissionDenied(HttpError(403)));
  EXPECT_TRUE(absl::IsNotFound(HttpError(404)));
  EXPECT_TRUE(absl::IsResourceExhausted(HttpError(429)));
  EXPECT_TRUE(absl::IsUnavailable(HttpError(500)));
  EXPECT_TRUE(absl::IsUnavailable(HttpError(529)));
  EXPECT_TRUE(absl::IsDeadlineExceeded(HttpError(504)));
  EXPECT_TRUE(absl::IsFailedPrecondition(HttpError(409)));

  const absl::Status status = StatusFromHttpResponse(
      429, {{"Retry-After", "7"}}, R"({"error":{"type":"rate_limit_error"}})", Now());
  EXPECT_EQ(UpstreamFailureOf(status), UpstreamFailure::kHttpStatus);
  EXPECT_EQ(HttpStatusOf(status), 429);
  EXPECT_EQ(RetryAfterOf(status), absl::Seconds(7));
  EXPECT_NE(status.message().find("rate_limit_error"), absl::string_view::npos);
}

TEST(RetryClassificationTest, RetryableAndBreakerFailures) {
  EXPECT_TRUE(IsRetryable(HttpError(429)));
  EXPECT_TRUE(IsRetryable(HttpError(503)));
  EXPECT_TRUE(IsRetryable(HttpError(529)));
  EXPECT_FALSE(IsRetryable(HttpError(401)));
  EXPECT_FALSE(IsRetryable(HttpError(400)));
  EXPECT_FALSE(IsBreakerFailure(HttpError(429)));
  EXPECT_FALSE(IsBreakerFailure(HttpError(401)));
  EXPECT_TRUE(IsBreakerFailure(HttpError(500)));
  EXPECT_TRUE(IsBreakerFailure(HttpError(529)));

  auto with = [](absl::Status s, UpstreamFailure f) { return WithUpstreamFailure(s, f); };
  const absl::Status refused =
      with(absl::UnavailableError("refused"), UpstreamFailure::kConnection);
  const absl::Status first_byte =
      with(absl::DeadlineExceededError("slow"), UpstreamFailure::kFirstByteTimeout);
  const absl::Status total = with(absl::DeadlineExceededError("late"), UpstreamFailure::kDeadline);
  const absl::Status tls = with(absl::UnavailableError("tls"), UpstreamFailure::kTlsVerify);
  const absl::Status cut = with(absl::DataLossError("cut"), UpstreamFailure::kTruncated);
  const absl::Status cancelled = with(absl::CancelledError("gone"), UpstreamFailure::kCancelled);
  const absl::Status open = with(absl::UnavailableError("open"), UpstreamFailure::kCircuitOpen);
  EXPECT_EQ(UpstreamFailureOf(refused), UpstreamFailure::kConnection);
  EXPECT_TRUE(IsRetryable(refused));
  EXPECT_TRUE(IsRetryable(first_byte));
  EXPECT_FALSE(IsRetryable(total));
  EXPECT_FALSE(IsRetryable(tls));
  EXPECT_FALSE(IsRetryable(cut));
  EXPECT_FALSE(IsRetryable(cancelled));
  EXPECT_FALSE(IsRetryable(open));
  EXPECT_TRUE(IsBreakerFailure(refused));
  EXPECT_TRUE(IsBreakerFailure(total));
  EXPECT_TRUE(IsBreakerFailure(cut));
  EXPECT_FALSE(IsBreakerFailure(cancelled));
  EXPECT_FALSE(IsBreakerFailure(open));
  // Statuses from elsewhere: Unavailable retries, others do not.
  EXPECT_TRUE(IsRetryable(absl::UnavailableError("x")));
  EXPECT_FALSE(IsRetryable(absl::InvalidArgumentError("x")));
  EXPECT_FALSE(IsRetryable(absl::OkStatus()));
  EXPECT_EQ(UpstreamFailureOf(absl::UnavailableError("x")), UpstreamFailure::kNone);
}

TEST(RetryAfterTest, ParsesSecondsAndHttpDates) {
  EXPECT_EQ(ParseRetryAfter("5", Now()), absl::Seconds(5));
  EXPECT_EQ(ParseRetryAfter(" 0 ", Now()), absl::ZeroDuration());
  const absl::Time now =
      absl::FromCivil(absl::CivilSecond(2015, 10, 21, 7, 28, 0), absl::UTCTimeZone());
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:28:30 GMT", now), absl::Seconds(30));
  EXPECT_EQ(ParseRetryAfter("Wednesday, 21-Oct-15 07:29:00 GMT", now), absl::Seconds(60));
  EXPECT_EQ(ParseRetryAfter("Wed Oct 21 07:28:02 2015", now), absl::Seconds(2));
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:00:00 GMT", now), absl::ZeroDuration());
  EXPECT_EQ(ParseRetryAfter("", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("-3", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("soon", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("99999999999", now), std::nullopt);
}

TEST(RetryAfterTest, PrefersRetryAfterMs) {
  EXPECT_EQ(RetryAfterFromHeaders({{"retry-after", "3"}, {"Retry-After-Ms", "250"}}, Now()),
            absl::Milliseconds(250));
  EXPECT_EQ(RetryAfterFromHeaders({{"Retry-After", "3"}}, Now()), absl::Seconds(3));
  EXPECT_EQ(RetryAfterFromHeaders({}, Now()), std::nullopt);
}

TEST(BackoffTest, FullJitterStaysWithinTheExponentialCap) {
  RetryPolicy policy;
  policy.base_backoff = absl::Milliseconds(100);
  policy.max_backoff = absl::Seconds(1);
  std::mt19937_64 rng(42);
  for (int retry = 0; retry < 8; ++retry) {
    const absl::Duration cap =
        std::min(policy.max_backoff, policy.base_backoff * (int64_t{1} << retry));
    absl::Duration sum;
    absl::Duration largest;
    constexpr int kSamples = 2000;
    for (int i = 0; i < kSamples; ++i) {
      const absl::Duration d = FullJitterBackoff(policy, retry, rng);
      ASSERT_GE(d, absl::ZeroDuration());
      ASSERT_LE(d, cap);
      sum += d;
      largest = std::max(largest, d);
    }
    // Uniform over [0, cap]: the mean is near cap/2 and draws reach near the cap.
    const double mean_fraction = absl::FDivDuration(sum / kSamples, cap);
    EXPECT_NEAR(mean_fraction, 0.5, 0.05) << "retry " << retry;
    EXPECT_GT(absl::FDivDuration(largest, cap), 0.95) << "retry " << retry;
  }
  // Huge retry numbers neither overflow nor exceed the cap.
  EXPECT_LE(FullJitterBackoff(policy, 1000, rng), policy.max_backoff);
  policy.base_backoff = absl::ZeroDuration();
  EXPECT_EQ(FullJitterBackoff(policy, 3, rng), absl::ZeroDuration());
}

TEST(BackoffTest, RetryAfterWinsWhenLonger) {
  RetryPolicy policy;
  policy.base_backoff = absl::Milliseconds(10);
  policy.max_backoff = absl::Milliseconds(100);
  std::mt19937_64 rng(7);
  EXPECT_EQ(RetryDelay(policy, 0, absl::Seconds(2), rng), absl::Seconds(2));
  for (int i = 0; i < 100; ++i) {
    const absl::Duration d = RetryDelay(policy, 5, absl::Milliseconds(1), rng);
    EXPECT_GE(d, absl::Milliseconds(1));
    EXPECT_LE(d, absl::Milliseconds(100));
  }
}

class SendWithRetryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_ = FakeUpstream::Start();
    ASSERT_NE(fake_, nullptr);
    absl::StatusOr<std::unique_ptr<UpstreamClient>> client = NewUpstreamClient({});
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
    policy_.max_attempts = 3;
    policy_.base_backoff = absl::Milliseconds(5);
    policy_.max_backoff = absl::Milliseconds(20);
  }

  UpstreamRequest Chat(bool stream = false) const {
    UpstreamRequest request;
    request.url = fake_->base_url() + kChatPath;
    request.headers = {{"Content-Type", "application/json"}};
    request.body = stream ? kStreamBody : kChatBody;
    return request;
  }

  RetryOptions Options() {
    RetryOptions options;
    options.rng = absl::BitGenRef(rng_);
    options.trace = &trace_;
    return options;
  }

  void FailFirst(Behavior::Failure failure, int n, int retry_after_seconds = 1) {
    Behavior behavior;
    behavior.failure = failure;
    behavior.fail_first_n = n;
    behavior.retry_after_seconds = retry_after_seconds;
    fake_->SetBehavior(behavior);
  }

  std::mt19937_64 rng_{1};
  asio::io_context ioc_;
  RetryPolicy policy_;
  RetryTrace trace_;
  std::unique_ptr<FakeUpstream> fake_;
  std::unique_ptr<UpstreamClient> client_;
};

TEST_F(SendWithRetryTest, RetriesServerErrorsUntilSuccess) {
  FailFirst(Behavior::Failure::kServerError, 2);
  absl::StatusOr<UpstreamResponse> response =
      RunTask(ioc_, SendWithRetry(client_.get(), Chat(), policy_, Options()));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(trace_.attempts, 3);
  EXPECT_EQ(fake_->RequestCount(kChatPath), 3);
  EXPECT_LE(trace_.waited, absl::Milliseconds(5 + 10));  // full jitter under 5ms, then 10ms
}

TEST_F(SendWithRetryTest, HonoursRetryAfterOn429) {
  FailFirst(Behavior::Failure::kRateLimited, 1, /*retry_after_seconds=*/1);
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<UpstreamResponse> response =
      RunTask(ioc_, SendWithRetry(client_.get(), Chat(), policy_, Options()));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(trace_.attempts, 2);
  EXPECT_EQ(trace_.waited, absl::Seconds(1));  // Retry-After beats the ≤5ms backoff
  EXPECT_GE(SecondsSince(start), 0.95);
}

TEST_F(SendWithRetryTest, GivesUpWhenRetryAfterExceedsThePolicyOrTheDeadline) {
  FailFirst(Behavior::Failure::kRateLimited, 1, /*retry_after_seconds=*/5);
  policy_.max_retry_after = absl::Seconds(2);
  absl::StatusOr<UpstreamResponse> response =
      RunTask(ioc_, SendWithRetry(client_.get(), Chat(), policy_, Options()));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 429);
  EXPECT_EQ(trace_.attempts, 1);

  FailFirst(Behavior::Failure::kRateLimited, 1, /*retry_after_seconds=*/2);
  policy_.max_retry_after = absl::Seconds(30);
  UpstreamRequest request = Chat();
  request.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  const auto start = std::chrono::steady_clock::now();
  response = RunTask(ioc_, SendWithRetry(client_.get(), request, policy_, Options()));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 429);
  EXPECT_EQ(trace_.attempts, 1);
  EXPECT_LT(SecondsSince(start), 0.9);
}

TEST_F(SendWithRetryTest, RetriesAnthropicOverloaded) {
  FailFirst(Behavior::Failure::kOverloaded, 1);
  UpstreamRequest request;
  request.url = fake_->base_url() + "/v1/messages";
  request.headers = {{"Content-Type", "application/json"}, {"anthropic-version", "2023-06-01"}};
  request.body =
      R"({"model":"claude","max_tokens":16,"messages":[{"role":"user","content":"hi"}]})";
  absl::StatusOr<UpstreamResponse> response =
      RunTask(ioc_, SendWithRetry(client_.get(), request, policy_, Options()));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(trace_.attempts, 2);
}

TEST_F(SendWithRetryTest, DoesNotRetryUnauthorized) {
  FailFirst(Behavior::Failure::kUnauthorized, 0);
  absl::StatusOr<UpstreamResponse> response =
      RunTask(ioc_, SendWithRetry(client_.get(), Chat(), policy_, Options()));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 401);
  EXPECT_EQ(trace_.attempts, 1);
  EXPECT_EQ(fake_->RequestCount(kChatPath), 1);
}

TEST_F(SendWithRetryTest, ReturnsTheLastResponseWhenAttemptsRunOut) {
  FailFirst(Behavior::Failure::kServerError, 0);
  absl::StatusOr<UpstreamResponse> response =
      RunTask(ioc_, SendWithRetry(client_.get(), Chat(), policy_, Options()));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 500);
  EXPECT_EQ(trace_.attempts, 3);
  EXPECT_EQ(fake_->RequestCount(kChatPath), 3);
}

TEST_F(SendWithRetryTest, RetriesFirstByteTimeouts) {
  FailFirst(Behavior::Failure::kTimeout, 1);  // the first request hangs
  UpstreamRequest request = Chat();
  request.timeouts = UpstreamTimeouts{absl::Seconds(5), absl::Milliseconds(300), absl::Seconds(30)};
  absl::StatusOr<UpstreamResponse> response =
      RunTask(ioc_, SendWithRetry(client_.get(), request, policy_, Options()));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(trace_.attempts, 2);
}

TEST_F(SendWithRetryTest, RetriesConnectionErrors) {
  UpstreamRequest request = Chat();
  const uint16_t port = fake_->port();
  fake_->Stop();
  request.url = "http://127.0.0.1:" + std::to_string(port) + kChatPath;
  absl::StatusOr<UpstreamResponse> response =
      RunTask(ioc_, SendWithRetry(client_.get(), request, policy_, Options()));
  EXPECT_TRUE(absl::IsUnavailable(response.status())) << response.status();
  EXPECT_EQ(UpstreamFailureOf(response.status()), UpstreamFailure::kConnection);
  EXPECT_EQ(trace_.attempts, 3);
}

TEST_F(SendWithRetryTest, OpenRetriesUntilTheStreamStarts) {
  FailFirst(Behavior::Failure::kServerError, 1);
  absl::StatusOr<std::unique_ptr<UpstreamStream>> stream =
      RunTask(ioc_, OpenWithRetry(client_.get(), Chat(/*stream=*/true), policy_, Options()));
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_EQ((*stream)->status(), 200);
  EXPECT_EQ(trace_.attempts, 2);
  absl::StatusOr<std::string> body = RunTask(ioc_, (*stream)->ReadToEnd(1 << 20));
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_NE(body->find("[DONE]"), std::string::npos);
}

TEST_F(SendWithRetryTest, NeverRetriesAStreamThatHasStarted) {
  FailFirst(Behavior::Failure::kTruncatedStream, 0);
  absl::StatusOr<std::unique_ptr<UpstreamStream>> stream =
      RunTask(ioc_, OpenWithRetry(client_.get(), Chat(/*stream=*/true), policy_, Options()));
  ASSERT_TRUE(stream.ok()) << stream.status();
  absl::StatusOr<std::string> body = RunTask(ioc_, (*stream)->ReadToEnd(1 << 20));
  EXPECT_TRUE(absl::IsDataLoss(body.status())) << body.status();
  EXPECT_EQ(trace_.attempts, 1);
  EXPECT_EQ(fake_->RequestCount(kChatPath), 1);
}

TEST_F(SendWithRetryTest, OpenReturnsTheLastErrorResponseWithItsBody) {
  FailFirst(Behavior::Failure::kServerError, 0);
  absl::StatusOr<std::unique_ptr<UpstreamStream>> stream =
      RunTask(ioc_, OpenWithRetry(client_.get(), Chat(/*stream=*/true), policy_, Options()));
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_EQ((*stream)->status(), 500);
  EXPECT_EQ(trace_.attempts, 3);
  absl::StatusOr<std::string> body = RunTask(ioc_, (*stream)->ReadToEnd(1 << 20));
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_NE(body->find("server_error"), std::string::npos);
}

TEST_F(SendWithRetryTest, CircuitBreakerStopsRetriesAndRefusesCalls) {
  core::ManualClock clock;
  CircuitBreakerConfig config;
  config.consecutive_failures = 2;
  config.error_rate = 0;
  config.cooldown = absl::Seconds(10);
  CircuitBreaker breaker("fake", config, &clock);
  RetryOptions options = Options();
  options.breaker = &breaker;

  FailFirst(Behavior::Failure::kServerError, 0);
  absl::StatusOr<UpstreamResponse> response =
      RunTask(ioc_, SendWithRetry(client_.get(), Chat(), policy_, options));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 500);  // the last real outcome, not "circuit open"
  EXPECT_EQ(trace_.attempts, 2);
  EXPECT_EQ(breaker.state(), CircuitBreaker::State::kOpen);

  response = RunTask(ioc_, SendWithRetry(client_.get(), Chat(), policy_, options));
  EXPECT_TRUE(absl::IsUnavailable(response.status())) << response.status();
  EXPECT_EQ(UpstreamFailureOf(response.status()), UpstreamFailure::kCircuitOpen);
  EXPECT_FALSE(IsRetryable(response.status()));
  EXPECT_EQ(fake_->RequestCount(kChatPath), 2);

  // After the cooldown a streaming probe goes out; the breaker closes when its body ends.
  fake_->SetBehavior(Behavior{});
  clock.Advance(absl::Seconds(10));
  absl::StatusOr<std::unique_ptr<UpstreamStream>> stream =
      RunTask(ioc_, OpenWithRetry(client_.get(), Chat(/*stream=*/true), policy_, options));
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_EQ(breaker.state(), CircuitBreaker::State::kHalfOpen);
  ASSERT_TRUE(RunTask(ioc_, (*stream)->ReadToEnd(1 << 20)).ok());
  EXPECT_EQ(breaker.state(), CircuitBreaker::State::kClosed);
}

TEST_F(SendWithRetryTest, AbandonedProbeStreamFreesTheProbeSlot) {
  core::ManualClock clock;
  CircuitBreakerConfig config;
  config.consecutive_failures = 1;
  config.error_rate = 0;
  CircuitBreaker breaker("fake", config, &clock);
  breaker.RecordFailure();
  clock.Advance(config.cooldown);
  RetryOptions options = Options();
  options.breaker = &breaker;
  absl::StatusOr<std::unique_ptr<UpstreamStream>> stream =
      RunTask(ioc_, OpenWithRetry(client_.get(), Chat(/*stream=*/true), policy_, options));
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_FALSE(breaker.Allow());  // the probe slot is taken
  stream->reset();                // the client went away
  EXPECT_TRUE(breaker.Allow());
  EXPECT_EQ(breaker.state(), CircuitBreaker::State::kHalfOpen);
}

}  // namespace
}  // namespace mangaassist::http
