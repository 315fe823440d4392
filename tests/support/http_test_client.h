// HttpTestClient: a small synchronous HTTP/1.1 client for tests (keep-alive, per-call deadline,
// SSE bodies read whole or piece by piece), plus ParseSse() to split an SSE body into events.
// One client is one connection: not thread-safe, use one per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace mangaassist::testing {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
  int status = 0;
  HttpHeaders headers;
  // The body with chunked framing removed; an SSE response's raw event text.
  std::string body;
  // False when the server closed the connection before the end of the body (truncated stream).
  bool complete = false;

  // Value of the first header named `name` (case-insensitive); "" when absent.
  std::string Header(std::string_view name) const;
};

class HttpTestClient {
 public:
  explicit HttpTestClient(uint16_t port, std::string host = "127.0.0.1");
  ~HttpTestClient();
  HttpTestClient(const HttpTestClient&) = delete;
  HttpTestClient& operator=(const HttpTestClient&) = delete;

  // Deadline of each call below (connect, write and read together). Default 10 s.
  void set_timeout(std::chrono::milliseconds timeout);

  // Sends one request and reads the whole response. Errors: DeadlineExceeded when the deadline
  // passes, Unavailable when the connection fails before the response headers arrive. A body cut
  // short after the headers is not an error: the response comes back with complete == false.
  // Content-Type defaults to application/json when a body is given.
  absl::StatusOr<HttpResponse> Send(std::string_view method, std::string_view target,
                                    std::string_view body, const HttpHeaders& headers = {});
  absl::StatusOr<HttpResponse> Get(std::string_view target, const HttpHeaders& headers = {});
  absl::StatusOr<HttpResponse> Post(std::string_view target, std::string_view body,
                                    const HttpHeaders& headers = {});

  // Incremental reading, for streams consumed (or abandoned) piece by piece. StartStream sends
  // the request and returns status and headers with an empty body; ReadStreamChunk returns the
  // next body bytes as they arrive: OutOfRange at the end of the body, DataLoss when the server
  // closed mid-body, DeadlineExceeded on the deadline (counted from StartStream).
  absl::StatusOr<HttpResponse> StartStream(std::string_view target, std::string_view body,
                                           const HttpHeaders& headers = {});
  absl::StatusOr<std::string> ReadStreamChunk();

  // Drops the connection (e.g. abandon a stream mid-way); the next call reconnects.
  void Close();
  bool connected() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

struct SseEvent {
  std::string event;  // "" when the event has no `event:` line (OpenAI).
  std::string data;   // `data:` lines joined with '\n'.
};

// Splits an SSE body into events (blank-line separated; comments and unknown fields ignored).
// A trailing event without its blank line is dropped, as a real SSE client would.
std::vector<SseEvent> ParseSse(std::string_view text);

}  // namespace mangaassist::testing
