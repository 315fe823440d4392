// End-to-end tests of the drop-in endpoints over real HTTP: the gateway on a free port with
// Anthropic- and OpenAI-type providers pointed at the fake upstream, driven by HttpTestClient.
// Non-streamed and streamed answers in both dialects, cost headers, /v1/models, the errors of
// either dialect, upstream failures before and after the first byte, and a client that leaves
// mid-stream (the upstream call is cancelled and its tokens still accounted).
#include <memory>
#include <string>
#include <thread>

#include "api/gateway.h"
#include "core/pricing.h"
#include "gtest/gtest.h"
#include "http/server.h"
#include "nlohmann/json.hpp"
#include "tests/support/fake_upstream.h"
#include "tests/support/http_test_client.h"

namespace mangaassist {
namespace {

using testing::Behavior;
using testing::FakeUpstream;
using testing::HttpTestClient;
using testing::ParseSse;
using testing::SseEvent;

constexpr char kHaikuId[] = "claude-3-5-haiku-20241022";

class CompatApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_ = FakeUpstream::Start();
    ASSERT_NE(fake_, nullptr);
    config_ = core::DefaultConfig();
    config_.data_dir = MANGAASSIST_DATA_DIR_FOR_TESTS;
    config_.server.host = "127.0.0.1";
    config_.server.port = 0;
    config_.server.threads = 2;
    config_.providers.clear();
    core::ProviderConfig anthropic;
    anthropic.name = "claude";
    anthropic.type = "anthropic";
    anthropic.base_url = fake_->base_url();
    anthropic.api_key = "sk-ant-test";
    anthropic.retry.max_attempts = 1;
    anthropic.timeout = absl::Seconds(10);
    core::ProviderConfig local = anthropic;
    local.name = "local";
    local.type = "openai";
    config_.providers = {anthropic, local};
    config_.models = {
        core::ModelAliasConfig{"haiku", "claude", kHaikuId, "", "", {}},
        core::ModelAliasConfig{"auto", "claude", kHaikuId, "", "", {}},
        core::ModelAliasConfig{"llama", "local", "llama3", "free", "haiku", {}},
    };
    auto gw = api::Gateway::Create(&config_, &metrics_, &core::SystemClock());
    ASSERT_TRUE(gw.ok()) << gw.status();
    gateway_ = std::move(*gw);
    server_ = std::make_unique<http::Server>(config_.server, gateway_->handler(), &metrics_);
    ASSERT_TRUE(server_->Start().ok());
    gateway_->SetReady(true);
    client_ = std::make_unique<HttpTestClient>(server_->port());
    auto prices = core::PriceTable::LoadFile(config_.DataPath(config_.pricing_file));
    ASSERT_TRUE(prices.ok()) << prices.status();
    prices_ = std::make_unique<core::PriceTable>(*std::move(prices));
  }
  void TearDown() override {
    client_.reset();
    if (server_) server_->Stop();
  }

  int64_t HaikuCostNanos(const Behavior::Usage& u) {
    return core::CostOf(*prices_->FindModel(kHaikuId),
                        {u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_write_tokens})
        .Total()
        .nanos();
  }

  int64_t Counter(const std::string& name, const core::Labels& labels) {
    return metrics_.GetCounter(name, "", labels).Value();
  }

  static std::string Joined(const std::vector<SseEvent>& events, const std::string& path) {
    std::string text;
    for (const SseEvent& e : events) {
      auto j = nlohmann::json::parse(e.data, nullptr, false);
      if (j.is_discarded()) continue;
      if (path == "openai" && j.contains("choices") && !j["choices"].empty() &&
          j["choices"][0]["delta"].contains("content")) {
        text += j["choices"][0]["delta"]["content"].get<std::string>();
      }
      if (path == "anthropic" && j.value("type", "") == "content_block_delta") {
        text += j["delta"]["text"].get<std::string>();
      }
    }
    return text;
  }

  std::unique_ptr<FakeUpstream> fake_;
  core::Config config_;
  core::Registry metrics_;
  std::unique_ptr<core::PriceTable> prices_;
  std::unique_ptr<api::Gateway> gateway_;
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<HttpTestClient> client_;
};

