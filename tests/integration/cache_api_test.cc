// End-to-end tests of the exact response cache (US-03) over real HTTP: the gateway on a free
// port with an Anthropic provider on the fake upstream and the pipeline
// [admit, normalize, cache, call, cache_fill, record]. The second identical question — native,
// OpenAI-compatible (plain and streamed) or Anthropic-compatible (streamed) — is answered with
// route `cache` at zero cost; errors are not cached; POST /admin/cache/invalidate behind the admin
// key; hit rates in /metrics and /readyz detail (also of the responder's product:, reco: and
// promo: lookups); a US-03 hit rate in the KPI rollup; and a chat that keeps working while the
// Redis holding llmresp: is killed and restarted.
#include <openssl/evp.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "api/gateway.h"
#include "gtest/gtest.h"
#include "http/server.h"
#include "nlohmann/json.hpp"
#include "telemetry/kpi.h"
#include "telemetry/sqlite_sink.h"
#include "tests/support/fake_upstream.h"
#include "tests/support/http_test_client.h"
#include "tests/support/redis_server.h"

namespace mangaassist {
namespace {

using testing::Behavior;
using testing::FakeUpstream;
using testing::HttpTestClient;
using testing::ParseSse;
using testing::SseEvent;

constexpr char kHaikuId[] = "claude-3-5-haiku-20241022";
constexpr char kAdminKey[] = "admin-key-for-tests";

// Lower-case hex SHA-256, as `printf %s KEY | sha256sum` prints it for admin.keys_sha256.
std::string Sha256Hex(std::string_view s) {
  unsigned char d[32];
  unsigned int n = 0;
  EVP_Digest(s.data(), s.size(), d, &n, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : d) {
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
  }
  return out;
}

class CacheApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_ = FakeUpstream::Start();
    ASSERT_NE(fake_, nullptr);
    Behavior b;
    b.answer = "Yes — One Piece volume 105 is in stock.";
    b.usage = {1200, 40, 300, 100};
    fake_->SetBehavior(b);
    answer_ = b.answer;
    config_ = core::DefaultConfig();
    config_.data_dir = MANGAASSIST_DATA_DIR_FOR_TESTS;
    config_.server.host = "127.0.0.1";
    config_.server.port = 0;
    config_.server.threads = 2;
    config_.pipeline.stages = {"admit", "normalize", "cache", "call", "cache_fill"};
    core::ProviderConfig p;
    p.name = "claude";
    p.type = "anthropic";
    p.base_url = fake_->base_url();
    p.api_key = "sk-ant-test";
    p.retry.max_attempts = 1;
    p.timeout = absl::Seconds(10);
    config_.providers = {p};
    config_.models = {
        core::ModelAliasConfig{"haiku", "claude", kHaikuId, "", "", {}},
        core::ModelAliasConfig{"sonnet", "claude", "claude-3-5-sonnet-20241022", "", "", {}}};
    config_.admin.keys_sha256 = {Sha256Hex(kAdminKey)};
  }

  void Start() {
    auto gw = api::Gateway::Create(&config_, &metrics_, &core::SystemClock());
    ASSERT_TRUE(gw.ok()) << gw.status();
    gateway_ = std::move(*gw);
    server_ = std::make_unique<http::Server>(config_.server, gateway_->handler(), &metrics_);
    ASSERT_TRUE(server_->Start().ok());
    gateway_->SetReady(true);
    client_ = std::make_unique<HttpTestClient>(server_->port());
  }

  void Stop() {
    client_.reset();
    if (server_) server_->Stop();
    server_.reset();
    gateway_.reset();  // the recorder drains into its sink
  }

  void TearDown() override { Stop(); }

  absl::StatusOr<testing::HttpResponse> Chat(
      const std::string& message = "Is One Piece vol 105 in stock?") {
    return client_->Post(
        "/v1/chat",
        nlohmann::json{{"session_id", "s1"}, {"user_id", "u1"}, {"message", message}}.dump());
  }

