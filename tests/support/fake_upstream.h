// FakeUpstream: an in-process fake LLM provider (OpenAI chat completions and Anthropic messages,
// JSON and SSE; Claude on Amazon Bedrock: POST /model/{modelId}/invoke and
// /model/{modelId}/invoke-with-response-stream, event-stream framed) on 127.0.0.1, scriptable at
// run time for tests and load benchmarks.
// Owns its io_context and threads; every public method is thread-safe, Stop() is idempotent.
//
// Bedrock specifics: the body must carry `anthropic_version: "bedrock-2023-05-31"` and no
// `model` or `stream` key (400 ValidationException otherwise, as Bedrock does); errors are
// `{"message": ...}` with an `x-amzn-ErrorType` header (429 ThrottlingException, 500
// InternalServerException, 503 ServiceUnavailableException for kOverloaded, 403
// UnrecognizedClientException for kUnauthorized); streams are `chunk` events whose base64
// `bytes` hold Anthropic's event JSON; kMidStreamError sends a modelStreamErrorException frame
// and kMalformedJson well-framed chunks with cut JSON. The SigV4 signature is not verified (the
// Authorization header is recorded for tests to inspect).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace mangaassist::testing {

// What the fake does with the chat requests it receives. A snapshot is taken per request, so a
// SetBehavior() call never tears a response that is already being written.
struct Behavior {
  enum class Failure {
    kNone,
    kRateLimited,      // 429 with `Retry-After: retry_after_seconds`.
    kServerError,      // 500.
    kUnauthorized,     // 401.
    kOverloaded,       // Anthropic 529 overloaded_error, OpenAI 503.
    kMalformedJson,    // 200 application/json whose body is cut mid-object (streams: bad data).
    kTimeout,          // Reads the request and never answers, until the client or Stop() closes.
    kTruncatedStream,  // Streams `truncate_after_chunks` text chunks, then closes the connection.
                       // Non-streaming requests get a Content-Length response cut short.
    kMidStreamError,   // Streams `truncate_after_chunks` text chunks, then an in-band SSE error.
  };

  // Token counts use Anthropic's convention: `input_tokens` excludes cached tokens. OpenAI
  // responses report prompt_tokens = input + cache_read + cache_write and
  // prompt_tokens_details.cached_tokens = cache_read, so both protocols bill the same work.
  struct Usage {
    int64_t input_tokens = 30;
    int64_t output_tokens = 9;
    int64_t cache_read_tokens = 0;
    int64_t cache_write_tokens = 0;
  };

  std::string answer = "This is the fake upstream's answer.";
  // Text pieces a stream is split into (on UTF-8 boundaries; fewer if the answer is shorter).
  int stream_chunks = 4;
  Usage usage;
  // finish_reason "length" / stop_reason "max_tokens" instead of "stop" / "end_turn".
  bool stop_at_max_tokens = false;

  // Delay before the response starts, and between two SSE events of a stream. With no interval a
  // stream goes out in one write; set one to get each event in its own write (abort tests).
  std::chrono::milliseconds latency{0};
  std::chrono::milliseconds chunk_interval{0};

  Failure failure = Failure::kNone;
  // 0: every chat request fails with `failure`. N > 0: only the first N chat requests after
  // SetBehavior() fail, later ones succeed (retry tests).
  int fail_first_n = 0;
  int retry_after_seconds = 1;
  int truncate_after_chunks = 1;

  // Non-empty: requests without `Authorization: Bearer <key>` (OpenAI) or `x-api-key: <key>`
  // (Anthropic) get a 401, like the real providers. Bedrock: the access key id the SigV4
  // `Authorization: AWS4-HMAC-SHA256 Credential=<key>/...` must name (else 403).
  std::string expected_api_key;
  // Reject bodies the real providers would reject (no model, no messages, Anthropic without
  // max_tokens) with a 400, so a gateway bug shows up as a failed test, not a silent pass.
  bool validate_requests = true;
};

// One request as the fake received it. Header names keep the case the client sent.
struct RecordedRequest {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // Value of the first header named `name` (case-insensitive); "" when absent.
  std::string Header(std::string_view name) const;
  bool HasHeader(std::string_view name) const;
};

struct FakeUpstreamOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0: the kernel picks a free port; see FakeUpstream::port().
  int threads = 1;
  // Keep the last request and a short history (RecentRequests()); benchmarks turn it off.
  bool record_requests = true;
  size_t history_size = 64;
};

class FakeUpstream {
 public:
  using Options = FakeUpstreamOptions;
  using Behavior = ::mangaassist::testing::Behavior;
  using RecordedRequest = ::mangaassist::testing::RecordedRequest;

  // Binds, listens and starts serving. Returns nullptr (after printing why to stderr) when the
  // address cannot be bound; StartOrError() returns the reason instead.
  static std::unique_ptr<FakeUpstream> Start(const Options& options = {});
  static absl::StatusOr<std::unique_ptr<FakeUpstream>> StartOrError(const Options& options = {});

  FakeUpstream(const FakeUpstream&) = delete;
  FakeUpstream& operator=(const FakeUpstream&) = delete;
  ~FakeUpstream();  // Stop()s.

  uint16_t port() const;
  std::string base_url() const;  // "http://127.0.0.1:<port>", no trailing slash.

  void SetBehavior(Behavior behavior);
  Behavior behavior() const;

  // Requests received on `path` (the target without its query string), any outcome.
  int64_t RequestCount(std::string_view path) const;
  int64_t TotalRequests() const;
  int64_t ConnectionsAccepted() const;
  // Streams whose client went away before the last event was written.
  int64_t ClientAbortedStreams() const;
  // Requests of any kind (streams, hung `kTimeout` requests) whose client went away first.
  int64_t ClientAbortedRequests() const;
  // Waits until ClientAbortedStreams() >= n; false on timeout. Detection needs the next write to
  // fail, so it lags the client's close by up to two chunk intervals.
  bool WaitForClientAbortedStreams(int64_t n, std::chrono::milliseconds timeout) const;
  // Waits until ClientAbortedRequests() >= n; false on timeout.
  bool WaitForClientAbortedRequests(int64_t n, std::chrono::milliseconds timeout) const;

  // The most recent request (empty if none, or if Options.record_requests is false).
  RecordedRequest LastRequest() const;
  // Up to Options.history_size most recent requests, oldest first.
  std::vector<RecordedRequest> RecentRequests() const;
  // Zeroes counters and forgets recorded requests.
  void ResetStats();

  // Closes the listener and every connection (hung and streaming ones included), waits for the
  // connection coroutines to finish and joins the threads. Prompt: no request is drained.
  // REQUIRES: not called from a handler of this server.
  void Stop();

 private:
  class Impl;
  explicit FakeUpstream(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mangaassist::testing
