#include "http/server.h"

#include <utility>

#include <atomic>
#include <chrono>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>

#include "gtest/gtest.h"
#include "http/router.h"
#include "nlohmann/json.hpp"

namespace mangaassist::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

// Raw-socket client: sends exact bytes, reads one HTTP response (or notices a close).
class RawClient {
 public:
  explicit RawClient(uint16_t port) : socket_(io_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }
  void Send(const std::string& bytes) { asio::write(socket_, asio::buffer(bytes)); }
  // Returns false when the server closed the connection without a response.
  bool Read(bhttp::response<bhttp::string_body>* res) {
    beast::error_code ec;
    bhttp::read(socket_, buffer_, *res, ec);
    return !ec;
  }
  bool ClosedByPeer() {
    char c;
    beast::error_code ec;
    socket_.read_some(asio::buffer(&c, 1), ec);
    return ec == asio::error::eof || ec == asio::error::connection_reset;
  }

 private:
  asio::io_context io_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

std::string Post(const std::string& path, const std::string& body, const std::string& extra = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + extra +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

class ServerTest : public ::testing::Test {
 protected:
  void StartServer(core::ServerConfig cfg = {}) {
    cfg.host = "127.0.0.1";
    cfg.port = 0;
    cfg.threads = 2;
    router_.Add(bhttp::verb::post, "/echo",
                [](Request& req, RequestInfo& info) -> asio::awaitable<Response> {
                  co_return JsonResponse(200, nlohmann::json{{"body", req.body()},
                                                             {"request_id", info.request_id}}
                                                  .dump());
                });
    router_.Add(bhttp::verb::get, "/slow",
                [](Request&, RequestInfo&) -> asio::awaitable<Response> {
                  asio::steady_timer t(co_await asio::this_coro::executor);
                  t.expires_after(std::chrono::milliseconds(300));
                  co_await t.async_wait(asio::use_awaitable);
                  co_return JsonResponse(200, R"({"slow":true})");
                });
    router_.Add(bhttp::verb::get, "/big",  // more than the socket buffers hold
                [](Request&, RequestInfo&) -> asio::awaitable<Response> {
                  co_return JsonResponse(200, "\"" + std::string(64 << 20, 'x') + "\"");
                });
    router_.Add(bhttp::verb::get, "/stream",
                [this](Request&, RequestInfo& info) -> asio::awaitable<Response> {
                  Response header{bhttp::status::ok, 11};
                  header.set(bhttp::field::content_type, "text/event-stream");
                  bool ok = co_await info.writer->Begin(std::move(header));
                  for (int i = 0; ok && i < stream_pieces_; ++i) {
                    ok = co_await info.writer->Write("data: " + std::to_string(i) + "\n\n");
                    if (stream_gap_ms_ > 0) {
                      asio::steady_timer t(co_await asio::this_coro::executor);
                      t.expires_after(std::chrono::milliseconds(stream_gap_ms_));
                      co_await t.async_wait(asio::use_awaitable);
                    }
                  }
                  stream_client_gone_.store(!ok);
                  stream_done_.store(true);
                  co_return Response{bhttp::status::ok, 11};
                });
    server_ = std::make_unique<Server>(cfg, &router_, &metrics_);
    ASSERT_TRUE(server_->Start().ok());
    ASSERT_NE(server_->port(), 0);
  }
  void TearDown() override {
    if (server_) server_->Stop();
  }

  core::Registry metrics_;
  int stream_pieces_ = 3;
  int stream_gap_ms_ = 0;
  std::atomic<bool> stream_done_{false};
  std::atomic<bool> stream_client_gone_{false};
  Router router_;
  std::unique_ptr<Server> server_;
};

TEST_F(ServerTest, ServesKeepAliveRequestsAndEchoesRequestId) {
  StartServer();
  RawClient c(server_->port());
  for (int i = 0; i < 3; ++i) {
    c.Send(Post("/echo", "{\"n\":" + std::to_string(i) + "}", "X-Request-Id: my-id.1\r\n"));
    bhttp::response<bhttp::string_body> res;
    ASSERT_TRUE(c.Read(&res));
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_EQ(res["X-Request-Id"], "my-id.1");
    EXPECT_TRUE(res.keep_alive());
    EXPECT_EQ(nlohmann::json::parse(res.body())["request_id"], "my-id.1");
  }
}

TEST_F(ServerTest, PipelinedRequestsInOneWriteAreAnsweredInOrder) {
  StartServer();
  RawClient c(server_->port());
  std::string bytes;
  for (int i = 0; i < 4; ++i) {
    bytes += Post("/echo", "{\"n\":" + std::to_string(i) + "}",
                  "X-Request-Id: pipe-" + std::to_string(i) + "\r\n");
  }
  c.Send(bytes);  // four requests, header and body of each, in one segment
  for (int i = 0; i < 4; ++i) {
    bhttp::response<bhttp::string_body> res;
    ASSERT_TRUE(c.Read(&res)) << i;
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_EQ(res["X-Request-Id"], "pipe-" + std::to_string(i));
    EXPECT_EQ(nlohmann::json::parse(res.body())["body"], "{\"n\":" + std::to_string(i) + "}");
  }
}

TEST_F(ServerTest, BodyArrivingAfterTheHeaderInPiecesIsReadWhole) {
  StartServer();
  RawClient c(server_->port());
  const std::string body = R"({"message":"split across three writes"})";
  std::string bytes = Post("/echo", body);
  size_t header_end = bytes.find("\r\n\r\n") + 4;
  c.Send(bytes.substr(0, header_end + 5));  // the header and the first bytes of the body
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  c.Send(bytes.substr(header_end + 5, 10));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  c.Send(bytes.substr(header_end + 15));
  bhttp::response<bhttp::string_body> res;
  ASSERT_TRUE(c.Read(&res));
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(nlohmann::json::parse(res.body())["body"], body);
  // The connection is still usable.
  c.Send(Post("/echo", "{}"));
  bhttp::response<bhttp::string_body> next;
  ASSERT_TRUE(c.Read(&next));
  EXPECT_EQ(nlohmann::json::parse(next.body())["body"], "{}");
}

TEST_F(ServerTest, ChunkedRequestBodyWithTheHeaderIsDecoded) {
  StartServer();
  RawClient c(server_->port());
  c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
         "4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n");
  bhttp::response<bhttp::string_body> res;
  ASSERT_TRUE(c.Read(&res));
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(nlohmann::json::parse(res.body())["body"], "{\"a\":1}");
}

TEST_F(ServerTest, MalformedRequestIdIsReplacedByAGeneratedOne) {
  StartServer();
  RawClient c(server_->port());
  c.Send(Post("/echo", "{}", "X-Request-Id: bad id with spaces\r\n"));
  bhttp::response<bhttp::string_body> res;
  ASSERT_TRUE(c.Read(&res));
  std::string id(res["X-Request-Id"]);
  EXPECT_EQ(id.size(), 36u) << id;
}

TEST_F(ServerTest, UnknownPathIs404AndWrongMethodIs405WithJsonErrors) {
  StartServer();
  RawClient c(server_->port());
  c.Send("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
  bhttp::response<bhttp::string_body> res;
  ASSERT_TRUE(c.Read(&res));
  EXPECT_EQ(res.result_int(), 404);
  auto j = nlohmann::json::parse(res.body());
  EXPECT_EQ(j["error"]["type"], "not_found_error");
  EXPECT_FALSE(j["error"]["request_id"].get<std::string>().empty());
  c.Send("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
  bhttp::response<bhttp::string_body> res2;
  ASSERT_TRUE(c.Read(&res2));
  EXPECT_EQ(res2.result_int(), 405);
  EXPECT_EQ(res2[bhttp::field::allow], "POST");
}

TEST_F(ServerTest, OversizeBodyIs413AndTheServerStaysUp) {
  core::ServerConfig cfg;
  cfg.max_body_bytes = 1024;
  StartServer(cfg);
  {
    RawClient c(server_->port());
    c.Send(Post("/echo", std::string(2048, 'x')));
    bhttp::response<bhttp::string_body> res;
    ASSERT_TRUE(c.Read(&res));
    EXPECT_EQ(res.result_int(), 413);
    EXPECT_EQ(nlohmann::json::parse(res.body())["error"]["type"], "request_too_large");
  }
  RawClient again(server_->port());
  again.Send(Post("/echo", "{}"));
  bhttp::response<bhttp::string_body> res;
  ASSERT_TRUE(again.Read(&res));
  EXPECT_EQ(res.result_int(), 200);
}

TEST_F(ServerTest, OversizeHeadersAre431) {
  core::ServerConfig cfg;
  cfg.max_header_bytes = 1024;
  StartServer(cfg);
  RawClient c(server_->port());
  c.Send(Post("/echo", "{}", "X-Big: " + std::string(4000, 'a') + "\r\n"));
  bhttp::response<bhttp::string_body> res;
  ASSERT_TRUE(c.Read(&res));
  EXPECT_EQ(res.result_int(), 431);
}

TEST_F(ServerTest, GarbageIs400) {
  StartServer();
  RawClient c(server_->port());
  c.Send("THIS IS NOT HTTP\r\n\r\n");
  bhttp::response<bhttp::string_body> res;
  ASSERT_TRUE(c.Read(&res));
  EXPECT_EQ(res.result_int(), 400);
  EXPECT_EQ(nlohmann::json::parse(res.body())["error"]["type"], "invalid_request_error");
}

TEST_F(ServerTest, SlowlorisIsCutByTheReadTimeout) {
  core::ServerConfig cfg;
  cfg.read_timeout = absl::Milliseconds(200);
  StartServer(cfg);
  RawClient c(server_->port());
  c.Send("POST /echo HTTP/1.1\r\nHost: x\r\n");  // never finishes the headers
  auto t0 = std::chrono::steady_clock::now();
  bhttp::response<bhttp::string_body> res;
  ASSERT_TRUE(c.Read(&res));
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(res.result_int(), 408);
  EXPECT_FALSE(res.keep_alive());
  EXPECT_GE(waited, std::chrono::milliseconds(150));
  EXPECT_LT(waited, std::chrono::seconds(5));
  EXPECT_TRUE(c.ClosedByPeer());
}

// A body that stops arriving is cut by the read timeout too, after the headers came through.
TEST_F(ServerTest, ABodyThatStopsIsCutByTheReadTimeout) {
  core::ServerConfig cfg;
  cfg.read_timeout = absl::Milliseconds(200);
  StartServer(cfg);
  RawClient c(server_->port());
  c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nX-Request-Id: slow-body\r\nContent-Length: 10\r\n\r\n{}");
  bhttp::response<bhttp::string_body> res;
  ASSERT_TRUE(c.Read(&res));
  EXPECT_EQ(res.result_int(), 408);
  EXPECT_EQ(res["X-Request-Id"], "slow-body");
}

TEST_F(ServerTest, AnIdleKeepAliveConnectionIsClosedAfterTheIdleTimeout) {
  core::ServerConfig cfg;
  cfg.idle_timeout = absl::Milliseconds(200);
  StartServer(cfg);
  RawClient c(server_->port());
  for (int i = 0; i < 2; ++i) {  // each request moves the deadline; the connection stays
    c.Send(Post("/echo", "{}"));
    bhttp::response<bhttp::string_body> res;
    ASSERT_TRUE(c.Read(&res));
    EXPECT_TRUE(res.keep_alive());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.ClosedByPeer());  // quietly: an idle close sends no 408
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  for (int i = 0; i < 200 && server_->active_connections() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(server_->active_connections(), 0);
}

// The read and idle timeouts do not run while the handler works: a handler slower than both
// still answers on the same connection.
TEST_F(ServerTest, AHandlerSlowerThanTheReadTimeoutStillAnswers) {
  core::ServerConfig cfg;
  cfg.read_timeout = absl::Milliseconds(100);
  cfg.idle_timeout = absl::Milliseconds(100);
  StartServer(cfg);  // /slow takes 300 ms
  RawClient c(server_->port());
  for (int i = 0; i < 2; ++i) {
    c.Send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
    bhttp::response<bhttp::string_body> res;
    ASSERT_TRUE(c.Read(&res)) << i;
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_EQ(res.body(), R"({"slow":true})");
  }
}

// A client that stops reading a large response is cut by the write timeout: the connection
// goes away instead of holding its buffers forever.
TEST_F(ServerTest, AClientThatStopsReadingIsCutByTheWriteTimeout) {
  core::ServerConfig cfg;
  cfg.write_timeout = absl::Milliseconds(300);
  StartServer(cfg);
  RawClient c(server_->port());
  c.Send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n");  // and never reads
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    gone = server_->active_connections() == 0;
  }
  EXPECT_TRUE(gone) << "the connection outlived the write timeout";
}

TEST_F(ServerTest, ExpectContinueIsHonoured) {
  StartServer();
  RawClient c(server_->port());
  c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
  bhttp::response<bhttp::string_body> cont;
  // The interim 100 response has no body.
  bhttp::response_parser<bhttp::empty_body> p;
  (void)cont;
  c.Send("{}");
  bhttp::response<bhttp::string_body> res;
  ASSERT_TRUE(c.Read(&res));
  if (res.result_int() == 100) {
    ASSERT_TRUE(c.Read(&res));
  }
  EXPECT_EQ(res.result_int(), 200);
}

TEST_F(ServerTest, StopDrainsInFlightRequestsAndClosesIdleOnes) {
  StartServer();
  RawClient idle(server_->port());
  idle.Send(Post("/echo", "{}"));
  bhttp::response<bhttp::string_body> first;
  ASSERT_TRUE(idle.Read(&first));

  RawClient busy(server_->port());
  busy.Send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::thread stopper([&] { server_->Stop(); });
  bhttp::response<bhttp::string_body> res;
  ASSERT_TRUE(busy.Read(&res));  // the in-flight request still completes
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_FALSE(res.keep_alive());
  stopper.join();
  EXPECT_TRUE(idle.ClosedByPeer());
  EXPECT_EQ(server_->active_connections(), 0);
}

TEST_F(ServerTest, MetricsCountRequestsByRouteAndStatus) {
  StartServer();
  RawClient c(server_->port());
  c.Send(Post("/echo", "{}"));
  bhttp::response<bhttp::string_body> res;
  ASSERT_TRUE(c.Read(&res));
  c.Send("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(c.Read(&res));
  // The server records after the write completes, which can be just after the client reads.
  const std::string want404 = "mangaassist_http_requests_total{route=\"unmatched\",status=\"404\"} 1";
  std::string text;
  for (int i = 0; i < 200; ++i) {
    text = metrics_.RenderText();
    if (text.find(want404) != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_NE(text.find("mangaassist_http_requests_total{route=\"/echo\",status=\"200\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("mangaassist_http_requests_total{route=\"unmatched\",status=\"404\"} 1"),
            std::string::npos)
      << text;
}

TEST_F(ServerTest, StreamsChunkedAndKeepsTheConnection) {
  StartServer();
  RawClient c(server_->port());
  for (int round = 0; round < 2; ++round) {
    c.Send("GET /stream HTTP/1.1\r\nHost: x\r\nX-Request-Id: s-1\r\n\r\n");
    bhttp::response<bhttp::string_body> res;
    ASSERT_TRUE(c.Read(&res));
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_EQ(res[bhttp::field::content_type], "text/event-stream");
    EXPECT_EQ(res["X-Request-Id"], "s-1");
    EXPECT_TRUE(res.chunked());
    EXPECT_EQ(res.body(), "data: 0\n\ndata: 1\n\ndata: 2\n\n");
  }
  // The connection survived both streams: a normal request still works on it.
  c.Send(Post("/echo", "{}"));
  bhttp::response<bhttp::string_body> res;
  ASSERT_TRUE(c.Read(&res));
  EXPECT_EQ(res.result_int(), 200);
}

TEST_F(ServerTest, StreamWriterReportsAClientThatWentAway) {
  stream_pieces_ = 400;
  stream_gap_ms_ = 5;
  StartServer();
  {
    RawClient c(server_->port());
    c.Send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }  // closes the socket mid-stream
  for (int i = 0; i < 400 && !stream_done_.load(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(stream_done_.load()) << "the handler never noticed the client leaving";
  EXPECT_TRUE(stream_client_gone_.load());
}

}  // namespace
}  // namespace mangaassist::http
