#include "tests/support/http_test_client.h"

#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).

#include <limits>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "core/strings.h"

namespace mangaassist::testing {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using ErrorCode = boost::system::error_code;
using SteadyClock = std::chrono::steady_clock;

absl::Status ToStatus(const ErrorCode& ec, std::string_view what) {
  if (ec == beast::error::timeout) {
    return absl::DeadlineExceededError(std::string(what) + ": deadline exceeded");
  }
  return absl::UnavailableError(std::string(what) + ": " + ec.message());
}

// The server went away: the request may be retried once on a fresh connection if it was sent
// on a reused keep-alive connection and not a byte of the response came back.
bool IsStaleConnection(const ErrorCode& ec) {
  return ec == http::error::end_of_stream || ec == net::error::connection_reset ||
         ec == net::error::broken_pipe || ec == net::error::eof;
}

}  // namespace

std::string HttpResponse::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(core::ToAbsl(key), core::ToAbsl(name))) return value;
  }
  return "";
}

class HttpTestClient::Impl {
 public:
  Impl(uint16_t port, std::string host) : port_(port), host_(std::move(host)) {}
  ~Impl() { Close(); }

  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }
  bool connected() const { return stream_.has_value() && stream_->socket().is_open(); }

  void Close() {
    if (stream_) {
      ErrorCode ignored;
      stream_->socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream_->close();
      // Let the cancelled handlers of the closed stream run before the stream is destroyed.
      ioc_.restart();
      ioc_.poll();
      stream_.reset();
    }
    buffer_.clear();
    parser_.reset();
    in_stream_ = false;
  }

  absl::StatusOr<HttpResponse> Send(std::string_view method, std::string_view target,
                                    std::string_view body, const HttpHeaders& headers) {
    absl::StatusOr<HttpResponse> head = SendAndReadHeader(method, target, body, headers);
    if (!head.ok()) return head;
    ErrorCode ec = Run([this](auto handler) {
      http::async_read(*stream_, buffer_, *parser_, std::move(handler));
    });
    if (ec == beast::error::timeout) {
      Close();
      return ToStatus(ec, "read body");
    }
    HttpResponse response = *std::move(head);
    response.body = std::move(parser_->get().body());
    response.complete = !ec;
    if (ec || !parser_->get().keep_alive()) Close();
    parser_.reset();
    return response;
  }

  absl::StatusOr<HttpResponse> StartStream(std::string_view target, std::string_view body,
                                           const HttpHeaders& headers) {
    absl::StatusOr<HttpResponse> head = SendAndReadHeader("POST", target, body, headers);
    if (head.ok()) in_stream_ = true;
    return head;
  }

  absl::StatusOr<std::string> ReadStreamChunk() {
    if (!in_stream_ || !parser_) return absl::FailedPreconditionError("no stream in progress");
    for (;;) {
      std::string& body = parser_->get().body();
      if (!body.empty()) {
        std::string out = std::move(body);
        body.clear();
        return out;
      }
      if (parser_->is_done()) {
        const bool keep_alive = parser_->get().keep_alive();
        in_stream_ = false;
        parser_.reset();
        if (!keep_alive) Close();
        return absl::OutOfRangeError("end of body");
      }
      ErrorCode ec = Run([this](auto handler) {
        http::async_read_some(*stream_, buffer_, *parser_, std::move(handler));
      });
      if (ec) {
        Close();
        if (ec == beast::error::timeout) return ToStatus(ec, "read stream");
        return absl::DataLossError("stream cut: " + ec.message());
      }
    }
  }

 private:
  // Runs one async operation on the private io_context until its handler ran.
  template <class Initiate>
  ErrorCode Run(Initiate initiate) {
    ErrorCode result;
    bool done = false;
    stream_->expires_at(deadline_);
    initiate([&result, &done](ErrorCode ec, auto&&...) {
      result = ec;
      done = true;
    });
    ioc_.restart();
    // run_one, not run: a finished operation may leave the stream's idle timer pending.
    while (!done && ioc_.run_one() > 0) {
    }
    return result;
  }

  absl::Status Connect() {
    ErrorCode ec;
    const net::ip::address address = net::ip::make_address(host_, ec);
    if (ec) return absl::InvalidArgumentError("bad host '" + host_ + "'");
    stream_.emplace(ioc_);
    const tcp::endpoint endpoint(address, port_);
    ec = Run(
        [this, endpoint](auto handler) { stream_->async_connect(endpoint, std::move(handler)); });
    if (ec) {
      Close();
      return ToStatus(ec, "connect " + HostPort());
    }
    stream_->socket().set_option(tcp::no_delay(true), ec);
    return absl::OkStatus();
  }

  absl::StatusOr<HttpResponse> SendAndReadHeader(std::string_view method, std::string_view target,
                                                 std::string_view body,
                                                 const HttpHeaders& headers) {
    if (in_stream_) Close();  // Abandon an unfinished stream: its bytes would confuse the parser.
    deadline_ = SteadyClock::now() + timeout_;

    http::request<http::string_body> req;
    req.version(11);
    const http::verb verb = http::string_to_verb(method);
    if (verb == http::verb::unknown) {
      req.method_string(method);
    } else {
      req.method(verb);
    }
    req.target(target);
    req.set(http::field::host, HostPort());
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    for (const auto& [name, value] : headers) req.set(name, value);
    req.body() = std::string(body);
    req.keep_alive(true);
    req.prepare_payload();

    bool reused = connected();
    for (int attempt = 0;; ++attempt) {
      if (!connected()) {
        if (absl::Status status = Connect(); !status.ok()) return status;
      }
      ErrorCode ec =
          Run([this, &req](auto handler) { http::async_write(*stream_, req, std::move(handler)); });
      if (!ec) {
        parser_.emplace();
        parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
        ec = Run([this](auto handler) {
          http::async_read_header(*stream_, buffer_, *parser_, std::move(handler));
        });
      }
      if (!ec) break;
      Close();
      if (reused && attempt == 0 && IsStaleConnection(ec)) {
        reused = false;
        continue;
      }
      return ToStatus(ec, std::string(method) + " " + std::string(target));
    }

    HttpResponse response;
    const auto& header = parser_->get();
    response.status = static_cast<int>(header.result_int());
    for (const auto& field : header) {
      response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    return response;
  }

  std::string HostPort() const { return host_ + ":" + std::to_string(port_); }

  const uint16_t port_;
  const std::string host_;
  std::chrono::milliseconds timeout_{10000};
  SteadyClock::time_point deadline_;
  bool in_stream_ = false;
  net::io_context ioc_;
  std::optional<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::string_body>> parser_;
};