TEST_F(CompatApiTest, OpenAiChatCompletionIsAnsweredWithUsageAndCostHeader) {
  Behavior b;
  b.answer = "Volume 105 ships tomorrow.";
  b.usage = {1200, 40, 300, 100};
  fake_->SetBehavior(b);
  auto res = client_->Post("/v1/chat/completions", R"({"model":"haiku","messages":[
      {"role":"system","content":"Be brief."},{"role":"user","content":"When does vol 105 ship?"}]})",
                           {{"X-Request-Id", "req-oa-1"}});
  ASSERT_TRUE(res.ok()) << res.status();
  ASSERT_EQ(res->status, 200) << res->body;
  auto j = nlohmann::json::parse(res->body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["model"], kHaikuId);
  EXPECT_EQ(j["choices"][0]["message"]["content"], b.answer);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 1600);  // OpenAI counts cached prompt tokens too
  EXPECT_EQ(j["usage"]["completion_tokens"], 40);
  EXPECT_EQ(res->Header("x-mangaassist-cost-nano-usd"), std::to_string(HaikuCostNanos(b.usage)));
  EXPECT_EQ(res->Header("x-mangaassist-cost-usd"), "0.001244000");
  EXPECT_EQ(res->Header("X-Request-Id"), "req-oa-1");
  // The Anthropic provider got the translated request: system apart, the user turn, the id.
  testing::RecordedRequest sent = fake_->LastRequest();
  EXPECT_EQ(sent.target, "/v1/messages");
  auto up = nlohmann::json::parse(sent.body);
  EXPECT_EQ(up["model"], kHaikuId);
  EXPECT_NE(up["system"].dump().find("Be brief."), std::string::npos) << sent.body;
  EXPECT_EQ(up["messages"].size(), 1u);
  EXPECT_EQ(sent.Header("X-Request-Id"), "req-oa-1");
}

TEST_F(CompatApiTest, OpenAiStreamDeliversChunksUsageCostAndDone) {
  Behavior b;
  b.answer = "One Piece vol 105 は在庫があります。";
  b.stream_chunks = 4;
  b.usage = {500, 20, 0, 0};
  fake_->SetBehavior(b);
  auto res = client_->Post(
      "/v1/chat/completions",
      R"({"model":"auto","stream":true,"stream_options":{"include_usage":true},
          "messages":[{"role":"user","content":"在庫ありますか？"}]})");
  ASSERT_TRUE(res.ok()) << res.status();
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_TRUE(res->complete);
  EXPECT_NE(res->Header("Content-Type").find("text/event-stream"), std::string::npos);
  std::vector<SseEvent> events = ParseSse(res->body);
  ASSERT_GE(events.size(), 4u) << res->body;
  EXPECT_EQ(events.back().data, "[DONE]");
  EXPECT_EQ(Joined(events, "openai"), b.answer);
  for (size_t i = 0; i + 1 < events.size(); ++i) {  // one model for the whole stream
    EXPECT_EQ(nlohmann::json::parse(events[i].data)["model"], kHaikuId) << events[i].data;
  }
  auto first = nlohmann::json::parse(events.front().data);
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  auto usage = nlohmann::json::parse(events[events.size() - 2].data);
  EXPECT_EQ(usage["usage"]["prompt_tokens"], 500);
  EXPECT_EQ(usage["usage"]["completion_tokens"], 20);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_NE(res->body.find(": x-mangaassist-cost-usd=0.000480000"), std::string::npos) << res->body;
  EXPECT_EQ(Counter("mangaassist_llm_cost_nano_usd_total", {{"model", kHaikuId}}),
            HaikuCostNanos(b.usage));
}

