// US-08 over real HTTP. In-process: API keys, 429 with RateLimit-* headers, Idempotency-Key
// replay (one upstream call, one ledger row), the cap answering without a model (native: an
// extractive answer at level 3; drop-in: 429), GET /admin/budget. Distributed: two real
// `mangaassist serve` processes sharing one redis-server and one PostgreSQL ledger: 200
// concurrent expensive requests settle within cap + one estimate, a per-user limit admits its
// number in total (not per replica), and killing Redis mid-run costs no crash and no ledger row.
#include <openssl/evp.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "api/gateway.h"
#include "control/ledger.h"
#include "control/traffic.h"
#include "gtest/gtest.h"
#include "http/server.h"
#include "nlohmann/json.hpp"
#include "tests/support/fake_upstream.h"
#include "tests/support/http_test_client.h"
#include "tests/support/postgres_server.h"
#include "tests/support/redis_server.h"
#include "tests/support/server_process.h"

namespace mangaassist {
namespace {

using testing::Behavior;
using testing::FakeUpstream;
using testing::HttpTestClient;

constexpr char kSonnetId[] = "claude-3-5-sonnet-20241022";
constexpr char kHaikuId[] = "claude-3-5-haiku-20241022";
constexpr char kAdminKey[] = "admin-key-for-tests";

std::string Header(const testing::HttpResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (absl::EqualsIgnoreCase(k, name)) return v;
  }
  return "";
}

nlohmann::json Json(const testing::HttpResponse& r) {
  return nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
}

std::string ChatBody(const std::string& user, const std::string& message = "Recommend a manga") {
  return nlohmann::json{{"session_id", "s-" + user}, {"user_id", user}, {"message", message}}
      .dump();
}

class TrafficApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_ = FakeUpstream::Start();
    ASSERT_NE(fake_, nullptr);
    Behavior b;
    b.usage = {2000, 500, 0, 0};  // $0.0135 at Sonnet prices
    fake_->SetBehavior(b);
    dir_ = std::filesystem::temp_directory_path() /
           ("ma-traffic-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    config_ = core::DefaultConfig();
    config_.data_dir = MANGAASSIST_DATA_DIR_FOR_TESTS;
    config_.server.host = "127.0.0.1";
    config_.server.port = 0;
    config_.server.threads = 2;
    config_.pipeline.stages = {"admit", "normalize", "reserve", "call", "settle"};
    core::ProviderConfig p;
    p.name = "claude";
    p.type = "anthropic";
    p.base_url = fake_->base_url();
    p.api_key = "sk-ant-test";
    p.retry.max_attempts = 1;
    p.timeout = absl::Seconds(10);
    config_.providers = {p};
    config_.models = {core::ModelAliasConfig{"haiku", "claude", kHaikuId, "", "", {}},
                      core::ModelAliasConfig{"sonnet", "claude", kSonnetId, "", "", {}}};
    config_.call.guest_model = config_.call.member_model = "sonnet";
    config_.call.max_tokens = 1000;
    config_.admin.keys_sha256 = {control::KeyDigest(kAdminKey)};
    config_.budget.ledger_sqlite_path = (dir_ / "ledger.db").string();
    config_.audit.sqlite_path = (dir_ / "audit.db").string();
    config_.budget.daily_cap = core::Money::FromNanos(300'000'000);  // $0.30
    // Keep the ladder out of the way: these tests are about the cap itself.
    config_.cost_breaker.level1_percent = 900;
    config_.cost_breaker.level2_percent = 950;
    config_.cost_breaker.level3_percent = 999;
    config_.cost_breaker.velocity_level1_percent = 99998;
    config_.cost_breaker.velocity_level2_percent = 99999;
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

  void TearDown() override {
    client_.reset();
    if (server_) server_->Stop();
    server_.reset();
    gateway_.reset();
    std::filesystem::remove_all(dir_);
  }

  int64_t UpstreamCalls() const { return fake_->RequestCount("/v1/messages"); }

  absl::StatusOr<control::DaySpend> LedgerToday() {
    auto ledger = control::OpenSqliteLedger(config_.budget.ledger_sqlite_path);
    if (!ledger.ok()) return ledger.status();
    return (*ledger)->SumDay(absl::FormatTime("%Y-%m-%d", absl::Now(),
                                              absl::FixedTimeZone(9 * 3600)));
  }

  std::unique_ptr<FakeUpstream> fake_;
  std::filesystem::path dir_;
  core::Config config_;
  core::Registry metrics_;
  std::unique_ptr<api::Gateway> gateway_;
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<HttpTestClient> client_;
};

TEST_F(TrafficApiTest, ApiKeysDecideTenantAndTierAndUnknownKeysGet401) {
  config_.auth.keys.push_back(core::ApiKeyConfig{"storefront", control::KeyDigest("sf-key"),
                                                 "acme", core::Tier::kMember, {}});
  Start();
  auto ok = client_->Post("/v1/chat", ChatBody("u1"), {{"Authorization", "Bearer sf-key"}});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->status, 200) << ok->body;
  auto bad = client_->Post("/v1/chat", ChatBody("u1"), {{"Authorization", "Bearer nope"}});
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->status, 401);
  nlohmann::json j = Json(*bad);
  EXPECT_EQ(j["error"]["type"], "authentication_error");
  EXPECT_FALSE(j["error"]["request_id"].get<std::string>().empty());
  auto above = client_->Post(
      "/v1/chat",
      nlohmann::json{{"session_id", "s"}, {"user_id", "u"}, {"message", "hi"}, {"tier", "premium"}}
          .dump(),
      {{"X-Api-Key", "sf-key"}});
  ASSERT_TRUE(above.ok());
  EXPECT_EQ(above->status, 403) << above->body;
}

