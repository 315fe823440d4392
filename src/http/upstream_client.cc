#include "http/upstream_client.h"

// clang-format off
#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).
// clang-format on

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <deque>
#include <exception>
#include <limits>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/synchronization/mutex.h"
#include "core/strings.h"

namespace mangaassist::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using ErrorCode = boost::system::error_code;

namespace {

constexpr char kFailurePayload[] = "mangaassist.dev/upstream-failure";
constexpr char kHttpStatusPayload[] = "mangaassist.dev/upstream-http-status";
constexpr char kRetryAfterPayload[] = "mangaassist.dev/upstream-retry-after-ms";

constexpr std::string_view kFailureNames[] = {
    "none",     "connection", "first_byte_timeout", "deadline",    "tls_verify",
    "protocol", "truncated",  "cancelled",          "http_status", "circuit_open",
};

using TlsStream = beast::ssl_stream<beast::tcp_stream>;
using ResponseParser = bhttp::response_parser<bhttp::string_body>;

auto Nothrow(ErrorCode& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

std::string Ms(absl::Duration d) {
  return absl::FormatDuration(absl::Trunc(d, absl::Milliseconds(1)));
}

// now + d, saturating so an "infinite" timeout does not overflow the steady clock.
SteadyTime After(SteadyTime now, absl::Duration d) {
  constexpr absl::Duration kMax = absl::Hours(24 * 365);
  if (d < absl::ZeroDuration()) d = absl::ZeroDuration();
  if (d > kMax) d = kMax;
  return now + std::chrono::nanoseconds(absl::ToInt64Nanoseconds(d));
}

absl::Status Failure(absl::StatusCode code, std::string message, UpstreamFailure failure) {
  return WithUpstreamFailure(absl::Status(code, message), failure);
}

bool IsIpLiteral(const std::string& host) {
  ErrorCode ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f ||
        std::string_view("\"(),/:;<=>?@[\\]{}").find(c) != std::string_view::npos) {
      return false;
    }
  }
  return true;
}

bool IsFieldValue(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return false;
  }
  return true;
}

bool IsHttpParseError(const ErrorCode& ec) {
  static const boost::system::error_category& kHttp =
      bhttp::make_error_code(bhttp::error::end_of_stream).category();
  return ec.category() == kHttp && ec != bhttp::error::end_of_stream &&
         ec != bhttp::error::partial_message;
}

// The peer closed (or reset) the connection: on a pooled connection with nothing received,
// the server had dropped it while it sat idle.
bool IsStaleError(const ErrorCode& ec) {
  return ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
         ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::error::connection_aborted ||
         ec == asio::error::not_connected || ec == ssl::error::stream_truncated;
}

// The client's metrics, declared together.
struct ClientMetrics {
  ClientMetrics(core::Registry* r, const std::string& name)
      : opened(r->GetCounter("mangaassist_upstream_connections_opened_total",
                             "Upstream connections opened (TCP connect and TLS handshake done).",
                             {{"upstream", name}})),
        reused(r->GetCounter("mangaassist_upstream_connections_reused_total",
                             "Upstream requests sent on a pooled keep-alive connection.",
                             {{"upstream", name}})),
        stale_retries(r->GetCounter(
            "mangaassist_upstream_stale_retries_total",
            "Requests resent on a fresh connection after a pooled one turned out closed.",
            {{"upstream", name}})),
        tls_verify_failures(r->GetCounter("mangaassist_upstream_tls_verify_failures_total",
                                          "TLS handshakes refused: certificate or host name.",
                                          {{"upstream", name}})) {}

  core::Counter& opened;
  core::Counter& reused;
  core::Counter& stale_retries;
  core::Counter& tls_verify_failures;
};

// What every call of one client shares. Held by the client and its streams; pooled connections
// only point back at it weakly, so destroying the client lets the pools drop its connections.
struct ClientCore {
  uint64_t id = 0;
  UpstreamClientOptions options;
  absl::flat_hash_map<std::string, std::string> overrides;
  std::unique_ptr<ssl::context> tls;
  std::unique_ptr<core::Registry> own_registry;  // when the caller gave none
  std::unique_ptr<ClientMetrics> metrics;
};

// One keep-alive connection: plain TCP or TLS over TCP.
struct Connection {
  std::string key;
  std::unique_ptr<beast::tcp_stream> tcp;  // http
  std::unique_ptr<TlsStream> tls;          // https
  beast::flat_buffer buffer;
  int64_t idle_since_ns = 0;

  beast::tcp_stream& Lowest() { return tls ? beast::get_lowest_layer(*tls) : *tcp; }

