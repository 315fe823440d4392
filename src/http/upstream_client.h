// UpstreamClient: the gateway's outbound HTTP/1.1 client for provider calls (Beast, OpenSSL TLS
// with peer + hostname verification and SNI), coroutine-based and running on the CALLER's
// executor, so a request's coroutine never leaves its worker thread. Keep-alive connections are
// pooled per (scheme, host, port) inside each execution context (an Asio service owned by the
// io_context), so a socket is never shared across threads and dies with its io_context.
// The client is immutable after creation and thread-safe; an UpstreamStream belongs to the
// coroutine that opened it. REQUIRES: the client outlives its in-flight calls and streams.
#pragma once

// clang-format off
#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).
// clang-format on

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/metrics.h"

namespace mangaassist::http {

using UpstreamHeaders = std::vector<std::pair<std::string, std::string>>;
using SteadyTime = std::chrono::steady_clock::time_point;

// Value of the first header named `name` (case-insensitive); "" when absent.
std::string FindHeader(const UpstreamHeaders& headers, std::string_view name);

// A parsed `http://` or `https://` URL.
struct UpstreamUrl {
  bool tls = false;
  std::string host;  // lower-case; an IPv6 literal without brackets
  uint16_t port = 0;
  std::string target = "/";  // path and query

  std::string PoolKey() const;     // "https://host:port": what connections are pooled by
  std::string HostHeader() const;  // host[:port], the port only when not the scheme's default
};

// Accepts `scheme://host[:port][/path][?query]`; no user info, no whitespace or control bytes.
absl::StatusOr<UpstreamUrl> ParseUpstreamUrl(std::string_view url);

// Per-request deadlines. `connect` covers DNS, TCP connect and the TLS handshake; `first_byte`
// runs from sending the request until the response header has arrived; `total` bounds the whole
// exchange, the body (and a stream's lifetime) included.
struct UpstreamTimeouts {
  absl::Duration connect = absl::Seconds(5);
  absl::Duration first_byte = absl::Seconds(60);
  absl::Duration total = absl::Minutes(10);
};

struct UpstreamRequest {
  std::string method = "POST";
  std::string url;  // absolute, e.g. "https://api.anthropic.com/v1/messages"
  UpstreamHeaders headers;
  std::string body;
  // Sent as `X-Request-Id` when non-empty, so provider logs correlate with ours.
  std::string request_id;
  // Unset: the client's defaults.
  std::optional<UpstreamTimeouts> timeouts;
  // An absolute end for this call and every retry of it (SendWithRetry); caps `total`.
  std::optional<SteadyTime> deadline;
};

struct UpstreamResponse {
  int status = 0;
  UpstreamHeaders headers;  // names as the server sent them
  std::string body;         // transfer encoding removed

  std::string Header(std::string_view name) const { return FindHeader(headers, name); }
};

// A response whose body is read as it arrives. Destroying it (or Cancel()) before the end of the
// body closes the connection instead of returning it to the pool: this is how a client that went
// away cancels the provider call. REQUIRES: no ReadChunk() in progress when destroyed.
class UpstreamStream {
 public:
  virtual ~UpstreamStream() = default;

  virtual int status() const = 0;
  virtual const UpstreamHeaders& headers() const = 0;
  std::string Header(std::string_view name) const { return FindHeader(headers(), name); }

  // The next body bytes (chunked framing removed), never empty. OutOfRange at the end of the
  // body; DataLoss when the peer closed early; DeadlineExceeded past the total deadline;
  // Cancelled after Cancel(). After an error every further call returns the same error.
  virtual boost::asio::awaitable<absl::StatusOr<std::string>> ReadChunk() = 0;

  // Closes the connection now; a pending ReadChunk() completes with Cancelled.
  virtual void Cancel() = 0;

  // Body bytes delivered by ReadChunk() so far.
  virtual int64_t bytes_read() const = 0;