TEST_F(TrafficApiTest, RateLimitedRequestsGet429WithHeadersAndNoUpstreamCall) {
  config_.rate_limits.rules = {core::RateRuleConfig{
      "per_user", core::RateScope::kUser, {}, 3, 3, 0, 0, absl::Minutes(1)}};
  Start();
  for (int i = 0; i < 3; ++i) {
    auto r = client_->Post("/v1/chat", ChatBody("u1"));
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(Header(*r, "RateLimit-Remaining"), std::to_string(2 - i));
  }
  const int64_t calls = UpstreamCalls();
  auto limited = client_->Post("/v1/chat", ChatBody("u1"));
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited->status, 429);
  EXPECT_EQ(Header(*limited, "Retry-After"), "20");
  EXPECT_EQ(Header(*limited, "RateLimit-Limit"), "3");
  EXPECT_EQ(Json(*limited)["error"]["type"], "rate_limit_error");
  EXPECT_EQ(UpstreamCalls(), calls);
  // The OpenAI-compatible endpoint answers in its own error shape.
  auto compat = client_->Post(
      "/v1/chat/completions",
      R"({"model":"sonnet","user":"u1","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_TRUE(compat.ok());
  EXPECT_EQ(compat->status, 429);
  EXPECT_FALSE(Header(*compat, "Retry-After").empty());
}

TEST_F(TrafficApiTest, IdempotentRetriesReplayTheStoredResponseWithoutASecondCharge) {
  Start();
  const testing::HttpHeaders key = {{"Idempotency-Key", "order-42-attempt"}};
  auto first = client_->Post("/v1/chat", ChatBody("u1"), key);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->status, 200) << first->body;
  const int64_t calls = UpstreamCalls();
  auto retry = client_->Post("/v1/chat", ChatBody("u1"), key);
  ASSERT_TRUE(retry.ok());
  EXPECT_EQ(retry->status, 200);
  EXPECT_EQ(retry->body, first->body);  // the same answer, request_id and cost
  EXPECT_EQ(Header(*retry, "Idempotent-Replayed"), "true");
  EXPECT_EQ(UpstreamCalls(), calls);
  auto other = client_->Post("/v1/chat", ChatBody("u1", "something else"), key);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->status, 422) << other->body;
  auto bad = client_->Post("/v1/chat", ChatBody("u1"), {{"Idempotency-Key", "has space"}});
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->status, 400);
  // One ledger row: the retry was not charged.
  server_->Stop();
  server_.reset();
  gateway_.reset();
  auto day = LedgerToday();
  ASSERT_TRUE(day.ok()) << day.status();
  EXPECT_EQ(day->rows, 1);
  EXPECT_EQ(day->deployment, core::Money::FromNanos(13'500'000));
}

