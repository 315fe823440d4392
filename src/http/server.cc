#include "http/server.h"

#include <algorithm>
#include <chrono>
#include <memory>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "core/clock.h"
#include "core/ids.h"
#include "core/status.h"
#include "http/response_wire.h"
#include "spdlog/spdlog.h"

namespace mangaassist::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

Response JsonResponse(int status, std::string body, unsigned version) {
  Response res{static_cast<bhttp::status>(status), version};
  res.set(bhttp::field::content_type, "application/json");
  res.body() = std::move(body);
  return res;
}

Response ErrorResponse(const absl::Status& status, const std::string& request_id,
                       unsigned version) {
  return JsonResponse(core::HttpStatusFor(status.code()), core::ErrorJson(status, request_id),
                      version);
}

// The server's metrics, declared together.
struct Server::Metrics {
  explicit Metrics(core::Registry* r)
      : registry(r),
        in_flight(r->GetGauge("mangaassist_http_in_flight_requests", "Requests being processed.")),
        connections(r->GetGauge("mangaassist_http_connections", "Open client connections.")),
        rejected_connections(r->GetCounter("mangaassist_http_rejected_connections_total",
                                           "Connections refused at the connection cap.")),
        protocol_errors(r->GetCounter("mangaassist_http_protocol_errors_total",
                                      "Malformed, oversize or timed-out HTTP requests.")) {}

  // Series are looked up once per (route, status) per thread; the registry's references are
  // stable, so the hot path is a thread-local hash lookup, not a mutex and label strings.
  void Record(const std::string& route, unsigned status, int64_t micros) {
    struct Series {
      core::Counter* requests;
      core::Histogram* latency;
    };
    thread_local absl::flat_hash_map<std::pair<const core::Registry*, std::string>, Series> cache;
    // Consecutive requests mostly share their route and status: the last series, unhashed.
    thread_local const core::Registry* last_registry = nullptr;
    thread_local std::string last_route;
    thread_local unsigned last_status = 0;
    thread_local Series last{};
    if (last_registry == registry && last_status == status && last_route == route) {
      last.requests->Inc();
      last.latency->Observe(micros);
      return;
    }
    auto key = std::make_pair(static_cast<const core::Registry*>(registry),
                              absl::StrCat(route, " ", status));
    auto it = cache.find(key);
    if (it == cache.end()) {
      Series s{&registry->GetCounter("mangaassist_http_requests_total",
                                     "HTTP requests by route and status.",
                                     {{"route", route}, {"status", std::to_string(status)}}),
               &registry->GetHistogram("mangaassist_http_request_duration_seconds",
                                       "HTTP request latency by route.", {{"route", route}},
                                       core::LatencyBucketsMicros(), 1'000'000)};
      it = cache.emplace(std::move(key), s).first;
    }
    it->second.requests->Inc();
    it->second.latency->Observe(micros);
    last_registry = registry;
    last_route = route;
    last_status = status;
    last = it->second;
  }

  core::Registry* registry;
  core::Gauge& in_flight;
  core::Gauge& connections;
  core::Counter& rejected_connections;
  core::Counter& protocol_errors;
};

namespace {

// A connection's deadline: every read and write first sets it, and one timer per connection
// enforces it by cancelling the socket's pending operation (which then completes with
// operation_aborted while expired() is true). Moving the deadline later, as every request does,
// costs a clock read: a timer that fires before the deadline re-arms for it. Only a deadline
// earlier than the armed time re-arms at once, so the timer always fires by the deadline.
// Beast's tcp_stream instead starts and cancels a timer around every operation, ≈ 3k
// instructions per request. Used on the connection's executor only; the socket must outlive
// the last use, and Close() detaches the timer from it.
class Deadline : public std::enable_shared_from_this<Deadline> {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Deadline(tcp::socket* socket) : socket_(socket), timer_(socket->get_executor()) {}

  void ExpiresAfter(std::chrono::nanoseconds timeout) {
    deadline_ = Clock::now() + timeout;
    expired_ = false;
    if (!armed_ || deadline_ < armed_at_) Arm(deadline_);
  }
  void ExpiresAfter(absl::Duration timeout) {
    ExpiresAfter(std::chrono::nanoseconds(absl::ToInt64Nanoseconds(timeout)));
  }
  // No deadline until the next ExpiresAfter (while a handler runs).
  void Clear() { deadline_ = Clock::time_point::max(); }
  // Whether the deadline passed since the last ExpiresAfter (the socket was cancelled).
  bool expired() const { return expired_; }
  void Close() {
    closed_ = true;
    timer_.cancel();
  }