  // Abandons the connection (no TLS close_notify: the peer may be gone or mid-response).
  void Close() { Lowest().close(); }

  // An idle connection is alive when it has nothing to read: a server that closed it left an
  // EOF (or a TLS alert) in the receive queue. One non-blocking peek, no wait.
  bool LooksAlive() {
    if (buffer.size() != 0) return false;
    tcp::socket& socket = Lowest().socket();
    if (!socket.is_open()) return false;
    char byte;
    const ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  // The request's bytes (BuildRequest) with one plain write: Beast's composed message write
  // walks its buffer views on every write_some.
  asio::awaitable<ErrorCode> Write(const std::string& wire) {
    ErrorCode ec;
    if (tls) {
      co_await asio::async_write(*tls, asio::buffer(wire), Nothrow(ec));
    } else {
      co_await asio::async_write(*tcp, asio::buffer(wire), Nothrow(ec));
    }
    co_return ec;
  }

  asio::awaitable<ErrorCode> ReadHeader(ResponseParser& parser) {
    ErrorCode ec;
    if (tls) {
      co_await bhttp::async_read_header(*tls, buffer, parser, Nothrow(ec));
    } else {
      co_await bhttp::async_read_header(*tcp, buffer, parser, Nothrow(ec));
    }
    co_return ec;
  }

  asio::awaitable<ErrorCode> ReadBody(ResponseParser& parser) {
    ErrorCode ec;
    if (tls) {
      co_await bhttp::async_read(*tls, buffer, parser, Nothrow(ec));
    } else {
      co_await bhttp::async_read(*tcp, buffer, parser, Nothrow(ec));
    }
    co_return ec;
  }

  asio::awaitable<ErrorCode> ReadSome(ResponseParser& parser) {
    ErrorCode ec;
    if (tls) {
      co_await bhttp::async_read_some(*tls, buffer, parser, Nothrow(ec));
    } else {
      co_await bhttp::async_read_some(*tcp, buffer, parser, Nothrow(ec));
    }
    co_return ec;
  }
};

// The idle keep-alive connections of one execution context (io_context), for every client and
// host. An Asio service: created on first use, destroyed (connections closed) with its context,
// so pooled sockets never outlive the reactor they are registered with. Expired connections and
// those of destroyed clients are dropped lazily, on the context's next Acquire/Release. The mutex
// only matters when a context is run by several threads; each worker io_context has one.
class ConnectionPools final : public asio::execution_context::service {
 public:
  static inline asio::execution_context::id id;

  explicit ConnectionPools(asio::execution_context& context)
      : asio::execution_context::service(context) {}

  // A pooled connection to `key` that still looks alive, or nullptr. Drops expired and dead ones.
  std::unique_ptr<Connection> Acquire(const std::shared_ptr<const ClientCore>& core,
                                      const std::string& key) {
    const int64_t now = core->options.clock->MonotonicNanos();
    const int64_t expiry = absl::ToInt64Nanoseconds(core->options.idle_timeout);
    std::vector<std::unique_ptr<Connection>> victims;  // closed after the lock is released
    absl::MutexLock lock(&mu_);
    SweepDeadClientsLocked(victims);
    auto client = clients_.find(core->id);
    if (client == clients_.end()) return nullptr;
    auto host = client->second.hosts.find(key);
    if (host == client->second.hosts.end()) return nullptr;
    std::deque<std::unique_ptr<Connection>>& idle = host->second;  // oldest first
    while (!idle.empty()) {
      std::unique_ptr<Connection> conn = std::move(idle.back());
      idle.pop_back();
      if (now - conn->idle_since_ns < expiry && conn->LooksAlive()) return conn;
      victims.push_back(std::move(conn));
    }
    return nullptr;
  }

  // Returns a connection whose last response was read completely.
  void Release(const std::shared_ptr<const ClientCore>& core, std::unique_ptr<Connection> conn) {
    const int64_t now = core->options.clock->MonotonicNanos();
    const int64_t expiry = absl::ToInt64Nanoseconds(core->options.idle_timeout);
    const size_t max_idle = core->options.max_idle_per_host;
    conn->idle_since_ns = now;
    std::vector<std::unique_ptr<Connection>> victims;
    absl::MutexLock lock(&mu_);
    SweepDeadClientsLocked(victims);
    if (max_idle == 0) {
      victims.push_back(std::move(conn));
      return;
    }
    ClientPools& client = clients_[core->id];
    client.owner = core;
    std::deque<std::unique_ptr<Connection>>& idle = client.hosts[conn->key];
    while (!idle.empty() &&
           (idle.size() >= max_idle || now - idle.front()->idle_since_ns >= expiry)) {
      victims.push_back(std::move(idle.front()));
      idle.pop_front();
    }
    idle.push_back(std::move(conn));
  }

