// End-to-end tests of the native chat endpoint over real HTTP: the gateway (embedded
// defaults) on a free port, driven by HttpTestClient. Covers every bad-input class.
#include <memory>
#include <string>

#include "api/gateway.h"
#include "gtest/gtest.h"
#include "http/server.h"
#include "nlohmann/json.hpp"
#include "tests/support/http_test_client.h"

namespace mangaassist {
namespace {

using testing::HttpTestClient;

class ChatApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = core::DefaultConfig();
    config_.data_dir = MANGAASSIST_DATA_DIR_FOR_TESTS;
    config_.server.host = "127.0.0.1";
    config_.server.port = 0;
    config_.server.threads = 2;
    config_.server.max_body_bytes = 8 * 1024;
    config_.limits.max_message_bytes = 2 * 1024;
    auto gw = api::Gateway::Create(&config_, &metrics_, &core::SystemClock());
    ASSERT_TRUE(gw.ok()) << gw.status();
    gateway_ = std::move(*gw);
    server_ = std::make_unique<http::Server>(config_.server, gateway_->handler(), &metrics_);
    ASSERT_TRUE(server_->Start().ok());
    gateway_->SetReady(true);
    client_ = std::make_unique<HttpTestClient>(server_->port());
  }
  void TearDown() override {
    client_.reset();
    if (server_) server_->Stop();
  }

