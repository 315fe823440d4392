#include "http/retry.h"

// clang-format off
#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).
// clang-format on

#include <algorithm>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <string>

#include "absl/random/distributions.h"
#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "core/strings.h"

namespace mangaassist::http {

namespace asio = boost::asio;
using ErrorCode = boost::system::error_code;

namespace {

constexpr size_t kQuotedBodyBytes = 300;

absl::BitGenRef RngFor(const RetryOptions& options) {
  // Looked up at each use, not cached across a suspension: should the coroutine ever resume on
  // another thread, it still draws from that thread's own generator.
  thread_local absl::BitGen generator;
  return options.rng.has_value() ? *options.rng : absl::BitGenRef(generator);
}

void Report(CircuitBreaker* breaker, const absl::Status& status) {
  if (breaker == nullptr) return;
  if (status.ok()) {
    breaker->RecordSuccess();
  } else if (IsBreakerFailure(status)) {
    breaker->RecordFailure();
  } else if (absl::IsCancelled(status)) {
    breaker->RecordAbandoned();
  } else {
    breaker->RecordSuccess();  // e.g. a 400 or 429: the provider is up
  }
}

absl::Status CircuitOpenError(const CircuitBreaker& breaker) {
  return WithUpstreamFailure(
      absl::UnavailableError("circuit breaker '" + breaker.name() + "' is open"),
      UpstreamFailure::kCircuitOpen);
}

// Whether another attempt may follow the failure `status` (attempt `attempt`, 1-based), and
// after which wait.
std::optional<absl::Duration> NextWait(const UpstreamRequest& request, const RetryPolicy& policy,
                                       const RetryOptions& options, const absl::Status& status,
                                       int attempt) {
  if (attempt >= policy.max_attempts || !IsRetryable(status)) return std::nullopt;
  const std::optional<absl::Duration> retry_after = RetryAfterOf(status);
  if (retry_after.has_value() && *retry_after > policy.max_retry_after) return std::nullopt;
  const absl::Duration delay = RetryDelay(policy, attempt - 1, retry_after, RngFor(options));
  if (request.deadline.has_value() &&
      std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(delay) >= *request.deadline) {
    return std::nullopt;
  }
  return delay;
}

// Waits `delay` on the caller's executor; false when the wait was cancelled.
asio::awaitable<bool> Sleep(absl::Duration delay) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(absl::ToChronoNanoseconds(delay));
  ErrorCode ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  co_return !ec;
}

// A 2xx stream that reports to the breaker when its body ends: success at the end, the
// classification of an error, abandoned when dropped early (the client went away).
class BreakerReportingStream final : public UpstreamStream {
 public:
  BreakerReportingStream(std::unique_ptr<UpstreamStream> inner, CircuitBreaker* breaker)
      : inner_(std::move(inner)), breaker_(breaker) {}
  ~BreakerReportingStream() override {
    if (!reported_) breaker_->RecordAbandoned();
  }

  int status() const override { return inner_->status(); }
  const UpstreamHeaders& headers() const override { return inner_->headers(); }
  int64_t bytes_read() const override { return inner_->bytes_read(); }
  void Cancel() override { inner_->Cancel(); }

  asio::awaitable<absl::StatusOr<std::string>> ReadChunk() override {
    absl::StatusOr<std::string> chunk = co_await inner_->ReadChunk();
    if (!chunk.ok() && !reported_) {
      reported_ = true;
      if (absl::IsOutOfRange(chunk.status())) {
        breaker_->RecordSuccess();
      } else {
        Report(breaker_, chunk.status());
      }
    }
    co_return chunk;
  }

 private:
  std::unique_ptr<UpstreamStream> inner_;
  CircuitBreaker* breaker_;
  bool reported_ = false;
};

}  // namespace

bool IsRetryableHttpStatus(int status) {
  switch (status) {
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
    case 529:
      return true;
    default:
      return false;
  }
}

bool IsRetryable(const absl::Status& status) {
  switch (UpstreamFailureOf(status)) {
    case UpstreamFailure::kConnection:
    case UpstreamFailure::kFirstByteTimeout:
      return true;
    case UpstreamFailure::kHttpStatus: {
      const std::optional<int> http_status = HttpStatusOf(status);
      return http_status.has_value() && IsRetryableHttpStatus(*http_status);
    }
    case UpstreamFailure::kDeadline:
    case UpstreamFailure::kTlsVerify:
    case UpstreamFailure::kProtocol:
    case UpstreamFailure::kTruncated:
    case UpstreamFailure::kCancelled:
    case UpstreamFailure::kCircuitOpen:
      return false;
    case UpstreamFailure::kNone:
      break;
  }
  return absl::IsUnavailable(status);
}