 private:
  struct ClientPools {
    std::weak_ptr<const ClientCore> owner;
    absl::flat_hash_map<std::string, std::deque<std::unique_ptr<Connection>>> hosts;
  };

  void shutdown() override {
    absl::flat_hash_map<uint64_t, ClientPools> all;
    {
      absl::MutexLock lock(&mu_);
      all.swap(clients_);
    }
  }

  void SweepDeadClientsLocked(std::vector<std::unique_ptr<Connection>>& victims)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (auto it = clients_.begin(); it != clients_.end();) {
      if (!it->second.owner.expired()) {
        ++it;
        continue;
      }
      for (auto& [key, idle] : it->second.hosts) {
        for (auto& conn : idle) victims.push_back(std::move(conn));
      }
      clients_.erase(it++);
    }
  }

  absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, ClientPools> clients_ ABSL_GUARDED_BY(mu_);
};

// A request whose response header has arrived.
struct Exchange {
  std::shared_ptr<const ClientCore> core;
  ConnectionPools* pools = nullptr;
  std::unique_ptr<Connection> conn;
  std::unique_ptr<ResponseParser> parser;
  SteadyTime deadline;  // the total deadline
  std::string where;    // "host:port", for messages

  bool Reusable() const {
    return parser->is_done() && parser->get().keep_alive() && conn->buffer.size() == 0;
  }

  // Returns the connection to the pool when the body was read completely, else closes it.
  void Finish() {
    if (!conn) return;
    if (Reusable()) {
      pools->Release(core, std::move(conn));
    } else {
      conn.reset();
    }
  }
};

std::unique_ptr<ResponseParser> NewParser(const UpstreamClientOptions& options, bool head,
                                          bool streaming) {
  auto parser = std::make_unique<ResponseParser>();
  parser->header_limit(options.max_header_bytes);
  if (streaming) {
    // Not boost::none: Beast 1.74 compares a Content-Length against an empty optional limit
    // as "exceeded".
    parser->body_limit(std::numeric_limits<uint64_t>::max());
  } else {
    parser->body_limit(options.max_body_bytes);
  }
  if (head) parser->skip(true);
  return parser;
}