  int64_t UpstreamCalls() const { return fake_->RequestCount("/v1/messages"); }

  static std::string JoinedOpenAi(const std::vector<SseEvent>& events) {
    std::string text;
    for (const SseEvent& e : events) {
      auto j = nlohmann::json::parse(e.data, nullptr, false);
      if (j.is_discarded() || !j.contains("choices") || j["choices"].empty()) continue;
      if (j["choices"][0]["delta"].contains("content")) {
        text += j["choices"][0]["delta"]["content"].get<std::string>();
      }
    }
    return text;
  }

  std::unique_ptr<FakeUpstream> fake_;
  std::string answer_;
  core::Config config_;
  core::Registry metrics_;
  std::unique_ptr<api::Gateway> gateway_;
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<HttpTestClient> client_;
};

TEST_F(CacheApiTest, SecondIdenticalNativeChatIsServedFromCacheAtZeroCost) {
  Start();
  auto first = Chat();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->status, 200) << first->body;
  auto j1 = nlohmann::json::parse(first->body);
  EXPECT_EQ(j1["route"], "haiku");
  EXPECT_GT(j1["cost"]["nano_usd"].get<int64_t>(), 0);

  auto second = Chat();
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->status, 200) << second->body;
  auto j2 = nlohmann::json::parse(second->body);
  EXPECT_EQ(j2["route"], "cache");
  EXPECT_EQ(j2["answer"], answer_);
  EXPECT_EQ(j2["cost"]["nano_usd"].get<int64_t>(), 0);
  EXPECT_EQ(UpstreamCalls(), 1);

  // A different question is a miss.
  auto other = Chat("Is One Piece vol 106 in stock?");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(nlohmann::json::parse(other->body)["route"], "haiku");
  EXPECT_EQ(UpstreamCalls(), 2);
}

TEST_F(CacheApiTest, OpenAiCompletionsAreCachedForPlainAndStreamingClients) {
  Start();
  const std::string body =
      R"({"model":"haiku","user":"u1","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"When does vol 105 ship?"}]})";
  auto first = client_->Post("/v1/chat/completions", body);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->status, 200) << first->body;
  EXPECT_EQ(first->Header("x-mangaassist-route"), "haiku");
  EXPECT_NE(first->Header("x-mangaassist-cost-nano-usd"), "0");

  auto second = client_->Post("/v1/chat/completions", body);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->status, 200) << second->body;
  EXPECT_EQ(second->Header("x-mangaassist-route"), "cache");
  EXPECT_EQ(second->Header("x-mangaassist-cost-nano-usd"), "0");
  EXPECT_EQ(second->Header("x-mangaassist-model"), kHaikuId);
  auto j = nlohmann::json::parse(second->body);
  EXPECT_EQ(j["model"], kHaikuId);
  EXPECT_EQ(j["choices"][0]["message"]["content"], answer_);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");

  // stream=true: the same entry (the stream flag is transport, not part of the question).
  std::string streamed = body;
  streamed.insert(1, R"("stream":true,"stream_options":{"include_usage":true},)");
  auto third = client_->Post("/v1/chat/completions", streamed);
  ASSERT_TRUE(third.ok());
  ASSERT_EQ(third->status, 200) << third->body;
  EXPECT_NE(third->Header("content-type").find("text/event-stream"), std::string::npos);
  std::vector<SseEvent> events = ParseSse(third->body);
  ASSERT_GE(events.size(), 4u) << third->body;
  EXPECT_EQ(JoinedOpenAi(events), answer_);
  EXPECT_EQ(events.back().data, "[DONE]");
  EXPECT_NE(third->body.find(": x-mangaassist-cost-usd=0.000000000"), std::string::npos)
      << third->body;
  bool finished = false;
  for (const SseEvent& e : events) {
    auto c = nlohmann::json::parse(e.data, nullptr, false);
    if (!c.is_discarded() && c.contains("choices") && !c["choices"].empty() &&
        c["choices"][0]["finish_reason"] == "stop") {
      finished = true;
    }
  }
  EXPECT_TRUE(finished) << third->body;
  EXPECT_EQ(UpstreamCalls(), 1);
}