bool IsBreakerFailure(const absl::Status& status) {
  switch (UpstreamFailureOf(status)) {
    case UpstreamFailure::kConnection:
    case UpstreamFailure::kFirstByteTimeout:
    case UpstreamFailure::kDeadline:
    case UpstreamFailure::kTlsVerify:
    case UpstreamFailure::kProtocol:
    case UpstreamFailure::kTruncated:
      return true;
    case UpstreamFailure::kHttpStatus: {
      const std::optional<int> http_status = HttpStatusOf(status);
      return http_status.has_value() && *http_status >= 500;
    }
    case UpstreamFailure::kCancelled:
    case UpstreamFailure::kCircuitOpen:
      return false;
    case UpstreamFailure::kNone:
      break;
  }
  return absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status) ||
         absl::IsDataLoss(status);
}

std::optional<absl::Duration> ParseRetryAfter(std::string_view value, absl::Time now) {
  const absl::string_view v = absl::StripAsciiWhitespace(core::ToAbsl(value));
  if (v.empty()) return std::nullopt;
  if (std::all_of(v.begin(), v.end(), [](char c) { return absl::ascii_isdigit(c); })) {
    int64_t seconds = 0;
    if (v.size() > 9 || !absl::SimpleAtoi(v, &seconds)) return std::nullopt;
    return absl::Seconds(seconds);
  }
  // RFC 9110 §5.6.7: IMF-fixdate, then the obsolete RFC 850 and asctime forms.
  static constexpr const char* kFormats[] = {
      "%a, %d %b %Y %H:%M:%S GMT",
      "%A, %d-%b-%y %H:%M:%S GMT",
      "%a %b %e %H:%M:%S %Y",
  };
  for (const char* format : kFormats) {
    absl::Time when;
    std::string error;
    if (absl::ParseTime(format, v, absl::UTCTimeZone(), &when, &error)) {
      return std::max(absl::ZeroDuration(), when - now);
    }
  }
  return std::nullopt;
}

std::optional<absl::Duration> RetryAfterFromHeaders(const UpstreamHeaders& headers,
                                                    absl::Time now) {
  const std::string ms = FindHeader(headers, "retry-after-ms");
  double value = 0;
  if (!ms.empty() && absl::SimpleAtod(ms, &value) && value >= 0 && value < 1e9) {
    return absl::Microseconds(static_cast<int64_t>(value * 1000));
  }
  const std::string retry_after = FindHeader(headers, "retry-after");
  if (retry_after.empty()) return std::nullopt;
  return ParseRetryAfter(retry_after, now);
}

absl::Status StatusFromHttpResponse(int http_status, const UpstreamHeaders& headers,
                                    std::string_view body, absl::Time now) {
  if (http_status >= 200 && http_status < 300) return absl::OkStatus();
  absl::StatusCode code = absl::StatusCode::kUnavailable;
  switch (http_status) {
    case 400:
    case 422:
      code = absl::StatusCode::kInvalidArgument;
      break;
    case 401:
      code = absl::StatusCode::kUnauthenticated;
      break;
    case 403:
      code = absl::StatusCode::kPermissionDenied;
      break;
    case 404:
      code = absl::StatusCode::kNotFound;
      break;
    case 408:
    case 504:
      code = absl::StatusCode::kDeadlineExceeded;
      break;
    case 413:
      code = absl::StatusCode::kOutOfRange;
      break;
    case 429:
      code = absl::StatusCode::kResourceExhausted;
      break;
    default:
      if (http_status >= 400 && http_status < 500) code = absl::StatusCode::kFailedPrecondition;
      break;
  }
  std::string message = "upstream answered HTTP " + std::to_string(http_status);
  if (!body.empty()) {
    std::string quoted(body.substr(0, kQuotedBodyBytes));
    for (char& c : quoted) {
      if (static_cast<unsigned char>(c) < 0x20) c = ' ';
    }
    message += ": " + quoted;
    if (body.size() > kQuotedBodyBytes) message += "...";
  }
  absl::Status status =
      WithUpstreamFailure(absl::Status(code, message), UpstreamFailure::kHttpStatus);
  SetHttpStatus(status, http_status);
  if (const std::optional<absl::Duration> retry_after = RetryAfterFromHeaders(headers, now)) {
    SetRetryAfter(status, *retry_after);
  }
  return status;
}