UpstreamHeaders HeadersOf(const ResponseParser& parser) {
  UpstreamHeaders out;
  for (const auto& field : parser.get()) {
    out.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  return out;
}

absl::Status BodyError(const Exchange& ex, const ErrorCode& ec, int64_t bytes) {
  if (ec == beast::error::timeout) {
    return Failure(absl::StatusCode::kDeadlineExceeded,
                   "upstream " + ex.where + ": deadline passed while reading the response body",
                   UpstreamFailure::kDeadline);
  }
  if (ec == bhttp::error::body_limit) {
    return Failure(absl::StatusCode::kInternal,
                   "upstream " + ex.where + ": response body exceeds " +
                       std::to_string(ex.core->options.max_body_bytes) + " bytes",
                   UpstreamFailure::kProtocol);
  }
  if (IsHttpParseError(ec)) {
    return Failure(absl::StatusCode::kUnavailable,
                   "upstream " + ex.where + ": malformed response body: " + ec.message(),
                   UpstreamFailure::kProtocol);
  }
  return Failure(absl::StatusCode::kDataLoss,
                 "upstream " + ex.where + " closed the connection mid-body after " +
                     std::to_string(bytes) + " bytes: " + ec.message(),
                 UpstreamFailure::kTruncated);
}

class StreamImpl final : public UpstreamStream {
 public:
  explicit StreamImpl(Exchange ex) : ex_(std::move(ex)), headers_(HeadersOf(*ex_.parser)) {}
  ~StreamImpl() override = default;  // an unfinished connection closes with ex_.conn

  int status() const override { return static_cast<int>(ex_.parser->get().result_int()); }
  const UpstreamHeaders& headers() const override { return headers_; }
  int64_t bytes_read() const override { return bytes_; }

  asio::awaitable<absl::StatusOr<std::string>> ReadChunk() override {
    if (!terminal_.ok()) co_return terminal_;
    for (;;) {
      std::string& body = ex_.parser->get().body();
      if (!body.empty()) {
        std::string out;
        out.swap(body);
        bytes_ += static_cast<int64_t>(out.size());
        co_return out;
      }
      if (ex_.parser->is_done()) {
        ex_.Finish();
        terminal_ = absl::OutOfRangeError("end of body");
        co_return terminal_;
      }
      ex_.conn->Lowest().expires_at(ex_.deadline);
      reading_ = true;
      const ErrorCode ec = co_await ex_.conn->ReadSome(*ex_.parser);
      reading_ = false;
      if (cancelled_) {
        ex_.conn.reset();
        co_return terminal_;
      }
      if (ec) {
        ex_.conn.reset();
        terminal_ = BodyError(ex_, ec, bytes_);
        co_return terminal_;
      }
    }
  }

  void Cancel() override {
    if (!terminal_.ok() || !ex_.conn) return;
    cancelled_ = true;
    terminal_ = Failure(absl::StatusCode::kCancelled, "upstream " + ex_.where + " call cancelled",
                        UpstreamFailure::kCancelled);
    ex_.conn->Close();
    if (!reading_) ex_.conn.reset();
  }

 private:
  Exchange ex_;
  UpstreamHeaders headers_;
  int64_t bytes_ = 0;
  bool reading_ = false;
  bool cancelled_ = false;
  absl::Status terminal_;  // OK while the body is still being read
};

// The request's bytes on the wire, written directly (no Beast message in between: its fields
// cost an allocation each): request line, the caller's headers in order, then Host,
// User-Agent and X-Request-Id unless given, Content-Length as Beast's prepare_payload sets it
// (a body, or POST/PUT/OPTIONS), blank line, body. HTTP/1.1, keep-alive by default.
absl::StatusOr<std::string> BuildRequest(const UpstreamRequest& request, const UpstreamUrl& url,
                                         const ClientCore& core) {
  const bhttp::verb verb = bhttp::string_to_verb(request.method);
  if (verb == bhttp::verb::unknown && !IsToken(request.method)) {
    return absl::InvalidArgumentError("bad HTTP method '" + request.method + "'");
  }
  size_t size = 64 + request.method.size() + url.target.size() + url.host.size() +
                core.options.user_agent.size() + request.request_id.size() + request.body.size();
  for (const auto& [name, value] : request.headers) size += name.size() + value.size() + 4;
  std::string wire;
  wire.reserve(size);
  const auto field = [&wire](std::string_view name, std::string_view value) {
    wire.append(name);
    wire.append(": ", 2);
    wire.append(value);
    wire.append("\r\n", 2);
  };
  wire.append(request.method);
  wire.push_back(' ');
  wire.append(url.target);
  wire.append(" HTTP/1.1\r\n");
  bool has_host = false;
  bool has_agent = false;
  for (const auto& [name, value] : request.headers) {
    if (!IsToken(name) || !IsFieldValue(value)) {
      return absl::InvalidArgumentError("bad upstream request header '" + name + "'");
    }
    const absl::string_view n = core::ToAbsl(name);
    if (absl::EqualsIgnoreCase(n, "content-length") ||
        absl::EqualsIgnoreCase(n, "transfer-encoding") || absl::EqualsIgnoreCase(n, "connection")) {
      return absl::InvalidArgumentError("header '" + name + "' is set by the upstream client");
    }
    has_host = has_host || absl::EqualsIgnoreCase(n, "host");
    has_agent = has_agent || absl::EqualsIgnoreCase(n, "user-agent");
    field(name, value);
  }
  if (!has_host) field("Host", url.HostHeader());
  if (!has_agent && !core.options.user_agent.empty()) field("User-Agent", core.options.user_agent);
  if (!request.request_id.empty()) {
    if (!IsFieldValue(request.request_id)) return absl::InvalidArgumentError("bad request id");
    field("X-Request-Id", request.request_id);
  }
  if (!request.body.empty() || verb == bhttp::verb::post || verb == bhttp::verb::put ||
      verb == bhttp::verb::options) {
    field("Content-Length", std::to_string(request.body.size()));
  }
  wire.append("\r\n", 2);
  wire.append(request.body);
  return wire;
}

// Resolves `host` with a deadline (the resolver itself has none).
asio::awaitable<absl::StatusOr<std::vector<tcp::endpoint>>> Resolve(std::string host, uint16_t port,
                                                                    SteadyTime deadline) {
  const auto executor = co_await asio::this_coro::executor;
  // shared_ptr: the timeout handler may run after this frame is gone; it holds a weak_ptr to
  // cancel a lookup still in progress and does nothing otherwise.
  auto resolver = std::make_shared<tcp::resolver>(executor);
  asio::steady_timer timer(executor);
  timer.expires_at(deadline);
  timer.async_wait([weak = std::weak_ptr<tcp::resolver>(resolver)](const ErrorCode& ec) {
    if (ec) return;
    if (auto r = weak.lock()) r->cancel();
  });
  ErrorCode ec;
  const tcp::resolver::results_type results =
      co_await resolver->async_resolve(host, std::to_string(port), Nothrow(ec));
  timer.cancel();
  if (ec == asio::error::operation_aborted && std::chrono::steady_clock::now() >= deadline) {
    ec = beast::error::timeout;
  }
  if (ec) co_return absl::Status(absl::StatusCode::kUnavailable, ec.message());
  std::vector<tcp::endpoint> endpoints;
  for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  if (endpoints.empty()) co_return absl::UnavailableError("no address");
  co_return endpoints;
}

absl::Status ConnectError(const std::string& where, const ErrorCode& ec, absl::Duration timeout,
                          bool total_binds) {
  if (ec == beast::error::timeout) {
    return Failure(absl::StatusCode::kDeadlineExceeded,
                   total_binds ? "deadline passed while connecting to upstream " + where
                               : "connect to upstream " + where + " timed out after " + Ms(timeout),
                   total_binds ? UpstreamFailure::kDeadline : UpstreamFailure::kConnection);
  }
  return Failure(absl::StatusCode::kUnavailable,
                 "connect to upstream " + where + " failed: " + ec.message(),
                 UpstreamFailure::kConnection);
}

// DNS (or the override), TCP connect, and for https the TLS handshake with peer verification
// against the configured trust store, host name verification and SNI.
asio::awaitable<absl::StatusOr<std::unique_ptr<Connection>>> Connect(
    std::shared_ptr<const ClientCore> core, UpstreamUrl url, absl::Duration timeout,
    SteadyTime deadline, bool total_binds) {
  const auto executor = co_await asio::this_coro::executor;
  const std::string where = url.host + ":" + std::to_string(url.port);
  std::string address = url.host;
  if (auto it = core->overrides.find(url.host); it != core->overrides.end()) address = it->second;

  std::vector<tcp::endpoint> endpoints;
  ErrorCode ec;
  const asio::ip::address ip = asio::ip::make_address(address, ec);
  if (!ec) {
    endpoints.emplace_back(ip, url.port);
  } else {
    absl::StatusOr<std::vector<tcp::endpoint>> resolved =
        co_await Resolve(address, url.port, deadline);
    if (!resolved.ok()) {
      if (std::chrono::steady_clock::now() >= deadline) {
        co_return ConnectError(where, beast::error::timeout, timeout, total_binds);
      }
      co_return Failure(absl::StatusCode::kUnavailable,
                        "cannot resolve upstream host " + url.host + ": " +
                            std::string(resolved.status().message()),
                        UpstreamFailure::kConnection);
    }
    endpoints = *std::move(resolved);
  }

  auto conn = std::make_unique<Connection>();
  conn->key = url.PoolKey();
  if (url.tls) {
    conn->tls = std::make_unique<TlsStream>(executor, *core->tls);
  } else {
    conn->tcp = std::make_unique<beast::tcp_stream>(executor);
  }
  beast::tcp_stream& lowest = conn->Lowest();
  lowest.expires_at(deadline);
  co_await lowest.async_connect(endpoints, Nothrow(ec));
  if (ec) co_return ConnectError(where, ec, timeout, total_binds);
  lowest.socket().set_option(tcp::no_delay(true), ec);
  if (!url.tls) co_return conn;

  SSL* ssl = conn->tls->native_handle();
  const bool ip_host = IsIpLiteral(url.host);
  bool configured = true;
  if (ip_host) {
    configured = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), url.host.c_str()) == 1;
  } else {
    // SNI is for DNS names only (RFC 6066 §3).
    configured = SSL_set_tlsext_host_name(ssl, url.host.c_str()) == 1 &&
                 SSL_set1_host(ssl, url.host.c_str()) == 1;
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  }
  if (!configured) {
    co_return absl::InternalError("cannot configure TLS host verification for " + url.host);
  }
  SSL_set_verify(ssl, SSL_VERIFY_PEER, nullptr);
  co_await conn->tls->async_handshake(ssl::stream_base::client, Nothrow(ec));
  if (ec) {
    const long verify = SSL_get_verify_result(ssl);  // NOLINT(runtime/int): OpenSSL's type
    if (verify != X509_V_OK) {
      core->metrics->tls_verify_failures.Inc();
      co_return Failure(absl::StatusCode::kUnavailable,
                        "TLS certificate verification failed for upstream " + where + ": " +
                            X509_verify_cert_error_string(verify),
                        UpstreamFailure::kTlsVerify);
    }
    if (ec == beast::error::timeout) co_return ConnectError(where, ec, timeout, total_binds);
    co_return Failure(absl::StatusCode::kUnavailable,
                      "TLS handshake with upstream " + where + " failed: " + ec.message(),
                      UpstreamFailure::kConnection);
  }
  co_return conn;
}