 private:
  void Arm(Clock::time_point at) {
    armed_ = true;
    armed_at_ = at;
    const uint64_t generation = ++generation_;  // a re-armed timer's old wait is stale
    timer_.expires_at(at);
    timer_.async_wait([self = shared_from_this(), generation](boost::system::error_code) {
      self->Fired(generation);
    });
  }

  void Fired(uint64_t generation) {
    if (closed_ || generation != generation_) return;
    armed_ = false;
    if (deadline_ == Clock::time_point::max()) return;  // the next ExpiresAfter arms again
    if (Clock::now() < deadline_) {
      Arm(deadline_);
      return;
    }
    expired_ = true;
    boost::system::error_code ignored;
    socket_->cancel(ignored);
  }

  tcp::socket* const socket_;
  asio::steady_timer timer_;
  Clock::time_point deadline_ = Clock::time_point::max();
  Clock::time_point armed_at_{};
  uint64_t generation_ = 0;
  bool armed_ = false;
  bool expired_ = false;
  bool closed_ = false;
};

// The ResponseWriter of one request on a connection's stream.
class StreamWriter final : public ResponseWriter {
 public:
  StreamWriter(tcp::socket& stream, Deadline& deadline, unsigned version, bool keep_alive,
               const std::string& request_id, absl::Duration write_timeout)
      : stream_(stream),
        deadline_(deadline),
        version_(version),
        keep_alive_(keep_alive && version >= 11),
        request_id_(request_id),
        write_timeout_(std::chrono::nanoseconds(absl::ToInt64Nanoseconds(write_timeout))) {}

  asio::awaitable<bool> Begin(Response header) override {
    if (started_) co_return ok_;
    started_ = true;
    bhttp::response<bhttp::empty_body> res{header.result(), version_};
    for (const auto& field : header) res.set(field.name_string(), field.value());
    res.set("X-Request-Id", request_id_);
    res.set(bhttp::field::cache_control, "no-cache");
    res.keep_alive(keep_alive_);
    // HTTP/1.0 has no chunked encoding: the body then ends with the connection.
    if (version_ >= 11) res.chunked(true);
    bhttp::response_serializer<bhttp::empty_body> serializer{res};
    boost::system::error_code ec;
    deadline_.ExpiresAfter(write_timeout_);
    co_await bhttp::async_write_header(stream_, serializer,
                                       asio::redirect_error(asio::use_awaitable, ec));
    status_ = header.result_int();
    ok_ = !ec;
    co_return ok_;
  }

  asio::awaitable<bool> Write(std::string_view data) override {
    if (!started_ || !ok_) co_return false;
    if (data.empty()) co_return true;  // an empty chunk would end the body
    boost::system::error_code ec;
    deadline_.ExpiresAfter(write_timeout_);
    if (version_ >= 11) {
      co_await asio::async_write(stream_, bhttp::make_chunk(asio::buffer(data.data(), data.size())),
                                 asio::redirect_error(asio::use_awaitable, ec));
    } else {
      co_await asio::async_write(stream_, asio::buffer(data.data(), data.size()),
                                 asio::redirect_error(asio::use_awaitable, ec));
    }
    ok_ = !ec;
    co_return ok_;
  }

  asio::awaitable<void> End() override {
    if (!started_ || ended_) co_return;
    ended_ = true;
    if (!ok_ || version_ < 11) co_return;
    boost::system::error_code ec;
    deadline_.ExpiresAfter(write_timeout_);
    co_await asio::async_write(stream_, bhttp::make_chunk_last(),
                               asio::redirect_error(asio::use_awaitable, ec));
    ok_ = !ec;
  }

  bool started() const override { return started_; }
  // Whether the connection can serve another request.
  bool reusable() const { return ok_ && ended_ && keep_alive_; }
  int status() const { return status_; }

 private:
  tcp::socket& stream_;
  Deadline& deadline_;
  const unsigned version_;
  const bool keep_alive_;
  const std::string& request_id_;
  const std::chrono::nanoseconds write_timeout_;
  bool started_ = false;
  bool ended_ = false;
  bool ok_ = true;
  int status_ = 200;
};

}  // namespace

struct Server::Connection {
  tcp::socket* socket = nullptr;
  asio::any_io_executor executor;
  std::atomic<bool> idle{false};
};

Server::Server(const core::ServerConfig& config, Handler* handler, core::Registry* metrics)
    : config_(config), handler_(handler), metrics_(std::make_unique<Metrics>(metrics)) {}

Server::~Server() { Stop(); }