TEST_F(TrafficApiTest, AtTheCapNativeChatsAnswerWithoutAModelAndDropInClientsGet429) {
  config_.budget.daily_cap = core::Money::FromNanos(20'000'000);  // $0.02: one call fits
  Start();
  auto first = client_->Post("/v1/chat", ChatBody("u1"));
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->status, 200);
  EXPECT_EQ(Json(*first)["route"], "sonnet");
  const int64_t calls = UpstreamCalls();
  auto capped = client_->Post("/v1/chat", ChatBody("u2", "When is One Piece vol 105 out?"));
  ASSERT_TRUE(capped.ok());
  ASSERT_EQ(capped->status, 200) << capped->body;
  nlohmann::json j = Json(*capped);
  EXPECT_EQ(j["route"], "extractive");
  EXPECT_EQ(j["degraded_level"], 3);
  EXPECT_FALSE(j["answer"].get<std::string>().empty());
  auto compat = client_->Post(
      "/v1/chat/completions",
      R"({"model":"sonnet","user":"u3","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_TRUE(compat.ok());
  EXPECT_EQ(compat->status, 429) << compat->body;
  EXPECT_NE(compat->body.find("budget"), std::string::npos);
  EXPECT_EQ(UpstreamCalls(), calls);

  auto denied = client_->Get("/admin/budget");
  ASSERT_TRUE(denied.ok());
  EXPECT_EQ(denied->status, 401);
  auto budget = client_->Get("/admin/budget", {{"Authorization", std::string("Bearer ") + kAdminKey}});
  ASSERT_TRUE(budget.ok());
  ASSERT_EQ(budget->status, 200) << budget->body;
  nlohmann::json b = Json(*budget);
  EXPECT_EQ(b["time_zone"], "Asia/Tokyo");
  EXPECT_EQ(b["caps"][0]["scope"], "deployment");
  EXPECT_EQ(b["caps"][0]["cap_usd"], "0.020000000");
  EXPECT_EQ(b["caps"][0]["spent_usd"], "0.013500000");
  EXPECT_EQ(b["caps"][0]["held_usd"], "0.000000000");
}