absl::Status HeaderError(const std::string& where, const ErrorCode& ec, absl::Duration first_byte,
                         bool first_byte_binds) {
  if (ec == beast::error::timeout) {
    if (first_byte_binds) {
      return Failure(absl::StatusCode::kDeadlineExceeded,
                     "no response from upstream " + where + " within " + Ms(first_byte),
                     UpstreamFailure::kFirstByteTimeout);
    }
    return Failure(absl::StatusCode::kDeadlineExceeded,
                   "deadline passed waiting for upstream " + where, UpstreamFailure::kDeadline);
  }
  if (ec == bhttp::error::header_limit || IsHttpParseError(ec)) {
    return Failure(absl::StatusCode::kUnavailable,
                   "malformed response header from upstream " + where + ": " + ec.message(),
                   UpstreamFailure::kProtocol);
  }
  return Failure(absl::StatusCode::kUnavailable,
                 "upstream " + where + " closed the connection before responding: " + ec.message(),
                 UpstreamFailure::kConnection);
}

// Sends the request and reads the response header, on a pooled connection when one is alive.
// A pooled connection the server closed while idle (nothing of the response received) is
// replaced once by a fresh connection, transparently.
asio::awaitable<absl::StatusOr<Exchange>> StartExchange(std::shared_ptr<const ClientCore> core,
                                                        UpstreamRequest request, bool streaming) {
  absl::StatusOr<UpstreamUrl> url = ParseUpstreamUrl(request.url);
  if (!url.ok()) co_return url.status();
  const std::string where = url->host + ":" + std::to_string(url->port);
  const bool head = absl::EqualsIgnoreCase(core::ToAbsl(request.method), "HEAD");
  const UpstreamTimeouts timeouts = request.timeouts.value_or(core->options.timeouts);
  const SteadyTime start = std::chrono::steady_clock::now();
  SteadyTime deadline = After(start, timeouts.total);
  if (request.deadline.has_value() && *request.deadline < deadline) deadline = *request.deadline;
  absl::StatusOr<std::string> out = BuildRequest(request, *url, *core);
  if (!out.ok()) co_return out.status();
  if (deadline <= start) {
    co_return Failure(absl::StatusCode::kDeadlineExceeded,
                      "deadline passed before calling upstream " + where,
                      UpstreamFailure::kDeadline);
  }

  const auto executor = co_await asio::this_coro::executor;
  ConnectionPools& pools =
      asio::use_service<ConnectionPools>(asio::query(executor, asio::execution::context));
  const std::string key = url->PoolKey();
  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<Connection> conn;
    if (attempt == 0) conn = pools.Acquire(core, key);
    const bool reused = conn != nullptr;
    if (reused) {
      core->metrics->reused.Inc();
    } else {
      const SteadyTime connect_deadline = After(std::chrono::steady_clock::now(), timeouts.connect);
      const bool total_binds = deadline <= connect_deadline;
      absl::StatusOr<std::unique_ptr<Connection>> fresh = co_await Connect(
          core, *url, timeouts.connect, std::min(connect_deadline, deadline), total_binds);
      if (!fresh.ok()) co_return fresh.status();
      conn = *std::move(fresh);
      core->metrics->opened.Inc();
    }

    std::unique_ptr<ResponseParser> parser = NewParser(core->options, head, streaming);
    const SteadyTime first_byte_deadline =
        After(std::chrono::steady_clock::now(), timeouts.first_byte);
    const bool first_byte_binds = first_byte_deadline < deadline;
    conn->Lowest().expires_at(std::min(first_byte_deadline, deadline));
    ErrorCode ec = co_await conn->Write(*out);
    while (!ec) {
      ec = co_await conn->ReadHeader(*parser);
      if (ec) break;
      const unsigned status = parser->get().result_int();
      if (status >= 200 || status == 101 || status < 100) {
        Exchange exchange;
        exchange.core = core;
        exchange.pools = &pools;
        exchange.conn = std::move(conn);
        exchange.parser = std::move(parser);
        exchange.deadline = deadline;
        exchange.where = where;
        co_return exchange;
      }
      parser = NewParser(core->options, head, streaming);  // 1xx interim response: skip it
    }
    const bool nothing_received = !parser->got_some() && conn->buffer.size() == 0;
    conn.reset();
    if (reused && nothing_received && IsStaleError(ec)) {
      core->metrics->stale_retries.Inc();
      continue;
    }
    co_return HeaderError(where, ec, timeouts.first_byte, first_byte_binds);
  }
}