absl::Status Server::Start() {
  int threads = config_.threads > 0 ? config_.threads
                                    : std::max(1u, std::thread::hardware_concurrency());
  for (int i = 0; i < threads; ++i) contexts_.push_back(std::make_unique<asio::io_context>(1));

  boost::system::error_code ec;
  auto address = asio::ip::make_address(config_.host, ec);
  if (ec) return absl::InvalidArgumentError("server.listen: bad address '" + config_.host + "'");
  tcp::endpoint endpoint(address, config_.port);
  acceptor_ = std::make_unique<tcp::acceptor>(*contexts_[0]);
  acceptor_->open(endpoint.protocol(), ec);
  if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_->bind(endpoint, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError("cannot listen on " + config_.host + ":" +
                                  std::to_string(config_.port) + ": " + ec.message());
  }
  port_ = acceptor_->local_endpoint().port();
  asio::co_spawn(*contexts_[0], AcceptLoop(), asio::detached);
  for (auto& ctx : contexts_) {
    threads_.emplace_back([c = ctx.get()] {
      auto guard = asio::make_work_guard(*c);
      c->run();
    });
  }
  return absl::OkStatus();
}

asio::awaitable<void> Server::AcceptLoop() {
  while (!stopping_.load()) {
    asio::io_context& target = *contexts_[next_context_++ % contexts_.size()];
    boost::system::error_code ec;
    tcp::socket socket = co_await acceptor_->async_accept(
        target, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (stopping_.load() || ec == asio::error::operation_aborted) break;
      spdlog::warn("accept failed: {}", ec.message());
      continue;
    }
    if (connections_.load() >= config_.max_connections) {
      metrics_->rejected_connections.Inc();
      socket.close(ec);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    auto executor = socket.get_executor();
    asio::co_spawn(executor, Serve(std::move(socket)), asio::detached);
  }
}

void Server::Register(Connection* c) {
  absl::MutexLock lock(&mu_);
  live_.push_back(c);
}

void Server::Unregister(Connection* c) {
  absl::MutexLock lock(&mu_);
  live_.erase(std::find(live_.begin(), live_.end(), c));
}

asio::awaitable<void> Server::Serve(tcp::socket socket) {
  connections_.fetch_add(1);
  metrics_->connections.Add(1);
  std::string remote_ip;
  {
    boost::system::error_code ec;
    auto ep = socket.remote_endpoint(ec);
    if (!ec) remote_ip = ep.address().to_string();
  }
  tcp::socket& stream = socket;
  auto deadline = std::make_shared<Deadline>(&stream);
  Connection conn;
  conn.socket = &stream;
  conn.executor = stream.get_executor();
  Register(&conn);

  beast::flat_buffer buffer;
  std::string wire;  // the serialized response, reused for the connection's requests
  bool first = true;
  for (;;) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<uint32_t>(config_.max_header_bytes));
    parser.body_limit(config_.max_body_bytes);
    boost::system::error_code ec;

    conn.idle.store(!first);
    if (stopping_.load() && !first) break;
    deadline->ExpiresAfter(first ? config_.read_timeout : config_.idle_timeout);
    co_await bhttp::async_read_header(stream, buffer, parser,
                                      asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted && deadline->expired()) ec = beast::error::timeout;
    conn.idle.store(false);
    first = false;
    int64_t start_ns = core::SystemClock().MonotonicNanos();

    if (!ec) {
      if (parser.get()[bhttp::field::expect] == "100-continue") {
        Response cont{bhttp::status::continue_, 11};
        deadline->ExpiresAfter(config_.write_timeout);
        co_await bhttp::async_write(stream, cont, asio::redirect_error(asio::use_awaitable, ec));
      }
      // The body usually arrives with the header: parse what the buffer holds before reading.
      while (!ec && !parser.is_done() && buffer.size() > 0) {
        size_t used = parser.put(buffer.data(), ec);
        buffer.consume(used);
        if (ec == bhttp::error::need_more) {
          ec = {};
          break;
        }
        if (used == 0) break;
      }
      if (!ec && !parser.is_done()) {
        deadline->ExpiresAfter(config_.read_timeout);
        co_await bhttp::async_read(stream, buffer, parser,
                                   asio::redirect_error(asio::use_awaitable, ec));
        if (ec == asio::error::operation_aborted && deadline->expired()) ec = beast::error::timeout;
      }
    }

    if (ec) {
      // Clean close, timeout while idle, or shutdown: nothing to answer.
      if (ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
          ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
          (ec == beast::error::timeout && buffer.size() == 0 && !parser.got_some())) {
        break;
      }
      metrics_->protocol_errors.Inc();
      absl::Status status;
      if (ec == bhttp::error::body_limit) {
        status = absl::OutOfRangeError("request body exceeds " +
                                       std::to_string(config_.max_body_bytes) + " bytes");
      } else if (ec == bhttp::error::header_limit) {
        status = absl::OutOfRangeError("request headers exceed " +
                                       std::to_string(config_.max_header_bytes) + " bytes");
      } else if (ec == beast::error::timeout) {
        status = absl::DeadlineExceededError("timed out reading the request");
      } else {
        status = absl::InvalidArgumentError("malformed HTTP request: " + ec.message());
      }
      // Keep the client's request id when its headers got through (e.g. an oversize body).
      std::string request_id;
      if (parser.got_some()) {  // fields parsed so far (a body_limit error comes at header end)
        std::string_view given = parser.get()["X-Request-Id"];
        if (core::IsValidRequestId(given)) request_id = std::string(given);
      }
      if (request_id.empty()) request_id = core::NewRequestId();
      Response res = ErrorResponse(status, request_id);
      res.set("X-Request-Id", request_id);
      if (ec == bhttp::error::header_limit) res.result(bhttp::status::request_header_fields_too_large);
      if (ec == beast::error::timeout) res.result(bhttp::status::request_timeout);
      res.set(bhttp::field::connection, "close");
      res.prepare_payload();
      deadline->ExpiresAfter(std::chrono::seconds(2));
      if (!SerializeResponse(res, &wire)) {
        co_await asio::async_write(stream, asio::buffer(wire),
                                   asio::redirect_error(asio::use_awaitable, ec));
      }
      metrics_->Record("unmatched", res.result_int(),
                       (core::SystemClock().MonotonicNanos() - start_ns) / 1000);
      break;
    }

    Request req = parser.release();
    RequestInfo info;
    std::string_view given_id = req["X-Request-Id"];  // NOLINT
    info.request_id = core::IsValidRequestId(given_id) ? std::string(given_id) : core::NewRequestId();
    info.remote_ip = remote_ip;
    info.start_mono_ns = start_ns;

    deadline->Clear();
    StreamWriter writer(stream, *deadline, req.version(), req.keep_alive(), info.request_id,
                        config_.write_timeout);
    info.writer = &writer;
    metrics_->in_flight.Add(1);
    Response res = co_await handler_->Handle(req, info);
    metrics_->in_flight.Add(-1);

    if (writer.started()) {
      co_await writer.End();
      metrics_->Record(info.route, writer.status(),
                       (core::SystemClock().MonotonicNanos() - start_ns) / 1000);
      if (!writer.reusable() || stopping_.load()) break;
      continue;
    }

    bool keep_alive = req.keep_alive() && !stopping_.load();
    res.version(req.version());
    deadline->ExpiresAfter(config_.write_timeout);
    ec = SerializeReply(res, info.request_id, keep_alive, &wire);  // + X-Request-Id, keep-alive
    if (!ec) {
      co_await asio::async_write(stream, asio::buffer(wire),
                                 asio::redirect_error(asio::use_awaitable, ec));
    }
    metrics_->Record(info.route, res.result_int(),
                     (core::SystemClock().MonotonicNanos() - start_ns) / 1000);
    if (ec || !keep_alive) break;
  }

  boost::system::error_code ignored;
  deadline->Close();
  stream.shutdown(tcp::socket::shutdown_send, ignored);
  stream.close(ignored);
  Unregister(&conn);
  metrics_->connections.Add(-1);
  connections_.fetch_sub(1);
}

void Server::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_ || contexts_.empty()) {
      stopped_ = true;
      return;
    }
  }
  stopping_.store(true);
  if (acceptor_) {
    asio::post(*contexts_[0], [this] {
      boost::system::error_code ec;
      acceptor_->close(ec);
    });
  }
  // Close idle keep-alive connections now; busy ones close after their response.
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::nanoseconds(absl::ToInt64Nanoseconds(config_.shutdown_grace));
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      for (Connection* c : live_) {
        if (c->idle.load()) {
          // Runs on the connection's own thread; re-check it is still alive there.
          asio::post(c->executor, [this, c] {
            absl::MutexLock relock(&mu_);
            if (std::find(live_.begin(), live_.end(), c) != live_.end()) {
              boost::system::error_code ignored;
              c->socket->cancel(ignored);
            }
          });
        }
      }
      if (live_.empty()) break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      spdlog::warn("shutdown grace period over; closing {} connections", connections_.load());
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (auto& ctx : contexts_) ctx->stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  // Destroy pending coroutine frames on their contexts before the server goes away.
  acceptor_.reset();
  contexts_.clear();
  absl::MutexLock lock(&mu_);
  stopped_ = true;
}

void Server::Wait() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&stopped_));
}

}  // namespace mangaassist::http