TEST_F(CompatApiTest, AnthropicMessagesAnsweredAndStreamedInAnthropicShape) {
  Behavior b;
  b.answer = "Berserk volume 1 is in stock.";
  b.usage = {700, 15, 0, 0};
  b.stream_chunks = 3;
  fake_->SetBehavior(b);
  const std::string body = R"({"model":"haiku","max_tokens":200,
      "system":[{"type":"text","text":"You sell manga.","cache_control":{"type":"ephemeral"}}],
      "messages":[{"role":"user","content":[{"type":"text","text":"Berserk vol 1?"}]}]})";
  auto res = client_->Post("/v1/messages", body, {{"anthropic-version", "2023-06-01"}});
  ASSERT_TRUE(res.ok()) << res.status();
  ASSERT_EQ(res->status, 200) << res->body;
  auto j = nlohmann::json::parse(res->body);
  EXPECT_EQ(j["type"], "message");
  EXPECT_EQ(j["content"][0]["text"], b.answer);
  EXPECT_EQ(j["stop_reason"], "end_turn");
  EXPECT_EQ(j["usage"]["input_tokens"], 700);
  EXPECT_EQ(res->Header("x-mangaassist-cost-nano-usd"), std::to_string(HaikuCostNanos(b.usage)));
  // The client's cache breakpoint on the system prompt reached the provider.
  EXPECT_NE(fake_->LastRequest().body.find("cache_control"), std::string::npos);

  std::string streamed = body;
  streamed.insert(1, R"("stream":true,)");
  auto sres = client_->Post("/v1/messages", streamed, {{"anthropic-version", "2023-06-01"}});
  ASSERT_TRUE(sres.ok()) << sres.status();
  ASSERT_EQ(sres->status, 200) << sres->body;
  std::vector<SseEvent> events = ParseSse(sres->body);
  ASSERT_GE(events.size(), 6u) << sres->body;
  EXPECT_EQ(events.front().event, "message_start");
  EXPECT_EQ(events.back().event, "message_stop");
  EXPECT_EQ(Joined(events, "anthropic"), b.answer);
  auto delta = nlohmann::json::parse(events[events.size() - 2].data);
  EXPECT_EQ(delta["type"], "message_delta");
  EXPECT_EQ(delta["usage"]["output_tokens"], 15);
  EXPECT_EQ(delta["usage"]["input_tokens"], 700);  // the provider's figure, not the estimate
  for (const SseEvent& e : events) {
    auto j = nlohmann::json::parse(e.data);
    if (j.value("type", "") == "message_start") {
      EXPECT_EQ(j["message"]["model"], kHaikuId);
    }
  }
}

TEST_F(CompatApiTest, ModelsAreListedInEitherDialect) {
  auto res = client_->Get("/v1/models");
  ASSERT_TRUE(res.ok()) << res.status();
  ASSERT_EQ(res->status, 200);
  auto j = nlohmann::json::parse(res->body);
  EXPECT_EQ(j["object"], "list");
  std::vector<std::string> ids;
  for (const auto& m : j["data"]) ids.push_back(m["id"]);
  EXPECT_EQ(ids, (std::vector<std::string>{"haiku", "auto", "llama", kHaikuId, "llama3"}));
  auto ares = client_->Get("/v1/models", {{"anthropic-version", "2023-06-01"}});
  ASSERT_TRUE(ares.ok()) << ares.status();
  auto a = nlohmann::json::parse(ares->body);
  EXPECT_EQ(a["data"][0]["type"], "model");
  EXPECT_EQ(a["first_id"], "haiku");
  EXPECT_EQ(a["has_more"], false);
}