class UpstreamClientImpl final : public UpstreamClient {
 public:
  explicit UpstreamClientImpl(std::shared_ptr<const ClientCore> core) : core_(std::move(core)) {}

  asio::awaitable<absl::StatusOr<UpstreamResponse>> Send(UpstreamRequest request) override {
    absl::StatusOr<Exchange> started = co_await StartExchange(core_, std::move(request), false);
    if (!started.ok()) co_return started.status();
    Exchange ex = *std::move(started);
    ex.conn->Lowest().expires_at(ex.deadline);
    const ErrorCode ec = co_await ex.conn->ReadBody(*ex.parser);
    if (ec) {
      const int64_t got = static_cast<int64_t>(ex.parser->get().body().size());
      ex.conn.reset();
      co_return BodyError(ex, ec, got);
    }
    UpstreamResponse response;
    response.status = static_cast<int>(ex.parser->get().result_int());
    response.headers = HeadersOf(*ex.parser);
    response.body = std::move(ex.parser->get().body());
    ex.Finish();
    co_return response;
  }

  asio::awaitable<absl::StatusOr<std::unique_ptr<UpstreamStream>>> Open(
      UpstreamRequest request) override {
    absl::StatusOr<Exchange> started = co_await StartExchange(core_, std::move(request), true);
    if (!started.ok()) co_return started.status();
    std::unique_ptr<UpstreamStream> stream = std::make_unique<StreamImpl>(*std::move(started));
    co_return stream;
  }

