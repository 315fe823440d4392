// HTTP/1.1 server on Boost.Beast with C++20 coroutines. One io_context per thread; the
// acceptor hands each connection to the next thread, and a connection stays on its thread
// (no strands, no cross-thread hops). Enforces header/body size limits, read/idle/write
// timeouts (slowloris), a connection cap, and graceful shutdown: stop accepting, close idle
// keep-alive connections, let in-flight requests finish within the grace period.
// Start()/Stop() are called from one controlling thread; Handle() runs on worker threads.
#pragma once

#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "core/config.h"
#include "core/metrics.h"

namespace mangaassist::http {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;

// A streamed response (SSE): the handler sends the header, then body pieces as they come, each
// written to the socket at once (chunked transfer encoding on HTTP/1.1). Write() returns false
// when the client has gone away (or the write timed out): the handler should stop its upstream
// work and account what was consumed. Owned by the server; valid while Handle() runs; used
// from the connection's executor only.
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  // Sends `header`'s status and fields (its body is ignored). False if the client is gone.
  virtual boost::asio::awaitable<bool> Begin(Response header) = 0;
  virtual boost::asio::awaitable<bool> Write(std::string_view data) = 0;
  // Ends the body. The connection stays open for the next request if the stream ended well.
  virtual boost::asio::awaitable<void> End() = 0;
  virtual bool started() const = 0;
};

// Per-request facts the server establishes before the handler runs.
struct RequestInfo {
  std::string request_id;  // from a well-formed X-Request-Id, else generated
  std::string remote_ip;
  int64_t start_mono_ns = 0;
  std::string route = "unmatched";  // set by the router: the metrics label for this request
  // For streamed responses; once started, the Response the handler returns is not sent (its
  // status still labels the metrics). Null outside a server (tests calling handlers directly).
  ResponseWriter* writer = nullptr;
};

class Handler {
 public:
  virtual ~Handler() = default;
  // Produces the response. Must not throw. The server adds X-Request-Id, keep-alive and
  // Content-Length.
  virtual boost::asio::awaitable<Response> Handle(Request& request, RequestInfo& info) = 0;
  // Or: stream through info.writer, then return the status for metrics.
};

// Builds a JSON response with the given status and body.
Response JsonResponse(int status, std::string body, unsigned version = 11);
// Builds the canonical JSON error response for `status` (see core/status.h).
Response ErrorResponse(const absl::Status& status, const std::string& request_id,
                       unsigned version = 11);

class Server {
 public:
  // `handler` and `metrics` must outlive the server.
  Server(const core::ServerConfig& config, Handler* handler, core::Registry* metrics);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds config.host:config.port (0 picks a free port) and starts the worker threads.
  absl::Status Start();
  // The bound port (valid after a successful Start()).
  uint16_t port() const { return port_; }
  // Graceful stop; idempotent. Returns when every worker thread has exited.
  void Stop();
  // Blocks until Stop() has completed (from another thread or a signal handler).
  void Wait();

  int64_t active_connections() const { return connections_.load(); }

 private:
  struct Connection;
  struct Metrics;

  boost::asio::awaitable<void> AcceptLoop();
  boost::asio::awaitable<void> Serve(boost::asio::ip::tcp::socket socket);
  void Register(Connection* c);
  void Unregister(Connection* c);

  core::ServerConfig config_;
  Handler* handler_;
  std::unique_ptr<Metrics> metrics_;
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<std::thread> threads_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> connections_{0};
  size_t next_context_ = 0;

  absl::Mutex mu_;
  std::vector<Connection*> live_ ABSL_GUARDED_BY(mu_);
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace mangaassist::http