absl::Status StatusFromHttpResponse(const UpstreamResponse& response, absl::Time now) {
  return StatusFromHttpResponse(response.status, response.headers, response.body, now);
}

absl::Duration FullJitterBackoff(const RetryPolicy& policy, int retry, absl::BitGenRef rng) {
  const int shift = std::clamp(retry, 0, 62);
  // Duration * int64 saturates at InfiniteDuration instead of overflowing.
  const absl::Duration cap =
      std::min(policy.max_backoff, policy.base_backoff * (int64_t{1} << shift));
  const int64_t cap_ns = absl::ToInt64Nanoseconds(cap);
  if (cap_ns <= 0) return absl::ZeroDuration();
  return absl::Nanoseconds(absl::Uniform<int64_t>(absl::IntervalClosedClosed, rng, 0, cap_ns));
}

absl::Duration RetryDelay(const RetryPolicy& policy, int retry,
                          std::optional<absl::Duration> retry_after, absl::BitGenRef rng) {
  const absl::Duration backoff = FullJitterBackoff(policy, retry, rng);
  return retry_after.has_value() ? std::max(backoff, *retry_after) : backoff;
}

asio::awaitable<absl::StatusOr<UpstreamResponse>> SendWithRetry(UpstreamClient* client,
                                                                UpstreamRequest request,
                                                                RetryPolicy policy,
                                                                RetryOptions options) {
  policy.max_attempts = std::max(1, policy.max_attempts);
  absl::StatusOr<UpstreamResponse> result;
  for (int attempt = 1;; ++attempt) {
    if (options.breaker != nullptr && !options.breaker->Allow()) {
      if (attempt == 1) co_return CircuitOpenError(*options.breaker);
      co_return result;  // the last real outcome says more than "open"
    }
    if (options.trace != nullptr) options.trace->attempts = attempt;
    UpstreamRequest this_try = request;
    result = co_await client->Send(std::move(this_try));
    absl::Status status = result.status();
    if (result.ok()) status = StatusFromHttpResponse(*result, options.clock->Now());
    if (status.ok() && options.check_2xx) {
      absl::Status judged = options.check_2xx(*result);
      if (!judged.ok()) {
        Report(options.breaker, judged);
        co_return judged;
      }
    }
    Report(options.breaker, status);
    if (status.ok()) co_return result;
    const std::optional<absl::Duration> wait = NextWait(request, policy, options, status, attempt);
    if (!wait.has_value()) co_return result;
    if (options.trace != nullptr) options.trace->waited += *wait;
    const bool slept = co_await Sleep(*wait);
    if (!slept) co_return result;
  }
}

asio::awaitable<absl::StatusOr<std::unique_ptr<UpstreamStream>>> OpenWithRetry(
    UpstreamClient* client, UpstreamRequest request, RetryPolicy policy, RetryOptions options) {
  policy.max_attempts = std::max(1, policy.max_attempts);
  absl::StatusOr<std::unique_ptr<UpstreamStream>> result;
  for (int attempt = 1;; ++attempt) {
    if (options.breaker != nullptr && !options.breaker->Allow()) {
      if (attempt == 1) co_return CircuitOpenError(*options.breaker);
      co_return result;
    }
    if (options.trace != nullptr) options.trace->attempts = attempt;
    UpstreamRequest this_try = request;
    result = co_await client->Open(std::move(this_try));
    absl::Status status = result.status();
    if (result.ok()) {
      const int http_status = (*result)->status();
      if (http_status >= 200 && http_status < 300) {
        // The stream has started: from here on it is never retried, and with a breaker its
        // verdict comes when the body ends.
        if (options.breaker == nullptr) co_return result;
        std::unique_ptr<UpstreamStream> reporting =
            std::make_unique<BreakerReportingStream>(*std::move(result), options.breaker);
        co_return reporting;
      }
      status = StatusFromHttpResponse(http_status, (*result)->headers(), "", options.clock->Now());
    }
    Report(options.breaker, status);
    const std::optional<absl::Duration> wait = NextWait(request, policy, options, status, attempt);
    if (!wait.has_value()) co_return result;
    result = status;  // drop the error response (and its connection) before waiting
    if (options.trace != nullptr) options.trace->waited += *wait;
    const bool slept = co_await Sleep(*wait);
    if (!slept) co_return result;
  }
}

}  // namespace mangaassist::http