TEST_F(CacheApiTest, AnthropicStreamOfACachedAnswerIsACompleteMessagesStream) {
  Start();
  const std::string body =
      R"({"model":"haiku","max_tokens":300,"metadata":{"user_id":"u1"},"messages":[{"role":"user","content":"鬼滅の刃は全何巻？"}]})";
  auto first = client_->Post("/v1/messages", body);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->status, 200) << first->body;
  std::string streamed = body;
  streamed.insert(1, R"("stream":true,)");
  auto second = client_->Post("/v1/messages", streamed);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->status, 200) << second->body;
  std::vector<SseEvent> events = ParseSse(second->body);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().event, "message_start");
  EXPECT_EQ(events.back().event, "message_stop");
  std::string text;
  for (const SseEvent& e : events) {
    if (e.event != "content_block_delta") continue;
    text += nlohmann::json::parse(e.data)["delta"]["text"].get<std::string>();
  }
  EXPECT_EQ(text, answer_);
  EXPECT_EQ(UpstreamCalls(), 1);
}

TEST_F(CacheApiTest, UpstreamErrorsAreNotCached) {
  Start();
  Behavior down;
  down.failure = Behavior::Failure::kServerError;
  fake_->SetBehavior(down);
  auto failed = Chat();
  ASSERT_TRUE(failed.ok());
  EXPECT_GE(failed->status, 500);
  Behavior ok;
  ok.answer = answer_;
  fake_->SetBehavior(ok);
  auto answered = Chat();
  ASSERT_TRUE(answered.ok());
  ASSERT_EQ(answered->status, 200);
  EXPECT_EQ(nlohmann::json::parse(answered->body)["route"], "haiku");
  auto cached = Chat();
  ASSERT_TRUE(cached.ok());
  EXPECT_EQ(nlohmann::json::parse(cached->body)["route"], "cache");
  EXPECT_EQ(UpstreamCalls(), 2);
}

TEST_F(CacheApiTest, InvalidateNeedsTheAdminKeyAndDropsEntries) {
  Start();
  ASSERT_TRUE(Chat().ok());
  const std::string body = R"({"keyspace":"llmresp"})";
  auto none = client_->Post("/admin/cache/invalidate", body);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(nlohmann::json::parse(none->body)["error"]["type"], "authentication_error");
  auto wrong = client_->Post("/admin/cache/invalidate", body, {{"Authorization", "Bearer nope"}});
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(wrong->status, 401);
  EXPECT_EQ(nlohmann::json::parse(Chat()->body)["route"], "cache");  // nothing was dropped

  auto ok = client_->Post("/admin/cache/invalidate", body,
                          {{"Authorization", std::string("Bearer ") + kAdminKey}});
  ASSERT_TRUE(ok.ok());
  ASSERT_EQ(ok->status, 200) << ok->body;
  EXPECT_EQ(nlohmann::json::parse(ok->body)["deleted"], 1);
  EXPECT_EQ(nlohmann::json::parse(Chat()->body)["route"], "haiku");
  EXPECT_EQ(UpstreamCalls(), 2);

  // By model (an alias resolves to its model id), with X-Admin-Key.
  auto by_model = client_->Post("/admin/cache/invalidate", R"({"model":"haiku"})",
                                {{"X-Admin-Key", kAdminKey}});
  ASSERT_TRUE(by_model.ok());
  ASSERT_EQ(by_model->status, 200) << by_model->body;
  EXPECT_EQ(nlohmann::json::parse(by_model->body)["deleted"], 1);
  auto other_model =
      client_->Post("/admin/cache/invalidate", R"({"model":"claude-3-5-sonnet-20241022"})",
                    {{"X-Admin-Key", kAdminKey}});
  ASSERT_TRUE(other_model.ok());
  EXPECT_EQ(nlohmann::json::parse(other_model->body)["deleted"], 0);

  for (const char* bad :
       {R"({"keyspace":"sessions"})", R"({})", R"([1])", R"({"keyspace":1})",
        R"({"model":"haiku","prefix":"x"})", R"({"keyspace":"llmresp","ttl":"1s"})"}) {
    auto r = client_->Post("/admin/cache/invalidate", bad, {{"X-Admin-Key", kAdminKey}});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 400) << bad << " -> " << r->body;
  }
}