 private:
  std::shared_ptr<const ClientCore> core_;  // shared with streams and (weakly) the pools
};

}  // namespace

std::string FindHeader(const UpstreamHeaders& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(core::ToAbsl(key), core::ToAbsl(name))) return value;
  }
  return "";
}

std::string UpstreamUrl::PoolKey() const {
  const bool v6 = host.find(':') != std::string::npos;
  return std::string(tls ? "https://" : "http://") + (v6 ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

std::string UpstreamUrl::HostHeader() const {
  const bool v6 = host.find(':') != std::string::npos;
  std::string out = v6 ? "[" + host + "]" : host;
  if (port != (tls ? 443 : 80)) out += ":" + std::to_string(port);
  return out;
}

absl::StatusOr<UpstreamUrl> ParseUpstreamUrl(std::string_view url) {
  auto bad = [url](const char* why) {
    return absl::InvalidArgumentError("bad upstream URL '" + std::string(url) + "': " + why);
  };
  for (char c : url) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return bad("whitespace or control character");
  }
  const size_t sep = url.find("://");
  if (sep == std::string_view::npos) return bad("no scheme");
  UpstreamUrl out;
  const std::string scheme = absl::AsciiStrToLower(core::ToAbsl(url.substr(0, sep)));
  if (scheme == "https") {
    out.tls = true;
    out.port = 443;
  } else if (scheme == "http") {
    out.port = 80;
  } else {
    return bad("scheme is not http or https");
  }
  std::string_view rest = url.substr(sep + 3);
  const size_t end = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, end);
  std::string_view tail = end == std::string_view::npos ? "" : rest.substr(end);
  if (authority.find('@') != std::string_view::npos) return bad("user info is not supported");

  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated IPv6 address");
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("junk after IPv6 address");
      port = after.substr(1);
    }
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return bad("no host");
  if (!port.empty() || authority.back() == ':') {
    uint32_t value = 0;
    if (port.empty() || port.size() > 5 || !absl::SimpleAtoi(core::ToAbsl(port), &value) ||
        value == 0 || value > 65535 ||
        port.find_first_not_of("0123456789") != std::string_view::npos) {
      return bad("bad port");
    }
    out.port = static_cast<uint16_t>(value);
  }
  out.host = absl::AsciiStrToLower(core::ToAbsl(host));
  if (const size_t hash = tail.find('#'); hash != std::string_view::npos) {
    tail = tail.substr(0, hash);
  }
  if (tail.empty()) {
    out.target = "/";
  } else if (tail.front() == '?') {
    out.target = "/" + std::string(tail);
  } else {
    out.target = std::string(tail);
  }
  return out;
}

