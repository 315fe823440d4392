// Retries of provider calls: exponential backoff with FULL jitter (a delay drawn uniformly from
// [0, min(max_backoff, base_backoff * 2^n)]), a Retry-After honoured when it is longer, and the
// error classification that the circuit breaker and the provider fallback chain share.
// Never retries once a stream has started: OpenWithRetry stops at the first 2xx header.
// Everything here is stateless and thread-safe; the coroutines run on the caller's executor.
#pragma once

// clang-format off
#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).
// clang-format on

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <functional>
#include <optional>
#include <string_view>

#include "absl/random/bit_gen_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "http/circuit_breaker.h"
#include "http/upstream_client.h"

namespace mangaassist::http {

struct RetryPolicy {
  int max_attempts = 3;  // the first call included; 1 disables retries
  absl::Duration base_backoff = absl::Milliseconds(250);
  absl::Duration max_backoff = absl::Seconds(8);
  // A Retry-After longer than this ends the retries: the caller (fallback chain) had better try
  // another model than sit out the provider's wait.
  absl::Duration max_retry_after = absl::Seconds(30);
};

// ---------------------------------------------------------------------------------------------
// Classification (see UpstreamFailure in upstream_client.h).

// 429, 500, 502, 503, 504 and 529 (Anthropic "overloaded").
bool IsRetryableHttpStatus(int status);

// True for connection failures (refused, reset, closed before any response byte, connect
// timeouts), first-byte timeouts and retryable HTTP statuses. False for other 4xx, the total
// deadline, TLS verification, malformed responses, truncated bodies (the provider may have
// billed the call), cancellation and an open circuit. A status that did not come from the
// upstream client is retryable when it is Unavailable.
bool IsRetryable(const absl::Status& status);

// True when the outcome says the provider is unhealthy: connection and TLS failures, timeouts,
// malformed or truncated responses, HTTP 5xx/529. Not 4xx (429 included: a quota, not an
// outage), not cancellation by our client, not an open circuit.
bool IsBreakerFailure(const absl::Status& status);

// `Retry-After` as delay-seconds or an HTTP-date (IMF-fixdate, RFC 850, asctime) relative to
// `now`; a date in the past is zero. nullopt when unparseable.
std::optional<absl::Duration> ParseRetryAfter(std::string_view value, absl::Time now);
// `retry-after-ms` (OpenAI) when present, else `retry-after`.
std::optional<absl::Duration> RetryAfterFromHeaders(const UpstreamHeaders& headers, absl::Time now);

// OK for 2xx. Otherwise a kHttpStatus error carrying the HTTP status and Retry-After:
// 400/422→InvalidArgument, 401→Unauthenticated, 403→PermissionDenied, 404→NotFound,
// 408/504→DeadlineExceeded, 413→OutOfRange, 429→ResourceExhausted, other 4xx→FailedPrecondition,
// 5xx/529 and anything else→Unavailable. The message quotes the start of the body.
absl::Status StatusFromHttpResponse(int http_status, const UpstreamHeaders& headers,
                                    std::string_view body, absl::Time now);
absl::Status StatusFromHttpResponse(const UpstreamResponse& response, absl::Time now);

// ---------------------------------------------------------------------------------------------
// Backoff.

// Full jitter for retry number `retry` (0 for the wait after the first failure).
absl::Duration FullJitterBackoff(const RetryPolicy& policy, int retry, absl::BitGenRef rng);
// The wait before retry `retry`: the jittered backoff, or Retry-After when that is longer.
absl::Duration RetryDelay(const RetryPolicy& policy, int retry,
                          std::optional<absl::Duration> retry_after, absl::BitGenRef rng);

// What a retried call did (for logs and tests).
struct RetryTrace {
  int attempts = 0;  // calls actually sent
  absl::Duration waited = absl::ZeroDuration();
};

struct RetryOptions {
  // Jitter source. Unset: a per-thread absl::BitGen. A given generator is used only by this
  // call's thread (e.g. a seeded std::mt19937 in tests); it must outlive the call.
  std::optional<absl::BitGenRef> rng;
  // Wall clock for Retry-After HTTP-dates.
  const core::Clock* clock = &core::SystemClock();
  // Consulted before every attempt and told every outcome; may be null. With a breaker, a
  // 2xx stream from OpenWithRetry reports its verdict when its body ends.
  CircuitBreaker* breaker = nullptr;
  RetryTrace* trace = nullptr;  // may be null
  // SendWithRetry only: judges a 2xx response's body (e.g. that the provider's JSON parses).
  // A failure is the call's outcome, counts against the breaker (a provider answering garbage
  // is not healthy) and is never retried (the call may have been billed). Runs synchronously.
  std::function<absl::Status(const UpstreamResponse&)> check_2xx;
};

// Sends `request` up to policy.max_attempts times, waiting RetryDelay() on an asio steady_timer
// between attempts, while the outcome IsRetryable() and the wait ends before request.deadline.
// Returns the last outcome: a response (any HTTP status: see StatusFromHttpResponse) or the
// transport error; Unavailable/kCircuitOpen when the breaker refused the first attempt.
// REQUIRES: `client` (and options' pointees) outlive the call.
boost::asio::awaitable<absl::StatusOr<UpstreamResponse>> SendWithRetry(UpstreamClient* client,
                                                                       UpstreamRequest request,
                                                                       RetryPolicy policy,
                                                                       RetryOptions options = {});

// Like SendWithRetry for streams: retries while no 2xx header has arrived; the first 2xx stream
// is returned at once and never retried. A non-2xx stream returned last still has its (error)
// body to read.
boost::asio::awaitable<absl::StatusOr<std::unique_ptr<UpstreamStream>>> OpenWithRetry(
    UpstreamClient* client, UpstreamRequest request, RetryPolicy policy, RetryOptions options = {});

}  // namespace mangaassist::http