TEST_F(CacheApiTest, AdminIsForbiddenWithoutConfiguredKeys) {
  config_.admin.keys_sha256.clear();
  Start();
  auto r = client_->Post("/admin/cache/invalidate", R"({"keyspace":"llmresp"})",
                         {{"X-Admin-Key", kAdminKey}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 403);
  auto j = nlohmann::json::parse(r->body);
  EXPECT_EQ(j["error"]["type"], "permission_error");
  EXPECT_FALSE(j["error"]["request_id"].get<std::string>().empty());
}

TEST_F(CacheApiTest, HitRateIsInMetricsAndTheTierInReadyz) {
  Start();
  ASSERT_TRUE(Chat().ok());
  ASSERT_TRUE(Chat().ok());
  ASSERT_TRUE(Chat().ok());
  auto m = client_->Get("/metrics");
  ASSERT_TRUE(m.ok());
  EXPECT_NE(m->body.find(R"(mangaassist_cache_requests_total{keyspace="llmresp",result="hit"} 2)"),
            std::string::npos);
  EXPECT_NE(m->body.find(R"(mangaassist_cache_requests_total{keyspace="llmresp",result="miss"} 1)"),
            std::string::npos);
  auto r = client_->Get("/readyz");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  auto j = nlohmann::json::parse(r->body);
  EXPECT_EQ(j["status"], "ready");
  EXPECT_EQ(j["cache"]["llmresp"]["backend"], "memory");
  EXPECT_EQ(j["cache"]["llmresp"]["up"], true);
}

// The offline responder's catalog, recommendation and promotion answers read through product:,
// reco: and promo:, and their hit rates show in /metrics like every keyspace's.
TEST_F(CacheApiTest, StoreLookupsShowPerKeyspaceInMetrics) {
  config_.pipeline.stages = {"admit", "normalize", "respond"};
  Start();
  for (const char* m : {"Tell me about One Piece", "One Piece vol 3?", "any sales?", "any deals?",
                        "Can you recommend something like Naruto?"}) {
    auto r = Chat(m);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->status, 200) << r->body;
    auto j = nlohmann::json::parse(r->body);
    EXPECT_EQ(j["route"], "extractive") << m;
    if (std::string_view(m).starts_with("Can you")) {
      EXPECT_EQ(
          j["answer"].get<std::string>().rfind("If you like Naruto, you might also enjoy: ", 0), 0u)
          << j["answer"];
    }
  }
  auto m = client_->Get("/metrics");
  ASSERT_TRUE(m.ok());
  auto count = [&](const char* keyspace, const char* result) -> int64_t {
    const std::string line = std::string("mangaassist_cache_requests_total{keyspace=\"") +
                             keyspace + "\",result=\"" + result + "\"} ";
    const size_t at = m->body.find(line);
    return at == std::string::npos ? -1 : std::stoll(m->body.substr(at + line.size()));
  };
  EXPECT_EQ(count("product", "miss"), 1);
  EXPECT_EQ(count("product", "hit"), 1);
  EXPECT_EQ(count("reco", "miss"), 1);
  // Two promotion questions: one miss, then a hit unless they straddled a time bucket.
  EXPECT_GE(count("promo", "miss"), 1);
  EXPECT_EQ(count("promo", "miss") + count("promo", "hit"), 2);
  auto r = client_->Get("/readyz");
  ASSERT_TRUE(r.ok());
  auto j = nlohmann::json::parse(r->body);
  for (const char* ks : {"product", "reco", "promo"})
    EXPECT_EQ(j["cache"][ks]["backend"], "memory");
}

