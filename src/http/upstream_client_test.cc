#include "http/upstream_client.h"

// clang-format off
#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).
// clang-format on

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "core/clock.h"
#include "core/metrics.h"
#include "core/strings.h"
#include "gtest/gtest.h"
#include "http/retry.h"
#include "http/upstream_test_support.h"
#include "tests/support/fake_upstream.h"
#include "tests/support/http_test_client.h"

namespace mangaassist::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using ErrorCode = boost::system::error_code;
using ::mangaassist::testing::Behavior;
using ::mangaassist::testing::FakeUpstream;
using test_support::RunAll;
using test_support::RunTask;

constexpr char kChatBody[] = R"({"model":"gpt-test","messages":[{"role":"user","content":"hi"}]})";
constexpr char kStreamBody[] =
    R"({"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"hi"}]})";

auto Nothrow(ErrorCode& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

bool Contains(const absl::Status& status, const char* text) {
  return absl::StrContains(status.message(), text);
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// A plain HTTP/1.1 server that drops keep-alive connections in the ways real servers do.
class ClosingServer {
 public:
  enum class Mode {
    kCloseAfterResponse,    // answers (keep-alive) and closes right after
    kCloseOnSecondRequest,  // answers the first request, closes on reading the second
    kNeverAnswer,           // reads the request and closes
  };

  explicit ClosingServer(Mode mode)
      : mode_(mode), acceptor_(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    asio::co_spawn(ioc_, Accept(), asio::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~ClosingServer() {
    ioc_.stop();
    thread_.join();
  }

  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()) + "/x"; }
  int connections() const { return connections_.load(); }
  int requests() const { return requests_.load(); }

 private:
  asio::awaitable<void> Accept() {
    for (;;) {
      ErrorCode ec;
      tcp::socket socket = co_await acceptor_.async_accept(Nothrow(ec));
      if (ec) co_return;
      connections_.fetch_add(1);
      asio::co_spawn(ioc_, Serve(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> Serve(tcp::socket socket) {
    beast::flat_buffer buffer;
    for (int n = 0;; ++n) {
      bhttp::request<bhttp::string_body> request;
      ErrorCode ec;
      co_await bhttp::async_read(socket, buffer, request, Nothrow(ec));
      if (ec) co_return;
      requests_.fetch_add(1);
      if (mode_ == Mode::kNeverAnswer || (mode_ == Mode::kCloseOnSecondRequest && n == 1)) {
        socket.close(ec);
        co_return;
      }
      static constexpr std::string_view kResponse =
          "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
      co_await asio::async_write(socket, asio::buffer(kResponse.data(), kResponse.size()),
                                 Nothrow(ec));
      if (ec) co_return;
      if (mode_ == Mode::kCloseAfterResponse) {
        socket.shutdown(tcp::socket::shutdown_both, ec);
        socket.close(ec);
        co_return;
      }
    }
  }

  const Mode mode_;
  std::atomic<int> connections_{0};
  std::atomic<int> requests_{0};
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::thread thread_;
};

// A listener whose accept queue is full: the kernel drops further SYNs, so connect() hangs
// until the client's deadline.
class FullListener {
 public:
  FullListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(fd_, 0);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    for (int i = 0; i < 4; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
      fillers_.push_back(fd);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ~FullListener() {
    for (int fd : fillers_) ::close(fd);
    ::close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::vector<int> fillers_;
};

class UpstreamClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_ = FakeUpstream::Start();
    ASSERT_NE(fake_, nullptr);
  }

  std::unique_ptr<UpstreamClient> NewClient(UpstreamClientOptions options = {}) {
    options.name = "test";
    absl::StatusOr<std::unique_ptr<UpstreamClient>> client = NewUpstreamClient(options, &registry_);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  UpstreamRequest Chat(bool stream = false) const {
    UpstreamRequest request;
    request.url = fake_->base_url() + "/v1/chat/completions";
    request.headers = {{"Content-Type", "application/json"}};
    request.body = stream ? kStreamBody : kChatBody;
    return request;
  }

  int64_t Metric(const char* name) {
    return registry_.GetCounter(name, "", {{"upstream", "test"}}).Value();
  }

  asio::io_context ioc_;
  core::Registry registry_;
  std::unique_ptr<FakeUpstream> fake_;
};

TEST(UpstreamUrlTest, ParsesSchemesHostsPortsAndTargets) {
  absl::StatusOr<UpstreamUrl> url = ParseUpstreamUrl("https://API.Anthropic.com");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_TRUE(url->tls);
  EXPECT_EQ(url->host, "api.anthropic.com");
  EXPECT_EQ(url->port, 443);
  EXPECT_EQ(url->target, "/");
  EXPECT_EQ(url->HostHeader(), "api.anthropic.com");
  EXPECT_EQ(url->PoolKey(), "https://api.anthropic.com:443");

  url = ParseUpstreamUrl("http://127.0.0.1:8081/v1/chat/completions?x=1#frag");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_FALSE(url->tls);
  EXPECT_EQ(url->host, "127.0.0.1");
  EXPECT_EQ(url->port, 8081);
  EXPECT_EQ(url->target, "/v1/chat/completions?x=1");
  EXPECT_EQ(url->HostHeader(), "127.0.0.1:8081");

  url = ParseUpstreamUrl("http://[::1]:9000?q");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->target, "/?q");
  EXPECT_EQ(url->HostHeader(), "[::1]:9000");

  for (const char* bad :
       {"ftp://x", "api.anthropic.com", "http://", "http://:80", "http://h:0", "http://h:65536",
        "http://h:8x", "http://u@h", "http://h/a b", "http://h/\r\nX: y", "http://[::1"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(ParseUpstreamUrl(bad).status())) << bad;
  }
}

TEST_F(UpstreamClientTest, SendsRequestAndReadsResponse) {
  auto client = NewClient();
  UpstreamRequest request = Chat();
  request.request_id = "req-123";
  absl::StatusOr<UpstreamResponse> response = RunTask(ioc_, client->Send(request));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_TRUE(absl::StrContains(response->body, "fake upstream's answer"));
  EXPECT_EQ(response->Header("content-type"), "application/json");
  const auto recorded = fake_->LastRequest();
  EXPECT_EQ(recorded.method, "POST");
  EXPECT_EQ(recorded.target, "/v1/chat/completions");
  EXPECT_EQ(recorded.Header("X-Request-Id"), "req-123");
  EXPECT_EQ(recorded.Header("Host"), "127.0.0.1:" + std::to_string(fake_->port()));
  EXPECT_EQ(recorded.Header("User-Agent"), "MangaAssist/0.1");
  EXPECT_EQ(recorded.Header("Content-Length"), std::to_string(std::string_view(kChatBody).size()));
  EXPECT_EQ(recorded.body, kChatBody);
}

// The request bytes are written by the client itself: the caller's headers in order and
// unchanged, its Host / User-Agent instead of ours, Content-Length only where HTTP wants one.
TEST_F(UpstreamClientTest, WritesTheCallersHeadersAndFramesTheBody) {
  auto client = NewClient();
  UpstreamRequest request = Chat();
  request.headers = {{"x-first", "1"}, {"Host", "api.example.com"}, {"user-agent", "sdk/2"},
                     {"x-empty", ""}, {"content-type", "application/json"}};
  ASSERT_TRUE(RunTask(ioc_, client->Send(request)).ok());
  auto recorded = fake_->LastRequest();
  ASSERT_GE(recorded.headers.size(), 6u);
  EXPECT_EQ(recorded.headers[0], (std::pair<std::string, std::string>{"x-first", "1"}));
  EXPECT_EQ(recorded.Header("Host"), "api.example.com");
  EXPECT_EQ(recorded.Header("User-Agent"), "sdk/2");
  EXPECT_TRUE(recorded.HasHeader("x-empty"));
  EXPECT_EQ(recorded.body, kChatBody);

  UpstreamRequest get;
  get.method = "GET";
  get.url = request.url;
  ASSERT_TRUE(RunTask(ioc_, client->Send(get)).ok());
  recorded = fake_->LastRequest();
  EXPECT_EQ(recorded.method, "GET");
  EXPECT_FALSE(recorded.HasHeader("Content-Length"));  // no body, and GET wants none
  EXPECT_TRUE(recorded.body.empty());

  UpstreamRequest empty_post = get;
  empty_post.method = "POST";
  ASSERT_TRUE(RunTask(ioc_, client->Send(empty_post)).ok());
  EXPECT_EQ(fake_->LastRequest().Header("Content-Length"), "0");

  UpstreamRequest bad = request;
  bad.headers = {{"Content-Length", "5"}};
  EXPECT_TRUE(absl::IsInvalidArgument(RunTask(ioc_, client->Send(bad)).status()));
  bad.headers = {{"x-injected", "a\r\nX-Evil: 1"}};
  EXPECT_TRUE(absl::IsInvalidArgument(RunTask(ioc_, client->Send(bad)).status()));
  bad = request;
  bad.method = "PO ST";
  EXPECT_TRUE(absl::IsInvalidArgument(RunTask(ioc_, client->Send(bad)).status()));
}

TEST_F(UpstreamClientTest, HttpErrorStatusIsAResponse) {
  auto client = NewClient();
  Behavior behavior;
  behavior.failure = Behavior::Failure::kUnauthorized;
  fake_->SetBehavior(behavior);
  absl::StatusOr<UpstreamResponse> response = RunTask(ioc_, client->Send(Chat()));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 401);
  EXPECT_TRUE(absl::StrContains(response->body, "invalid_api_key"));
}

TEST_F(UpstreamClientTest, RejectsHeaderInjectionAndFramingHeaders) {
  auto client = NewClient();
  UpstreamRequest request = Chat();
  request.headers.emplace_back("X-Evil", "a\r\nInjected: 1");
  EXPECT_TRUE(absl::IsInvalidArgument(RunTask(ioc_, client->Send(request)).status()));
  request = Chat();
  request.headers.emplace_back("Content-Length", "5");
  EXPECT_TRUE(absl::IsInvalidArgument(RunTask(ioc_, client->Send(request)).status()));
  EXPECT_EQ(fake_->TotalRequests(), 0);
}

TEST_F(UpstreamClientTest, ReusesKeepAliveConnections) {
  auto client = NewClient();
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<UpstreamResponse> response = RunTask(ioc_, client->Send(Chat()));
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->status, 200);
  }
  EXPECT_EQ(fake_->TotalRequests(), 3);
  EXPECT_EQ(fake_->ConnectionsAccepted(), 1);
  EXPECT_EQ(Metric("mangaassist_upstream_connections_opened_total"), 1);
  EXPECT_EQ(Metric("mangaassist_upstream_connections_reused_total"), 2);
}

TEST_F(UpstreamClientTest, ConcurrentCallsUseSeparateConnectionsAndKeepAtMostMaxIdle) {
  UpstreamClientOptions options;
  options.max_idle_per_host = 1;
  auto client = NewClient(options);
  Behavior behavior;
  behavior.latency = std::chrono::milliseconds(50);  // the three overlap
  fake_->SetBehavior(behavior);
  std::vector<asio::awaitable<absl::StatusOr<UpstreamResponse>>> calls;
  for (int i = 0; i < 3; ++i) calls.push_back(client->Send(Chat()));
  for (const auto& response : RunAll(ioc_, std::move(calls))) {
    ASSERT_TRUE(response.ok()) << response.status();
  }
  EXPECT_EQ(fake_->ConnectionsAccepted(), 3);
  // One connection stayed pooled: of two new concurrent calls, one reuses it.
  calls.clear();
  for (int i = 0; i < 2; ++i) calls.push_back(client->Send(Chat()));
  for (const auto& response : RunAll(ioc_, std::move(calls))) {
    ASSERT_TRUE(response.ok()) << response.status();
  }
  EXPECT_EQ(fake_->ConnectionsAccepted(), 4);
  EXPECT_EQ(Metric("mangaassist_upstream_connections_reused_total"), 1);
}

TEST_F(UpstreamClientTest, IdleConnectionsExpire) {
  core::ManualClock clock;
  UpstreamClientOptions options;
  options.clock = &clock;
  options.idle_timeout = absl::Seconds(30);
  auto client = NewClient(options);
  ASSERT_TRUE(RunTask(ioc_, client->Send(Chat())).ok());
  clock.Advance(absl::Seconds(29));
  ASSERT_TRUE(RunTask(ioc_, client->Send(Chat())).ok());
  EXPECT_EQ(fake_->ConnectionsAccepted(), 1);
  clock.Advance(absl::Seconds(30));
  ASSERT_TRUE(RunTask(ioc_, client->Send(Chat())).ok());
  EXPECT_EQ(fake_->ConnectionsAccepted(), 2);
}

TEST_F(UpstreamClientTest, PoolsAreNotSharedAcrossExecutionContexts) {
  auto client = NewClient();
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&client, &ok, this] {
      asio::io_context ioc;
      for (int i = 0; i < 10; ++i) {
        absl::StatusOr<UpstreamResponse> response = RunTask(ioc, client->Send(Chat()));
        if (response.ok() && response->status == 200) ok.fetch_add(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), 20);
  EXPECT_EQ(fake_->ConnectionsAccepted(), 2);  // one per io_context, each reused 9 times
}

TEST_F(UpstreamClientTest, ResolvesHostNames) {
  auto client = NewClient();
  UpstreamRequest request = Chat();
  request.url = "http://localhost:" + std::to_string(fake_->port()) + "/v1/chat/completions";
  absl::StatusOr<UpstreamResponse> response = RunTask(ioc_, client->Send(request));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
}

TEST_F(UpstreamClientTest, ServerClosedIdleConnectionIsDetectedBeforeUse) {
  ClosingServer server(ClosingServer::Mode::kCloseAfterResponse);
  auto client = NewClient();
  UpstreamRequest request;
  request.method = "GET";
  request.url = server.url();
  ASSERT_TRUE(RunTask(ioc_, client->Send(request)).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the FIN arrives
  absl::StatusOr<UpstreamResponse> response = RunTask(ioc_, client->Send(request));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->body, "ok");
  EXPECT_EQ(server.connections(), 2);
  EXPECT_EQ(server.requests(), 2);
  EXPECT_EQ(Metric("mangaassist_upstream_stale_retries_total"), 0);
}

TEST_F(UpstreamClientTest, StaleConnectionIsRetriedOnceOnAFreshOne) {
  ClosingServer server(ClosingServer::Mode::kCloseOnSecondRequest);
  auto client = NewClient();
  UpstreamRequest request;
  request.url = server.url();
  request.body = "{}";
  ASSERT_TRUE(RunTask(ioc_, client->Send(request)).ok());
  // The pooled connection looks alive, the server drops it on reading the request.
  absl::StatusOr<UpstreamResponse> response = RunTask(ioc_, client->Send(request));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->body, "ok");
  EXPECT_EQ(server.connections(), 2);
  EXPECT_EQ(server.requests(), 3);
  EXPECT_EQ(Metric("mangaassist_upstream_stale_retries_total"), 1);
}

TEST_F(UpstreamClientTest, FreshConnectionClosedWithoutAnswerIsNotRetried) {
  ClosingServer server(ClosingServer::Mode::kNeverAnswer);
  auto client = NewClient();
  UpstreamRequest request;
  request.url = server.url();
  absl::StatusOr<UpstreamResponse> response = RunTask(ioc_, client->Send(request));
  EXPECT_TRUE(absl::IsUnavailable(response.status())) << response.status();
  EXPECT_EQ(UpstreamFailureOf(response.status()), UpstreamFailure::kConnection);
  EXPECT_TRUE(IsRetryable(response.status()));
  EXPECT_EQ(server.connections(), 1);
  EXPECT_EQ(server.requests(), 1);
}

TEST_F(UpstreamClientTest, ConnectRefusedIsUnavailable) {
  uint16_t closed_port = 0;
  {
    asio::io_context ioc;
    tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    closed_port = acceptor.local_endpoint().port();
  }
  auto client = NewClient();
  UpstreamRequest request = Chat();
  request.url = "http://127.0.0.1:" + std::to_string(closed_port) + "/v1/chat/completions";
  absl::StatusOr<UpstreamResponse> response = RunTask(ioc_, client->Send(request));
  EXPECT_TRUE(absl::IsUnavailable(response.status())) << response.status();
  EXPECT_EQ(UpstreamFailureOf(response.status()), UpstreamFailure::kConnection);
  EXPECT_TRUE(Contains(response.status(), "connect to upstream 127.0.0.1:"));
  EXPECT_TRUE(IsRetryable(response.status()));
}

TEST_F(UpstreamClientTest, ConnectTimeoutIsDeadlineExceeded) {
  FullListener listener;
  auto client = NewClient();
  UpstreamRequest request = Chat();
  request.url = "http://127.0.0.1:" + std::to_string(listener.port()) + "/";
  request.timeouts =
      UpstreamTimeouts{absl::Milliseconds(300), absl::Seconds(30), absl::Seconds(30)};
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<UpstreamResponse> response = RunTask(ioc_, client->Send(request));
  EXPECT_TRUE(absl::IsDeadlineExceeded(response.status())) << response.status();
  EXPECT_EQ(UpstreamFailureOf(response.status()), UpstreamFailure::kConnection);
  EXPECT_TRUE(Contains(response.status(), "timed out")) << response.status();
  EXPECT_TRUE(IsRetryable(response.status()));
  EXPECT_LT(SecondsSince(start), 5.0);
}

TEST_F(UpstreamClientTest, FirstByteTimeout) {
  auto client = NewClient();
  Behavior behavior;
  behavior.latency = std::chrono::milliseconds(5000);
  fake_->SetBehavior(behavior);
  UpstreamRequest request = Chat();
  request.timeouts = UpstreamTimeouts{absl::Seconds(5), absl::Milliseconds(200), absl::Seconds(30)};
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<UpstreamResponse> response = RunTask(ioc_, client->Send(request));
  EXPECT_TRUE(absl::IsDeadlineExceeded(response.status())) << response.status();
  EXPECT_EQ(UpstreamFailureOf(response.status()), UpstreamFailure::kFirstByteTimeout);
  EXPECT_TRUE(IsRetryable(response.status()));
  EXPECT_LT(SecondsSince(start), 3.0);
}

TEST_F(UpstreamClientTest, TotalDeadline) {
  auto client = NewClient();
  Behavior behavior;
  behavior.failure = Behavior::Failure::kTimeout;
  fake_->SetBehavior(behavior);
  UpstreamRequest request = Chat();
  request.timeouts = UpstreamTimeouts{absl::Seconds(5), absl::Seconds(30), absl::Milliseconds(300)};
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<UpstreamResponse> response = RunTask(ioc_, client->Send(request));
  EXPECT_TRUE(absl::IsDeadlineExceeded(response.status())) << response.status();
  EXPECT_EQ(UpstreamFailureOf(response.status()), UpstreamFailure::kDeadline);
  EXPECT_FALSE(IsRetryable(response.status()));
  EXPECT_LT(SecondsSince(start), 3.0);

  // A caller's deadline already in the past fails before any I/O.
  request = Chat();
  request.deadline = std::chrono::steady_clock::now() - std::chrono::milliseconds(1);
  const int64_t before = fake_->TotalRequests();
  response = RunTask(ioc_, client->Send(request));
  EXPECT_TRUE(absl::IsDeadlineExceeded(response.status())) << response.status();
  EXPECT_EQ(fake_->TotalRequests(), before);
}

TEST_F(UpstreamClientTest, StreamsChunkedSseBodyAsItArrives) {
  auto client = NewClient();
  Behavior behavior;
  behavior.stream_chunks = 4;
  behavior.chunk_interval = std::chrono::milliseconds(20);
  fake_->SetBehavior(behavior);
  UpstreamRequest request = Chat(/*stream=*/true);
  request.request_id = "req-stream";
  absl::StatusOr<std::unique_ptr<UpstreamStream>> stream = RunTask(ioc_, client->Open(request));
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_EQ((*stream)->status(), 200);
  EXPECT_TRUE(absl::StartsWith((*stream)->Header("Content-Type"), "text/event-stream"));
  std::string body;
  int chunks = 0;
  absl::Status end;
  for (;;) {
    absl::StatusOr<std::string> chunk = RunTask(ioc_, (*stream)->ReadChunk());
    if (!chunk.ok()) {
      end = chunk.status();
      break;
    }
    EXPECT_FALSE(chunk->empty());
    body += *chunk;
    ++chunks;
  }
  EXPECT_TRUE(absl::IsOutOfRange(end)) << end;
  EXPECT_GE(chunks, 3);  // paced events arrive as separate reads
  EXPECT_EQ((*stream)->bytes_read(), static_cast<int64_t>(body.size()));
  const auto events = ::mangaassist::testing::ParseSse(body);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().data, "[DONE]");
  EXPECT_EQ(fake_->LastRequest().Header("X-Request-Id"), "req-stream");
  // Read to the end: the connection went back to the pool.
  stream->reset();
  ASSERT_TRUE(RunTask(ioc_, client->Send(Chat())).ok());
  EXPECT_EQ(fake_->ConnectionsAccepted(), 1);
}

TEST_F(UpstreamClientTest, StreamsContentLengthBody) {
  auto client = NewClient();
  absl::StatusOr<std::unique_ptr<UpstreamStream>> stream = RunTask(ioc_, client->Open(Chat()));
  ASSERT_TRUE(stream.ok()) << stream.status();
  absl::StatusOr<std::string> body = RunTask(ioc_, (*stream)->ReadToEnd(1 << 20));
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_TRUE(absl::StartsWith(*body, "{\"id\":\"chatcmpl-fake-"));
  EXPECT_TRUE(absl::EndsWith(*body, "}"));
  EXPECT_TRUE(absl::IsOutOfRange(RunTask(ioc_, (*stream)->ReadChunk()).status()));
}

TEST_F(UpstreamClientTest, TruncatedStreamIsDataLoss) {
  auto client = NewClient();
  Behavior behavior;
  behavior.failure = Behavior::Failure::kTruncatedStream;
  behavior.truncate_after_chunks = 2;
  fake_->SetBehavior(behavior);
  absl::StatusOr<std::unique_ptr<UpstreamStream>> stream =
      RunTask(ioc_, client->Open(Chat(/*stream=*/true)));
  ASSERT_TRUE(stream.ok()) << stream.status();
  absl::StatusOr<std::string> rest = RunTask(ioc_, (*stream)->ReadToEnd(1 << 20));
  EXPECT_TRUE(absl::IsDataLoss(rest.status())) << rest.status();
  EXPECT_EQ(UpstreamFailureOf(rest.status()), UpstreamFailure::kTruncated);
  EXPECT_FALSE(IsRetryable(rest.status()));
  EXPECT_TRUE(IsBreakerFailure(rest.status()));
  EXPECT_GT((*stream)->bytes_read(), 0);
  // The error sticks.
  EXPECT_TRUE(absl::IsDataLoss(RunTask(ioc_, (*stream)->ReadChunk()).status()));
}

TEST_F(UpstreamClientTest, TruncatedNonStreamingBodyIsDataLoss) {
  auto client = NewClient();
  Behavior behavior;
  behavior.failure = Behavior::Failure::kTruncatedStream;
  fake_->SetBehavior(behavior);
  absl::StatusOr<UpstreamResponse> response = RunTask(ioc_, client->Send(Chat()));
  EXPECT_TRUE(absl::IsDataLoss(response.status())) << response.status();
}

TEST_F(UpstreamClientTest, DestroyingAStreamMidwayClosesTheConnection) {
  auto client = NewClient();
  Behavior behavior;
  behavior.stream_chunks = 20;
  behavior.chunk_interval = std::chrono::milliseconds(50);
  fake_->SetBehavior(behavior);
  absl::StatusOr<std::unique_ptr<UpstreamStream>> stream =
      RunTask(ioc_, client->Open(Chat(/*stream=*/true)));
  ASSERT_TRUE(stream.ok()) << stream.status();
  ASSERT_TRUE(RunTask(ioc_, (*stream)->ReadChunk()).ok());
  stream->reset();  // the client went away
  EXPECT_TRUE(fake_->WaitForClientAbortedStreams(1, std::chrono::seconds(10)));
  // Not pooled: the next call opens a new connection.
  fake_->SetBehavior(Behavior{});
  ASSERT_TRUE(RunTask(ioc_, client->Send(Chat())).ok());
  EXPECT_EQ(fake_->ConnectionsAccepted(), 2);
}

TEST_F(UpstreamClientTest, CancelEndsAPendingRead) {
  auto client = NewClient();
  Behavior behavior;
  behavior.stream_chunks = 20;
  behavior.chunk_interval = std::chrono::milliseconds(500);
  fake_->SetBehavior(behavior);
  absl::StatusOr<std::unique_ptr<UpstreamStream>> opened =
      RunTask(ioc_, client->Open(Chat(/*stream=*/true)));
  ASSERT_TRUE(opened.ok()) << opened.status();
  UpstreamStream* stream = opened->get();
  ASSERT_TRUE(RunTask(ioc_, stream->ReadChunk()).ok());  // the role chunk, sent at once
  // A reader waits for the next event; another coroutine cancels meanwhile.
  std::optional<absl::StatusOr<std::string>> pending;
  asio::co_spawn(ioc_, stream->ReadChunk(),
                 [&pending](std::exception_ptr, absl::StatusOr<std::string> chunk) {
                   pending = std::move(chunk);
                 });
  asio::steady_timer timer(ioc_, std::chrono::milliseconds(100));
  timer.async_wait([stream](const ErrorCode&) { stream->Cancel(); });
  ioc_.restart();
  while (!pending.has_value() && ioc_.run_one() > 0) {
  }
  ASSERT_TRUE(pending.has_value());
  EXPECT_TRUE(absl::IsCancelled(pending->status())) << pending->status();
  EXPECT_EQ(UpstreamFailureOf(pending->status()), UpstreamFailure::kCancelled);
  EXPECT_FALSE(IsBreakerFailure(pending->status()));
  EXPECT_TRUE(absl::IsCancelled(RunTask(ioc_, stream->ReadChunk()).status()));
  EXPECT_TRUE(fake_->WaitForClientAbortedStreams(1, std::chrono::seconds(10)));
}

TEST_F(UpstreamClientTest, StreamTotalDeadline) {
  auto client = NewClient();
  Behavior behavior;
  behavior.stream_chunks = 10;
  behavior.chunk_interval = std::chrono::milliseconds(300);
  fake_->SetBehavior(behavior);
  UpstreamRequest request = Chat(/*stream=*/true);
  request.timeouts = UpstreamTimeouts{absl::Seconds(5), absl::Seconds(5), absl::Milliseconds(700)};
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<std::unique_ptr<UpstreamStream>> stream = RunTask(ioc_, client->Open(request));
  ASSERT_TRUE(stream.ok()) << stream.status();
  absl::StatusOr<std::string> rest = RunTask(ioc_, (*stream)->ReadToEnd(1 << 20));
  EXPECT_TRUE(absl::IsDeadlineExceeded(rest.status())) << rest.status();
  EXPECT_EQ(UpstreamFailureOf(rest.status()), UpstreamFailure::kDeadline);
  EXPECT_LT(SecondsSince(start), 2.5);
}

// ---------------------------------------------------------------------------------------------
// TLS

struct TestCert {
  std::string cert_pem;
  std::string key_pem;
};

// A self-signed certificate (P-256) for `sans` (e.g. "DNS:upstream.test,IP:127.0.0.1").
TestCert MakeSelfSignedCert(const std::string& common_name, const std::string& sans) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  EXPECT_TRUE(key && cert);
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(cert.get(), name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  const std::pair<int, std::string> extensions[] = {
      {NID_subject_alt_name, sans},
      {NID_basic_constraints, "critical,CA:TRUE"},
      {NID_key_usage, "critical,digitalSignature,keyCertSign"},
  };
  for (const auto& [nid, value] : extensions) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    EXPECT_NE(ext, nullptr);
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  EXPECT_GT(X509_sign(cert.get(), key.get(), EVP_sha256()), 0);

  auto to_pem = [](auto write) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    write(bio.get());
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio.get(), &data);  // NOLINT(runtime/int)
    return std::string(data, static_cast<size_t>(size));
  };
  TestCert out;
  out.cert_pem = to_pem([&cert](BIO* bio) { PEM_write_bio_X509(bio, cert.get()); });
  out.key_pem = to_pem([&key](BIO* bio) {
    PEM_write_bio_PrivateKey(bio, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
  return out;
}

// A tiny HTTPS server: answers every request with 200 "tls ok", keep-alive; records SNI.
class TlsServer {
 public:
  explicit TlsServer(const TestCert& cert)
      : tls_(ssl::context::tls_server),
        acceptor_(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    tls_.use_certificate_chain(asio::buffer(cert.cert_pem));
    tls_.use_private_key(asio::buffer(cert.key_pem), ssl::context::pem);
    asio::co_spawn(ioc_, Accept(), asio::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~TlsServer() {
    ioc_.stop();
    thread_.join();
  }

  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  int connections() const { return connections_.load(); }
  int handshakes() const { return handshakes_.load(); }
  std::string last_sni() const {
    absl::MutexLock lock(&mu_);
    return last_sni_;
  }

 private:
  asio::awaitable<void> Accept() {
    for (;;) {
      ErrorCode ec;
      tcp::socket socket = co_await acceptor_.async_accept(Nothrow(ec));
      if (ec) co_return;
      connections_.fetch_add(1);
      asio::co_spawn(ioc_, Serve(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> Serve(tcp::socket socket) {
    beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), tls_);
    ErrorCode ec;
    co_await stream.async_handshake(ssl::stream_base::server, Nothrow(ec));
    if (ec) co_return;
    handshakes_.fetch_add(1);
    {
      const char* sni = SSL_get_servername(stream.native_handle(), TLSEXT_NAMETYPE_host_name);
      absl::MutexLock lock(&mu_);
      last_sni_ = sni == nullptr ? "" : sni;
    }
    beast::flat_buffer buffer;
    for (;;) {
      bhttp::request<bhttp::string_body> request;
      co_await bhttp::async_read(stream, buffer, request, Nothrow(ec));
      if (ec) co_return;
      bhttp::response<bhttp::string_body> response{bhttp::status::ok, 11};
      response.body() = "tls ok";
      response.prepare_payload();
      co_await bhttp::async_write(stream, response, Nothrow(ec));
      if (ec) co_return;
    }
  }

  std::atomic<int> connections_{0};
  std::atomic<int> handshakes_{0};
  mutable absl::Mutex mu_;
  std::string last_sni_ ABSL_GUARDED_BY(mu_);
  ssl::context tls_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::thread thread_;
};

class UpstreamTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cert_ = new TestCert(MakeSelfSignedCert("upstream.test", "DNS:upstream.test,IP:127.0.0.1"));
    // Per process: ctest runs the tests of this suite in parallel processes.
    ca_path_ = new std::string(::testing::TempDir() + "upstream_tls_test_ca." +
                               std::to_string(::getpid()) + ".pem");
    std::FILE* f = std::fopen(ca_path_->c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fwrite(cert_->cert_pem.data(), 1, cert_->cert_pem.size(), f);
    std::fclose(f);
  }
  static void TearDownTestSuite() {
    std::remove(ca_path_->c_str());
    delete cert_;
    delete ca_path_;
  }

  void SetUp() override { server_ = std::make_unique<TlsServer>(*cert_); }

  std::unique_ptr<UpstreamClient> NewClient(bool with_ca) {
    UpstreamClientOptions options;
    options.name = "tls";
    if (with_ca) options.ca_file = *ca_path_;
    options.resolve_overrides = {{"upstream.test", "127.0.0.1"}, {"other.test", "127.0.0.1"}};
    absl::StatusOr<std::unique_ptr<UpstreamClient>> client = NewUpstreamClient(options, &registry_);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  UpstreamRequest Get(const std::string& host) const {
    UpstreamRequest request;
    request.method = "GET";
    request.url = "https://" + host + ":" + std::to_string(server_->port()) + "/v1/models";
    return request;
  }

  static TestCert* cert_;
  static std::string* ca_path_;
  asio::io_context ioc_;
  core::Registry registry_;
  std::unique_ptr<TlsServer> server_;
};

TestCert* UpstreamTlsTest::cert_ = nullptr;
std::string* UpstreamTlsTest::ca_path_ = nullptr;

TEST_F(UpstreamTlsTest, VerifiesWithTheGivenCaAndSendsSni) {
  auto client = NewClient(/*with_ca=*/true);
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<UpstreamResponse> response = RunTask(ioc_, client->Send(Get("upstream.test")));
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, "tls ok");
  }
  EXPECT_EQ(server_->last_sni(), "upstream.test");
  EXPECT_EQ(server_->handshakes(), 1);  // the TLS connection was pooled and reused
}

TEST_F(UpstreamTlsTest, VerifiesIpAddressesWithoutSni) {
  auto client = NewClient(/*with_ca=*/true);
  absl::StatusOr<UpstreamResponse> response = RunTask(ioc_, client->Send(Get("127.0.0.1")));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->body, "tls ok");
  EXPECT_EQ(server_->last_sni(), "");
}

TEST_F(UpstreamTlsTest, UntrustedCertificateFailsWithAClearError) {
  auto client = NewClient(/*with_ca=*/false);
  absl::StatusOr<UpstreamResponse> response = RunTask(ioc_, client->Send(Get("upstream.test")));
  EXPECT_TRUE(absl::IsUnavailable(response.status())) << response.status();
  EXPECT_EQ(UpstreamFailureOf(response.status()), UpstreamFailure::kTlsVerify);
  EXPECT_TRUE(Contains(response.status(), "TLS certificate verification failed"))
      << response.status();
  EXPECT_TRUE(Contains(response.status(), "self-signed")) << response.status();
  EXPECT_FALSE(IsRetryable(response.status()));
  EXPECT_EQ(server_->handshakes(), 0);
  EXPECT_EQ(
      registry_
          .GetCounter("mangaassist_upstream_tls_verify_failures_total", "", {{"upstream", "tls"}})
          .Value(),
      1);
}

TEST_F(UpstreamTlsTest, HostNameMismatchFails) {
  auto client = NewClient(/*with_ca=*/true);
  absl::StatusOr<UpstreamResponse> response = RunTask(ioc_, client->Send(Get("other.test")));
  EXPECT_TRUE(absl::IsUnavailable(response.status())) << response.status();
  EXPECT_EQ(UpstreamFailureOf(response.status()), UpstreamFailure::kTlsVerify);
  EXPECT_TRUE(Contains(response.status(), "hostname mismatch")) << response.status();
  EXPECT_EQ(server_->handshakes(), 0);
}

TEST(UpstreamClientOptionsTest, MissingCaFileIsInvalidArgument) {
  UpstreamClientOptions options;
  options.ca_file = "/nonexistent/ca.pem";
  EXPECT_TRUE(absl::IsInvalidArgument(NewUpstreamClient(options).status()));
  options.ca_file.clear();
  options.resolve_overrides = {{"x.test", "not-an-ip"}};
  EXPECT_TRUE(absl::IsInvalidArgument(NewUpstreamClient(options).status()));
}

}  // namespace
}  // namespace mangaassist::http