  // Posts `body` and checks a JSON error of `status` with `type` and the request id.
  void ExpectError(const std::string& body, int status, const std::string& type,
                   const std::string& needle = "") {
    auto res = client_->Post("/v1/chat", body, {{"X-Request-Id", "req-bad-1"}});
    ASSERT_TRUE(res.ok()) << res.status();
    EXPECT_EQ(res->status, status) << body.substr(0, 80) << " → " << res->body;
    auto j = nlohmann::json::parse(res->body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << res->body;
    EXPECT_EQ(j["error"]["type"], type) << res->body;
    EXPECT_EQ(j["error"]["request_id"], "req-bad-1");
    EXPECT_EQ(res->Header("X-Request-Id"), "req-bad-1");
    if (!needle.empty()) {
      EXPECT_NE(j["error"]["message"].get<std::string>().find(needle), std::string::npos)
          << res->body;
    }
    ExpectStillServing();
  }

  void ExpectStillServing() {
    HttpTestClient fresh(server_->port());
    auto ok = fresh.Post("/v1/chat", R"({"session_id":"s","user_id":"u","message":"hello"})");
    ASSERT_TRUE(ok.ok()) << ok.status();
    EXPECT_EQ(ok->status, 200);
  }

  core::Config config_;
  core::Registry metrics_;
  std::unique_ptr<api::Gateway> gateway_;
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<HttpTestClient> client_;
};

TEST_F(ChatApiTest, JapaneseGreetingIsAnsweredInJapaneseAtZeroCost) {
  auto res = client_->Post("/v1/chat", R"({"session_id":"s1","user_id":"u1","message":"こんにちは"})");
  ASSERT_TRUE(res.ok()) << res.status();
  ASSERT_EQ(res->status, 200) << res->body;
  auto j = nlohmann::json::parse(res->body);
  EXPECT_EQ(j["route"], "extractive");
  EXPECT_EQ(j["lang"], "ja");
  // Japanese (brand names such as "MangaAssist" may make it `mixed`), never English.
  EXPECT_NE(core::DetectLanguage(j["answer"].get<std::string>()), core::Lang::kEn) << j["answer"];
  EXPECT_EQ(j["cost"]["nano_usd"], 0);
  EXPECT_EQ(j["cost"]["usd"], "0.000000000");
  std::string rid = j["request_id"];
  EXPECT_EQ(rid.size(), 36u);
  EXPECT_EQ(res->Header("X-Request-Id"), rid);
  EXPECT_EQ(res->Header("Content-Type"), "application/json");
}

TEST_F(ChatApiTest, EnglishTitleQuestionIsAnsweredInEnglish) {
  auto res = client_->Post(
      "/v1/chat", R"({"session_id":"s1","user_id":"u1","message":"Is One Piece vol 105 in stock?","tier":"member"})");
  ASSERT_TRUE(res.ok());
  ASSERT_EQ(res->status, 200) << res->body;
  auto j = nlohmann::json::parse(res->body);
  EXPECT_EQ(j["lang"], "en");
  EXPECT_EQ(core::DetectLanguage(j["answer"].get<std::string>()), core::Lang::kEn) << j["answer"];
}

TEST_F(ChatApiTest, ClientRequestIdIsKept) {
  auto res = client_->Post("/v1/chat", R"({"session_id":"s","user_id":"u","message":"hi"})",
                           {{"X-Request-Id", "trace-abc.123"}});
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(nlohmann::json::parse(res->body)["request_id"], "trace-abc.123");
}

TEST_F(ChatApiTest, InvalidJson) { ExpectError("{not json", 400, "invalid_request_error", "malformed JSON"); }
TEST_F(ChatApiTest, TruncatedJson) {
  ExpectError(R"({"session_id":"s","user_id":"u","message":"hel)", 400, "invalid_request_error");
}
TEST_F(ChatApiTest, InvalidUtf8) {
  ExpectError("{\"session_id\":\"s\",\"user_id\":\"u\",\"message\":\"\xc3\x28\"}", 400,
              "invalid_request_error", "UTF-8");
}
TEST_F(ChatApiTest, WrongFieldType) {
  ExpectError(R"({"session_id":"s","user_id":"u","message":["a"]})", 400, "invalid_request_error",
              "must be a string");
}
TEST_F(ChatApiTest, MissingField) {
  ExpectError(R"({"session_id":"s","user_id":"u"})", 400, "invalid_request_error", "'message' is required");
}
TEST_F(ChatApiTest, EmptyBody) { ExpectError("", 400, "invalid_request_error", "empty"); }
TEST_F(ChatApiTest, NonObjectBody) { ExpectError("[1,2]", 400, "invalid_request_error", "JSON object"); }
TEST_F(ChatApiTest, OversizeBody) {
  ExpectError(R"({"session_id":"s","user_id":"u","message":")" + std::string(9000, 'a') + "\"}",
              413, "request_too_large");
}
TEST_F(ChatApiTest, OversizeMessageField) {
  ExpectError(R"({"session_id":"s","user_id":"u","message":")" + std::string(3000, 'a') + "\"}",
              413, "request_too_large", "'message'");
}
TEST_F(ChatApiTest, DeepNesting) {
  ExpectError(R"({"session_id":"s","user_id":"u","message":"m","x":)" + std::string(100, '[') +
                  std::string(100, ']') + "}",
              400, "invalid_request_error", "nesting");
}
TEST_F(ChatApiTest, UnknownTier) {
  ExpectError(R"({"session_id":"s","user_id":"u","message":"m","tier":"gold"})", 400,
              "invalid_request_error", "unknown tier");
}
TEST_F(ChatApiTest, NulBytes) {
  ExpectError(R"({"session_id":"s","user_id":"u","message":"a\u0000b"})", 400,
              "invalid_request_error", "NUL");
}
TEST_F(ChatApiTest, UnknownFieldsAreIgnored) {
  auto res = client_->Post("/v1/chat",
                           R"({"session_id":"s","user_id":"u","message":"hello","foo":{"bar":[1]}})");
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->status, 200) << res->body;
}

TEST_F(ChatApiTest, HealthReadyAndMetrics) {
  auto h = client_->Get("/healthz");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->status, 200);
  auto r = client_->Get("/readyz");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  gateway_->SetReady(false);
  auto r2 = client_->Get("/readyz");
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->status, 503);
  ASSERT_TRUE(client_->Post("/v1/chat", R"({"session_id":"s","user_id":"u","message":"hi"})").ok());
  ASSERT_TRUE(client_->Post("/v1/chat", R"({"session_id":"s"})").ok());
  auto m = client_->Get("/metrics");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->status, 200);
  EXPECT_NE(m->Header("Content-Type").find("text/plain"), std::string::npos);
  EXPECT_NE(m->body.find("mangaassist_http_requests_total{route=\"/v1/chat\",status=\"200\"}"),
            std::string::npos);
  EXPECT_NE(m->body.find("mangaassist_http_request_duration_seconds_bucket"), std::string::npos);
  EXPECT_NE(m->body.find("mangaassist_http_in_flight_requests"), std::string::npos);
  EXPECT_NE(m->body.find("mangaassist_build_info{version="), std::string::npos);
  EXPECT_NE(m->body.find("mangaassist_chat_errors_total 1"), std::string::npos) << m->body;
}

}  // namespace
}  // namespace mangaassist