TEST_F(CacheApiTest, CacheHitsShowAsTheUs03HitRateInTheKpiRollup) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("ma-cache-kpi-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  config_.pipeline.stages = {"admit", "normalize", "cache", "call", "cache_fill", "record"};
  config_.telemetry.enabled = true;
  config_.telemetry.spool_dir = (dir / "spool").string();
  config_.telemetry.sqlite_path = (dir / "events.db").string();
  config_.telemetry.ship_interval = absl::Milliseconds(20);
  Start();
  for (int i = 0; i < 4; ++i) ASSERT_EQ(Chat()->status, 200);  // 1 miss, 3 hits
  Stop();
  telemetry::SqliteSinkOptions o;
  o.path = config_.telemetry.sqlite_path;
  auto sink = telemetry::NewSqliteSink(o);
  ASSERT_TRUE(sink.ok()) << sink.status();
  auto rollups = (*sink)->Rollups(0, INT64_MAX);
  ASSERT_TRUE(rollups.ok());
  telemetry::KpiReport report =
      telemetry::ComputeKpi(*rollups, config_.pipeline.stages, 0, INT64_MAX);
  const telemetry::StoryKpi& us03 =
      report.slices[0].stories[static_cast<size_t>(telemetry::Story::kUs03)];
  ASSERT_TRUE(us03.value.has_value()) << us03.note;
  EXPECT_DOUBLE_EQ(*us03.value, 0.75);
  EXPECT_EQ(us03.status, telemetry::KpiStatus::kOnTrack);
  // Each hit credits US-03 with what the original call paid for the model (its LLM lines; the
  // event's own analytics line is not the call's).
  core::Money paid;
  for (const auto& r : *rollups) {
    if (r.route != core::Route::kHaiku) continue;
    for (core::CostComponent c : {core::CostComponent::kLlmInput, core::CostComponent::kLlmOutput,
                                  core::CostComponent::kLlmCacheRead,
                                  core::CostComponent::kLlmCacheWrite}) {
      paid += r.cost[static_cast<size_t>(c)];
    }
  }
  EXPECT_GT(paid.nanos(), 0);
  EXPECT_GE(us03.savings.nanos(), 3 * paid.nanos());
  EXPECT_NE(telemetry::KpiText(report).find("75.0%"), std::string::npos);
  std::filesystem::remove_all(dir);
}