TEST_F(TrafficApiTest, BreakerTransitionsAreAuditedAndTheLadderDropsSonnet) {
  config_.cost_breaker = core::CostBreakerConfig{};  // the shipped ladder: 70 / 85 / 97 %
  config_.budget.daily_cap = core::Money::FromNanos(40'000'000);  // $0.04
  Start();
  const testing::HttpHeaders admin = {{"Authorization", std::string("Bearer ") + kAdminKey}};
  // Two Sonnet calls settle $0.027 (68 %) and their pace (far above cap ÷ day) trips the
  // velocity rungs: the ladder climbs, every step audited.
  for (int i = 0; i < 2; ++i) {
    auto r = client_->Post("/v1/chat", ChatBody("m" + std::to_string(i)));
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->status, 200) << r->body;
  }
  auto premium = client_->Post(
      "/v1/chat",
      nlohmann::json{{"session_id", "s"}, {"user_id", "p"}, {"message", "hi"}, {"tier", "premium"}}
          .dump());
  ASSERT_TRUE(premium.ok());
  auto member = client_->Post(
      "/v1/chat",
      nlohmann::json{{"session_id", "s"}, {"user_id", "m"}, {"message", "hi"}, {"tier", "member"}}
          .dump());
  ASSERT_TRUE(member.ok());
  nlohmann::json mj = Json(*member);
  EXPECT_GE(mj["degraded_level"].get<int>(), 1) << member->body;
  EXPECT_NE(mj["route"], "sonnet") << "the tier floor keeps non-premium off Sonnet";
  auto audit = client_->Get("/admin/audit?verify=1", admin);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->status, 200) << audit->body;
  EXPECT_NE(audit->body.find("breaker.transition"), std::string::npos) << audit->body;
  EXPECT_NE(audit->body.find("cost-breaker"), std::string::npos);
  // The caps this gateway started with are in the trail too (budget changes are config
  // deploys), once: a restart with the same caps adds nothing, a new cap adds an entry.
  EXPECT_NE(audit->body.find("budget.set"), std::string::npos);
  EXPECT_NE(audit->body.find("deployment 0.040000000 USD"), std::string::npos);
  auto count = [&](std::string_view what) {
    auto a = client_->Get("/admin/audit?limit=1000", admin);
    size_t n = 0;
    for (size_t at = a->body.find(what); at != std::string::npos; at = a->body.find(what, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("\"budget.set\""), 1u);
  server_->Stop();
  server_.reset();
  gateway_.reset();
  Start();
  EXPECT_EQ(count("\"budget.set\""), 1u);
  server_->Stop();
  server_.reset();
  gateway_.reset();
  config_.budget.daily_cap = core::Money::FromNanos(80'000'000);
  Start();
  EXPECT_EQ(count("\"budget.set\""), 2u);
}

TEST_F(TrafficApiTest, DegradationActiveFlagForcesLevelTwoAtOnce) {
  Start();
  const testing::HttpHeaders admin = {{"Authorization", std::string("Bearer ") + kAdminKey}};
  auto before = client_->Post("/v1/chat", ChatBody("u1"));
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(Json(*before)["route"], "sonnet");
  auto put = client_->Send(
      "PUT", "/admin/flags",
      R"({"name":"degradation_active","value":true,"reason":"runaway drill","actor":"sre"})",
      admin);
  ASSERT_TRUE(put.ok());
  ASSERT_EQ(put->status, 200) << put->body;
  // A guest is answered without a model at level 2; a member drops to Haiku.
  auto guest = client_->Post("/v1/chat", ChatBody("u2"));
  ASSERT_TRUE(guest.ok());
  nlohmann::json g = Json(*guest);
  EXPECT_EQ(g["degraded_level"], 2);
  EXPECT_EQ(g["route"], "extractive");
  auto member = client_->Post(
      "/v1/chat",
      nlohmann::json{{"session_id", "s"}, {"user_id", "m"}, {"message", "hi"}, {"tier", "member"}}
          .dump());
  ASSERT_TRUE(member.ok());
  nlohmann::json m = Json(*member);
  EXPECT_EQ(m["degraded_level"], 2);
  EXPECT_EQ(m["route"], "haiku");
  auto metrics = client_->Get("/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_NE(metrics->body.find("mangaassist_suspend_scale_in 1"), std::string::npos);
}

// --- two real processes ----------------------------------------------------------------------

struct Replica {
  testing::ChildProcess process;
  uint16_t port = 0;
  std::string log;
};

absl::StatusOr<uint16_t> WaitForPort(const std::string& log) {
  for (int i = 0; i < 300; ++i) {
    std::ifstream in(log);
    std::string line;
    while (std::getline(in, line)) {
      size_t at = line.find("http://127.0.0.1:");
      if (at != std::string::npos) return static_cast<uint16_t>(std::stoi(line.substr(at + 17)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError("no port in " + log + ": " + testing::TailOfFile(log));
}

TEST(TrafficDistributedTest, TwoProcessesShareLimitsAndTheCapAndSurviveARedisKill) {
  auto redis = testing::RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  auto pg = testing::PostgresServer::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  auto fake = FakeUpstream::Start(testing::FakeUpstreamOptions{.threads = 4});
  ASSERT_NE(fake, nullptr);
  Behavior b;
  b.usage = {2000, 500, 0, 0};  // $0.0135 per call at Sonnet prices
  b.latency = std::chrono::milliseconds(20);  // holds overlap
  fake->SetBehavior(b);
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("ma-traffic-dist-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string config_path = (dir / "replica.yaml").string();
  {
    std::ofstream y(config_path);
    y << "data_dir: " << MANGAASSIST_DATA_DIR_FOR_TESTS << "\n"
      << "server: {threads: 2}\n"
      << "pipeline: {stages: [admit, normalize, reserve, call, settle]}\n"
      << "telemetry: {enabled: false}\n"
      << "providers:\n  claude: {type: anthropic, base_url: \"" << fake->base_url()
      << "\", api_key: sk-test, retry: {max_attempts: 1}}\n"
      << "models:\n  sonnet: {provider: claude, model: " << kSonnetId << "}\n"
      << "  haiku: {provider: claude, model: " << kHaikuId << "}\n"
      << "call: {guest_model: sonnet, member_model: sonnet, premium_model: sonnet, "
         "max_tokens: 1000}\n"
      << "cache:\n  redis_url: redis://127.0.0.1:" << (*redis)->port() << "\n"
      << "  command_timeout: 200ms\n  backoff_max: 200ms\n"
      << "rate_limits:\n  replicas: 2\n  rules:\n"
      << "    per_user: {scope: user, requests: 10, burst: 10, period: 1h}\n"
      << "budget:\n  daily_cap_usd: \"0.30\"\n  ledger: postgres\n  ledger_postgres: \""
      << (*pg)->conninfo() << "\"\n"
      // The ladder (velocity especially: one call is 600 % of this cap's pace) would answer
      // without a model long before the cap; this test is about the cap itself.
      << "cost_breaker: {level1_percent: 900, level2_percent: 950, level3_percent: 999, "
         "velocity_level1_percent: 99998, velocity_level2_percent: 99999}\n";
  }
  std::vector<Replica> replicas(2);
  for (size_t i = 0; i < replicas.size(); ++i) {
    replicas[i].log = (dir / ("replica-" + std::to_string(i) + ".log")).string();
    ASSERT_TRUE(replicas[i]
                    .process
                    .Spawn({MANGAASSIST_BINARY_DIR "/src/cli/mangaassist", "serve", "--config",
                            config_path, "--listen", "127.0.0.1:0"},
                           replicas[i].log)
                    .ok());
    auto port = WaitForPort(replicas[i].log);
    ASSERT_TRUE(port.ok()) << port.status();
    replicas[i].port = *port;
  }

  // One user, 30 requests spread over both replicas: 10 in total pass, not 10 per replica.
  int user_ok = 0, user_limited = 0;
  for (int i = 0; i < 30; ++i) {
    HttpTestClient c(replicas[i % 2].port);
    auto r = c.Post("/v1/chat", ChatBody("the-same-user"));
    ASSERT_TRUE(r.ok()) << r.status();
    if (r->status == 200) ++user_ok;
    if (r->status == 429) ++user_limited;
  }
  EXPECT_EQ(user_ok, 10);
  EXPECT_EQ(user_limited, 20);

  // 200 concurrent expensive requests (distinct users) against a $0.30 cap.
  std::mutex mu;
  std::map<int, int> statuses;
  int model_answers = 0;
  auto fire = [&](int from, int to) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 20; ++t) {
      threads.emplace_back([&, t] {
        for (int i = from + t; i < to; i += 20) {
          HttpTestClient c(replicas[i % 2].port);
          auto r = c.Post("/v1/chat", ChatBody("user-" + std::to_string(i)));
          std::lock_guard<std::mutex> lock(mu);
          if (!r.ok()) {
            ++statuses[-1];
            continue;
          }
          ++statuses[r->status];
          nlohmann::json j = Json(*r);
          if (r->status == 200 && j.value("route", "") == "sonnet") ++model_answers;
          if (r->status != 200) {
            EXPECT_TRUE(j.contains("error") && j["error"].contains("request_id")) << r->body;
          }
        }
      });
    }
    for (auto& t : threads) t.join();
  };
  fire(0, 200);
  EXPECT_EQ(statuses[200], 200);
  // The cap held: at most 0.30 + one estimate settled. Plus the 10 calls above.
  auto ledger = control::OpenPostgresLedger((*pg)->conninfo());
  ASSERT_TRUE(ledger.ok()) << ledger.status();
  const std::string today =
      absl::FormatTime("%Y-%m-%d", absl::Now(), absl::FixedTimeZone(9 * 3600));
  for (int i = 0; i < 100; ++i) {  // the ledger writers flush every 20 ms
    auto d = (*ledger)->SumDay(today);
    if (d.ok() && d->rows == model_answers + user_ok) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto day = (*ledger)->SumDay(today);
  ASSERT_TRUE(day.ok()) << day.status();
  const core::Money one_estimate = core::Money::FromNanos(16'000'000);  // ≈ 1000 out + prompt
  EXPECT_LE(day->deployment, core::Money::FromNanos(300'000'000) + one_estimate)
      << day->deployment.ToUsdString();
  EXPECT_GE(day->deployment, core::Money::FromNanos(250'000'000)) << "the cap was not used up";
  EXPECT_EQ(day->rows, model_answers + user_ok);  // every model call has its ledger row
  std::printf("settled %s USD against a 0.30 cap in %lld rows (%d of 200 concurrent answered "
              "by the model)\n",
              day->deployment.ToUsdString().c_str(), static_cast<long long>(day->rows),
              model_answers);

  // Redis dies mid-run: no crash, every request gets an answer or a clean error.
  statuses.clear();
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    (*redis)->Kill();
  });
  const int answered_before = model_answers;
  fire(1000, 1060);
  killer.join();
  EXPECT_EQ(statuses[-1], 0);
  EXPECT_EQ(statuses[500], 0);
  EXPECT_EQ(statuses[200] + statuses[429], 60);
  for (Replica& r : replicas) EXPECT_TRUE(r.process.Alive()) << testing::TailOfFile(r.log);
  for (Replica& r : replicas) r.process.Stop(SIGTERM, std::chrono::seconds(10));
  auto after = (*ledger)->SumDay(today);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->rows, model_answers + user_ok) << "a model call lost its ledger row";
  EXPECT_GE(model_answers, answered_before);
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);  // else: keep the logs
}

}  // namespace
}  // namespace mangaassist