  // Reads the rest of the body (e.g. a provider's error JSON); OutOfRange past `max_bytes`.
  boost::asio::awaitable<absl::StatusOr<std::string>> ReadToEnd(size_t max_bytes);
};

struct UpstreamClientOptions {
  std::string name = "upstream";  // metrics label
  UpstreamTimeouts timeouts;      // for requests that do not set their own
  // Keep-alive pool, per execution context and (scheme, host, port).
  size_t max_idle_per_host = 16;
  absl::Duration idle_timeout = absl::Seconds(30);
  // TLS trust: the system CA store, plus `ca_file` (PEM) when given (tests, private CAs).
  bool use_system_ca = true;
  std::string ca_file;
  // host → IP address to connect to instead of resolving `host` (TLS still verifies `host`).
  std::vector<std::pair<std::string, std::string>> resolve_overrides;
  uint64_t max_body_bytes = 32ull << 20;  // non-streaming responses
  uint32_t max_header_bytes = 64 << 10;
  std::string user_agent = "MangaAssist/0.1";
  // Idle expiry of pooled connections (the network deadlines use the steady clock: they arm
  // real timers).
  const core::Clock* clock = &core::SystemClock();
};

class UpstreamClient {
 public:
  virtual ~UpstreamClient() = default;

  // Sends the request and reads the whole response. Any HTTP status is a response (see
  // StatusFromHttpResponse in retry.h); errors are transport failures, classified below.
  virtual boost::asio::awaitable<absl::StatusOr<UpstreamResponse>> Send(
      UpstreamRequest request) = 0;

  // Sends the request and returns once the response header has arrived.
  virtual boost::asio::awaitable<absl::StatusOr<std::unique_ptr<UpstreamStream>>> Open(
      UpstreamRequest request) = 0;
};

// Builds the TLS context (system CAs, `ca_file`). `metrics` may be null; it must outlive the
// client. InvalidArgument when the CA file cannot be loaded.
absl::StatusOr<std::unique_ptr<UpstreamClient>> NewUpstreamClient(
    const UpstreamClientOptions& options, core::Registry* metrics = nullptr);

// ---------------------------------------------------------------------------------------------
// Error classification. Errors of the client (and StatusFromHttpResponse) carry what failed as
// a status payload, so retry and circuit-breaker decisions (retry.h) need only the status.
//   kConnection        connect refused/unreachable/timed out, DNS, reset or closed before any
//                      response byte                                  Unavailable / Deadline
//   kFirstByteTimeout  no response header within `first_byte`         DeadlineExceeded
//   kDeadline          the total (or caller's) deadline passed        DeadlineExceeded
//   kTlsVerify         the peer certificate or host name did not verify  Unavailable
//   kProtocol          malformed or oversized HTTP from the upstream  Unavailable / Internal
//   kTruncated         the body was cut after the header arrived      DataLoss
//   kCancelled         UpstreamStream::Cancel()                       Cancelled
//   kHttpStatus        an HTTP error status (StatusFromHttpResponse)  by status
//   kCircuitOpen       the provider's circuit breaker refused the call  Unavailable
enum class UpstreamFailure {
  kNone = 0,
  kConnection,
  kFirstByteTimeout,
  kDeadline,
  kTlsVerify,
  kProtocol,
  kTruncated,
  kCancelled,
  kHttpStatus,
  kCircuitOpen,
};

std::string_view UpstreamFailureName(UpstreamFailure failure);
// kNone for OK statuses and statuses that did not come from the upstream client.
UpstreamFailure UpstreamFailureOf(const absl::Status& status);
// Attaches `failure` to a non-OK status.
absl::Status WithUpstreamFailure(absl::Status status, UpstreamFailure failure);
// The HTTP status / Retry-After carried by a kHttpStatus error.
std::optional<int> HttpStatusOf(const absl::Status& status);
std::optional<absl::Duration> RetryAfterOf(const absl::Status& status);
void SetHttpStatus(absl::Status& status, int http_status);
void SetRetryAfter(absl::Status& status, absl::Duration retry_after);

}  // namespace mangaassist::http