// GET /admin/kpi serves the same rollup over HTTP, behind the admin key, while the gateway runs.
TEST_F(CacheApiTest, AdminKpiServesTheRollupBehindTheAdminKey) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("ma-admin-kpi-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  config_.pipeline.stages = {"admit", "normalize", "cache", "call", "cache_fill", "record"};
  config_.telemetry.enabled = true;
  config_.telemetry.spool_dir = (dir / "spool").string();
  config_.telemetry.sqlite_path = (dir / "events.db").string();
  config_.telemetry.ship_interval = absl::Milliseconds(20);
  Start();
  const testing::HttpHeaders admin = {{"X-Admin-Key", kAdminKey}};
  // Nothing recorded yet: a report with no requests, not an error.
  auto empty = client_->Get("/admin/kpi", admin);
  ASSERT_TRUE(empty.ok());
  ASSERT_EQ(empty->status, 200) << empty->body;
  EXPECT_EQ(nlohmann::json::parse(empty->body)["slices"][0]["requests"], 0);

  for (int i = 0; i < 4; ++i) ASSERT_EQ(Chat()->status, 200);  // 1 miss, 3 hits
  nlohmann::json all;
  for (int i = 0; i < 250; ++i) {  // shipped within ship_interval
    auto got = client_->Get("/admin/kpi?format=json", admin);
    ASSERT_TRUE(got.ok());
    ASSERT_EQ(got->status, 200) << got->body;
    all = nlohmann::json::parse(got->body)["slices"][0];
    if (all["requests"] == 4) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(all["requests"], 4);
  nlohmann::json us03;
  for (const auto& story : all["stories"]) {
    if (story["story"] == "US-03") us03 = story;
  }
  EXPECT_EQ(us03["value"], 0.75);
  EXPECT_EQ(us03["status"], "on_track");

  auto text = client_->Get("/admin/kpi?format=text",
                           {{"Authorization", std::string("Bearer ") + kAdminKey}});
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->status, 200);
  EXPECT_NE(text->body.find("75.0%"), std::string::npos) << text->body;
  auto html = client_->Get("/admin/kpi?format=html", admin);
  ASSERT_TRUE(html.ok());
  EXPECT_NE(html->Header("content-type").find("text/html"), std::string::npos);
  // A window before any event: no requests.
  auto past = client_->Get("/admin/kpi?from=2020-01-01T00%3A00%3A00Z&to=1577923200000", admin);
  ASSERT_TRUE(past.ok());
  ASSERT_EQ(past->status, 200) << past->body;
  EXPECT_EQ(nlohmann::json::parse(past->body)["slices"][0]["requests"], 0);

  EXPECT_EQ(client_->Get("/admin/kpi")->status, 401);
  EXPECT_EQ(client_->Get("/admin/kpi", {{"X-Admin-Key", "wrong"}})->status, 401);
  for (const char* bad : {"/admin/kpi?format=xml", "/admin/kpi?window=1",
                          "/admin/kpi?from=yesterday", "/admin/kpi?from=2000&to=1000",
                          "/admin/kpi?to=%zz"}) {
    auto r = client_->Get(bad, admin);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 400) << bad << ": " << r->body;
    EXPECT_TRUE(nlohmann::json::parse(r->body)["error"].contains("request_id")) << r->body;
  }
  Stop();
  std::filesystem::remove_all(dir);
}

TEST_F(CacheApiTest, ChatsKeepWorkingWhileTheCachesRedisIsKilledAndRestarted) {
  auto redis = testing::RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  config_.cache.keyspaces["llmresp"].url = "redis://127.0.0.1:" + std::to_string((*redis)->port());
  config_.cache.backoff_initial = absl::Milliseconds(50);
  config_.cache.backoff_max = absl::Milliseconds(200);
  Start();
  ASSERT_EQ(Chat()->status, 200);
  EXPECT_EQ(nlohmann::json::parse(Chat()->body)["route"], "cache");  // served from Redis

  (*redis)->Kill();
  for (int i = 0; i < 3; ++i) {
    auto r = Chat();
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->status, 200) << r->body;  // never a failed chat because the cache is down
  }
  auto ready = nlohmann::json::parse(client_->Get("/readyz")->body);
  EXPECT_EQ(ready["status"], "ready");
  EXPECT_EQ(ready["cache"]["llmresp"]["up"], false);
  EXPECT_EQ(ready["cache"]["llmresp"]["fallback"], "memory");

  ASSERT_TRUE((*redis)->Restart().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(250));  // past the longest backoff
  ASSERT_EQ(Chat()->status, 200);  // probes, reconnects; Redis is empty after the restart
  ready = nlohmann::json::parse(client_->Get("/readyz")->body);
  EXPECT_EQ(ready["cache"]["llmresp"]["up"], true);
  EXPECT_EQ(nlohmann::json::parse(Chat()->body)["route"], "cache");
}

}  // namespace
}  // namespace mangaassist