asio::awaitable<absl::StatusOr<std::string>> UpstreamStream::ReadToEnd(size_t max_bytes) {
  std::string out;
  for (;;) {
    absl::StatusOr<std::string> chunk = co_await ReadChunk();
    if (!chunk.ok()) {
      if (absl::IsOutOfRange(chunk.status())) co_return out;
      co_return chunk.status();
    }
    if (out.size() + chunk->size() > max_bytes) {
      Cancel();
      co_return absl::OutOfRangeError("upstream body exceeds " + std::to_string(max_bytes) +
                                      " bytes");
    }
    out += *chunk;
  }
}

absl::StatusOr<std::unique_ptr<UpstreamClient>> NewUpstreamClient(
    const UpstreamClientOptions& options, core::Registry* metrics) {
  static std::atomic<uint64_t> next_id{1};
  auto core = std::make_shared<ClientCore>();
  core->id = next_id.fetch_add(1);
  core->options = options;
  if (core->options.clock == nullptr) core->options.clock = &core::SystemClock();
  for (const auto& [host, ip] : options.resolve_overrides) {
    if (!IsIpLiteral(ip)) {
      return absl::InvalidArgumentError("resolve override for '" + host + "' is not an IP: " + ip);
    }
    core->overrides[absl::AsciiStrToLower(core::ToAbsl(host))] = ip;
  }

  try {
    core->tls = std::make_unique<ssl::context>(ssl::context::tls_client);
  } catch (const std::exception& e) {
    return absl::InternalError(std::string("cannot create the TLS context: ") + e.what());
  }
  SSL_CTX_set_min_proto_version(core->tls->native_handle(), TLS1_2_VERSION);
  ErrorCode ec;
  core->tls->set_verify_mode(ssl::verify_peer, ec);
  if (!ec && options.use_system_ca) core->tls->set_default_verify_paths(ec);
  if (ec) return absl::InternalError("cannot load the system CA store: " + ec.message());
  if (!options.ca_file.empty()) {
    core->tls->load_verify_file(options.ca_file, ec);
    if (ec) {
      return absl::InvalidArgumentError("cannot load CA file '" + options.ca_file +
                                        "': " + ec.message());
    }
  }

  if (metrics == nullptr) {
    core->own_registry = std::make_unique<core::Registry>();
    metrics = core->own_registry.get();
  }
  core->metrics = std::make_unique<ClientMetrics>(metrics, options.name);
  return std::make_unique<UpstreamClientImpl>(std::move(core));
}

std::string_view UpstreamFailureName(UpstreamFailure failure) {
  const auto i = static_cast<size_t>(failure);
  return i < std::size(kFailureNames) ? kFailureNames[i] : "unknown";
}

UpstreamFailure UpstreamFailureOf(const absl::Status& status) {
  if (status.ok()) return UpstreamFailure::kNone;
  const absl::optional<absl::Cord> payload = status.GetPayload(kFailurePayload);
  if (!payload.has_value()) return UpstreamFailure::kNone;
  const std::string name(*payload);
  for (size_t i = 0; i < std::size(kFailureNames); ++i) {
    if (kFailureNames[i] == name) return static_cast<UpstreamFailure>(i);
  }
  return UpstreamFailure::kNone;
}

absl::Status WithUpstreamFailure(absl::Status status, UpstreamFailure failure) {
  if (!status.ok()) {
    status.SetPayload(kFailurePayload, absl::Cord(core::ToAbsl(UpstreamFailureName(failure))));
  }
  return status;
}

std::optional<int> HttpStatusOf(const absl::Status& status) {
  const absl::optional<absl::Cord> payload = status.GetPayload(kHttpStatusPayload);
  int value = 0;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &value)) {
    return std::nullopt;
  }
  return value;
}

std::optional<absl::Duration> RetryAfterOf(const absl::Status& status) {
  const absl::optional<absl::Cord> payload = status.GetPayload(kRetryAfterPayload);
  int64_t ms = 0;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &ms)) return std::nullopt;
  return absl::Milliseconds(ms);
}

void SetHttpStatus(absl::Status& status, int http_status) {
  if (!status.ok()) status.SetPayload(kHttpStatusPayload, absl::Cord(std::to_string(http_status)));
}

void SetRetryAfter(absl::Status& status, absl::Duration retry_after) {
  if (!status.ok()) {
    status.SetPayload(kRetryAfterPayload,
                      absl::Cord(std::to_string(absl::ToInt64Milliseconds(retry_after))));
  }
}

}  // namespace mangaassist::http
