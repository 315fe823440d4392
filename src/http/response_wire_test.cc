#include "http/response_wire.h"

#include <boost/asio/buffer.hpp>

#include "gtest/gtest.h"

namespace mangaassist::http {
namespace {

namespace bhttp = boost::beast::http;
using Res = bhttp::response<bhttp::string_body>;

// What Beast's own serializer writes for `res`: the reference.
std::string WithBeast(Res res) {
  bhttp::response_serializer<bhttp::string_body> sr(res);
  std::string out;
  boost::system::error_code ec;
  while (!ec && !sr.is_done()) {
    sr.next(ec, [&](boost::system::error_code&, const auto& buffers) {
      const size_t n = boost::asio::buffer_size(buffers);
      const size_t at = out.size();
      out.resize(at + n);
      boost::asio::buffer_copy(boost::asio::buffer(out.data() + at, n), buffers);
      sr.consume(n);
    });
  }
  EXPECT_FALSE(ec) << ec.message();
  return out;
}

std::string Ours(const Res& res) {
  std::string out = "stale bytes from the previous response";
  EXPECT_FALSE(SerializeResponse(res, &out));
  return out;
}

TEST(ResponseWireTest, JsonAnswerIsByteForByteBeasts) {
  Res res{bhttp::status::ok, 11};
  res.set(bhttp::field::content_type, "application/json");
  res.body() = R"({"request_id":"r1","answer":"こんにちは"})";
  res.set("X-Request-Id", "r1");
  res.keep_alive(true);
  res.prepare_payload();
  const std::string wire = Ours(res);
  EXPECT_EQ(wire, WithBeast(res));
  EXPECT_EQ(wire.substr(0, 17), "HTTP/1.1 200 OK\r\n");
  EXPECT_NE(wire.find("Content-Length: " + std::to_string(res.body().size()) + "\r\n"),
            std::string::npos);
  EXPECT_EQ(wire.substr(wire.size() - res.body().size()), res.body());
}

TEST(ResponseWireTest, StatusesVersionsReasonsAndEmptyBodies) {
  struct Case {
    unsigned status;
    unsigned version;
    bool keep_alive;
    std::string body;
  };
  for (const Case& c : std::vector<Case>{{404, 11, true, R"({"error":{}})"},
                                         {429, 11, false, "{}"},
                                         {204, 11, true, ""},
                                         {304, 11, true, ""},
                                         {200, 10, true, "ok"},
                                         {200, 10, false, "ok"},
                                         {503, 11, true, ""},
                                         {299, 11, true, "unknown status"}}) {
    Res res{static_cast<bhttp::status>(c.status), c.version};
    res.set(bhttp::field::content_type, "text/plain");
    res.body() = c.body;
    res.keep_alive(c.keep_alive);
    res.prepare_payload();
    EXPECT_EQ(Ours(res), WithBeast(res)) << c.status << " HTTP/" << c.version;
  }
}

TEST(ResponseWireTest, FieldsKeepTheirOrderCaseAndRepeats) {
  Res res{bhttp::status::too_many_requests, 11};
  res.reason("Slow Down");
  res.insert("x-custom-lower", "a");
  res.insert(bhttp::field::set_cookie, "a=1");
  res.insert(bhttp::field::set_cookie, "b=2");
  res.insert("Retry-After", "3");
  res.insert("X-Empty", "");
  res.body() = "{}";
  res.prepare_payload();
  const std::string wire = Ours(res);
  EXPECT_EQ(wire, WithBeast(res));
  EXPECT_EQ(wire.substr(0, 27), "HTTP/1.1 429 Slow Down\r\nx-c");
}

TEST(ResponseWireTest, ChunkedResponsesTakeBeastsSerializer) {
  Res res{bhttp::status::ok, 11};
  res.body() = "hello";
  res.chunked(true);
  const std::string wire = Ours(res);
  EXPECT_EQ(wire, WithBeast(res));
  EXPECT_NE(wire.find("5\r\nhello\r\n"), std::string::npos);
  EXPECT_EQ(wire.substr(wire.size() - 5), "0\r\n\r\n");
}

// SerializeReply is exactly "set X-Request-Id, keep_alive(k), prepare_payload(), serialize",
// on its fast path (handler left those fields alone) and off it.
TEST(ResponseWireTest, ReplyIsWhatTheServerWouldHaveMadeOfTheMessage) {
  struct Extra {
    std::string name, value;
  };
  const std::vector<std::vector<Extra>> field_sets = {
      {},
      {{"Content-Type", "application/json"}, {"Retry-After", "3"}},
      {{"Connection", "upgrade"}},
      {{"Connection", "close"}},
      {{"Connection", "keep-alive"}},
      {{"x-request-id", "from-the-handler"}},
      {{"Content-Length", "999"}},
      {{"Cache-Control", "no-cache"}, {"Connection", "Keep-Alive, Upgrade"}}};
  int cases = 0;
  for (const unsigned status : {200u, 404u, 429u, 503u, 204u, 304u}) {
    for (const unsigned version : {10u, 11u}) {
      for (const bool keep_alive : {true, false}) {
        for (const char* body : {"", R"({"a":"ワン"})"}) {
          const bool bodiless = status == 204 || status == 304;
          if (bodiless && *body != 0) continue;  // Beast refuses that message
          for (const auto& extras : field_sets) {
            Res res{static_cast<bhttp::status>(status), version};
            for (const Extra& e : extras) res.insert(e.name, e.value);
            res.body() = body;
            Res expected_msg = res;
            expected_msg.set("X-Request-Id", "req-7");
            expected_msg.keep_alive(keep_alive);
            expected_msg.prepare_payload();
            const std::string expected = WithBeast(expected_msg);
            std::string wire = "stale";
            EXPECT_FALSE(SerializeReply(res, "req-7", keep_alive, &wire));
            EXPECT_EQ(wire, expected) << status << " HTTP/" << version << " keep-alive "
                                      << keep_alive << " fields " << extras.size();
            ++cases;
          }
        }
      }
    }
  }
  EXPECT_GT(cases, 300);
}

}  // namespace
}  // namespace mangaassist::http