TEST_F(CompatApiTest, ErrorsComeInTheClientsDialectWithTheRequestId) {
  struct Case {
    std::string path, body;
    int status;
    std::string needle;
  } cases[] = {
      {"/v1/chat/completions", R"({"model":"haiku","messages":[{"role":"user","content":"x"}],
        "tools":[{"type":"function","function":{"name":"f"}}]})", 400, "tools"},
      {"/v1/chat/completions", R"({"model":"gpt-9","messages":[{"role":"user","content":"x"}]})",
       404, "gpt-9"},
      {"/v1/chat/completions", R"({"model":"haiku","messages":[)", 400, "JSON"},
      {"/v1/chat/completions", "{\"model\":\"haiku\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}",
       400, "UTF-8"},
      {"/v1/messages", R"({"model":"haiku","messages":[{"role":"user","content":"x"}]})", 400,
       "max_tokens"},
      {"/v1/chat/completions",
       R"({"model":"haiku","temperature":1.5,"messages":[{"role":"user","content":"x"}]})", 400,
       "temperature"},
      {"/v1/messages", R"({"model":"haiku","max_tokens":9,"messages":[{"role":"user","content":
        [{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA=="}}]}]})",
       400, "image"},
  };
  for (const Case& c : cases) {
    auto res = client_->Post(c.path, c.body, {{"X-Request-Id", "req-err-1"}});
    ASSERT_TRUE(res.ok()) << res.status();
    EXPECT_EQ(res->status, c.status) << c.body << " → " << res->body;
    auto j = nlohmann::json::parse(res->body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << res->body;
    std::string message = j["error"]["message"];
    EXPECT_NE(message.find(c.needle), std::string::npos) << res->body;
    if (c.path == "/v1/messages") {
      EXPECT_EQ(j["type"], "error");
      EXPECT_EQ(j["request_id"], "req-err-1");
    } else {
      EXPECT_EQ(j["error"]["request_id"], "req-err-1");
    }
  }
  EXPECT_EQ(fake_->TotalRequests(), 0) << "a refused request must not reach the provider";
}

TEST_F(CompatApiTest, UpstreamFailureBeforeTheStreamIsAPlainErrorResponse) {
  Behavior b;
  b.failure = Behavior::Failure::kServerError;
  fake_->SetBehavior(b);
  auto res = client_->Post("/v1/chat/completions",
                           R"({"model":"haiku","stream":true,"messages":[{"role":"user","content":"hi"}]})");
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_GE(res->status, 500) << res->body;
  auto j = nlohmann::json::parse(res->body, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << res->body;
  EXPECT_EQ(j["error"]["type"], "api_error");
}

TEST_F(CompatApiTest, UpstreamFailureMidStreamEndsWithAnInBandError) {
  Behavior b;
  b.answer = "a b c d e f g h";
  b.stream_chunks = 4;
  b.failure = Behavior::Failure::kMidStreamError;
  b.truncate_after_chunks = 2;
  fake_->SetBehavior(b);
  auto res = client_->Post("/v1/messages",
                           R"({"model":"haiku","max_tokens":50,"stream":true,
                               "messages":[{"role":"user","content":"hi"}]})");
  ASSERT_TRUE(res.ok()) << res.status();
  ASSERT_EQ(res->status, 200);
  std::vector<SseEvent> events = ParseSse(res->body);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().event, "error") << res->body;
  EXPECT_FALSE(Joined(events, "anthropic").empty());
}

TEST_F(CompatApiTest, ClientLeavingMidStreamCancelsUpstreamAndTheTokensAreStillCounted) {
  Behavior b;
  b.answer = std::string(2000, 'y');
  b.stream_chunks = 100;
  b.chunk_interval = std::chrono::milliseconds(20);
  b.usage = {900, 500, 0, 0};
  fake_->SetBehavior(b);
  auto started = client_->StartStream(
      "/v1/chat/completions",
      R"({"model":"haiku","stream":true,"messages":[{"role":"user","content":"tell me a long story"}]})");
  ASSERT_TRUE(started.ok()) << started.status();
  ASSERT_EQ(started->status, 200);
  auto piece = client_->ReadStreamChunk();
  ASSERT_TRUE(piece.ok()) << piece.status();
  client_->Close();
  EXPECT_TRUE(fake_->WaitForClientAbortedStreams(1, std::chrono::seconds(5)))
      << "the upstream stream was not cancelled";
  // The call stage counted the client leaving and priced the consumed tokens: the 900 input
  // tokens (reported at message_start) plus the output so far.
  int64_t gone = 0, cost = 0;
  for (int i = 0; i < 200 && gone == 0; ++i) {
    gone = Counter("mangaassist_llm_client_gone_total", {{"model", kHaikuId}});
    if (gone == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  cost = Counter("mangaassist_llm_cost_nano_usd_total", {{"model", kHaikuId}});
  EXPECT_EQ(gone, 1);
  EXPECT_GT(cost, HaikuCostNanos({900, 0, 0, 0}));
  EXPECT_LT(cost, HaikuCostNanos(b.usage));
}

TEST_F(CompatApiTest, OpenAiCompatibleProviderServesAnAlias) {
  auto res = client_->Post("/v1/chat/completions",
                           R"({"model":"llama","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_TRUE(res.ok()) << res.status();
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(fake_->LastRequest().target, "/v1/chat/completions");
  EXPECT_EQ(res->Header("x-mangaassist-cost-nano-usd"), "0");  // price: free
  EXPECT_EQ(nlohmann::json::parse(res->body)["model"], "llama3");
}

}  // namespace
}  // namespace mangaassist