HttpTestClient::HttpTestClient(uint16_t port, std::string host)
    : impl_(std::make_unique<Impl>(port, std::move(host))) {}

HttpTestClient::~HttpTestClient() = default;

void HttpTestClient::set_timeout(std::chrono::milliseconds timeout) { impl_->set_timeout(timeout); }

absl::StatusOr<HttpResponse> HttpTestClient::Send(std::string_view method, std::string_view target,
                                                  std::string_view body,
                                                  const HttpHeaders& headers) {
  return impl_->Send(method, target, body, headers);
}

absl::StatusOr<HttpResponse> HttpTestClient::Get(std::string_view target,
                                                 const HttpHeaders& headers) {
  return impl_->Send("GET", target, "", headers);
}

absl::StatusOr<HttpResponse> HttpTestClient::Post(std::string_view target, std::string_view body,
                                                  const HttpHeaders& headers) {
  return impl_->Send("POST", target, body, headers);
}

absl::StatusOr<HttpResponse> HttpTestClient::StartStream(std::string_view target,
                                                         std::string_view body,
                                                         const HttpHeaders& headers) {
  return impl_->StartStream(target, body, headers);
}

absl::StatusOr<std::string> HttpTestClient::ReadStreamChunk() { return impl_->ReadStreamChunk(); }

void HttpTestClient::Close() { impl_->Close(); }

bool HttpTestClient::connected() const { return impl_->connected(); }

std::vector<SseEvent> ParseSse(std::string_view text) {
  std::vector<SseEvent> events;
  SseEvent current;
  bool has_data = false;
  bool has_fields = false;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) break;  // An unterminated line ends no event.
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      if (has_fields) events.push_back(std::move(current));
      current = SseEvent{};
      has_data = has_fields = false;
      continue;
    }
    if (line.front() == ':') continue;  // Comment.
    const size_t colon = line.find(':');
    std::string_view field = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (field == "event") {
      current.event = std::string(value);
      has_fields = true;
    } else if (field == "data") {
      if (has_data) current.data += '\n';
      current.data += value;
      has_data = has_fields = true;
    }
  }
  return events;
}

}  // namespace mangaassist::testing
