// Every request through the gateway's pipeline emits one durable cost event (US-07): answered,
// failed upstream, and a stream the client abandoned — spooled on the request path, shipped by
// the recorder into the embedded SQLite sink, with the baseline and per-story savings.
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "api/gateway.h"
#include "gtest/gtest.h"
#include "http/server.h"
#include "nlohmann/json.hpp"
#include "telemetry/sqlite_sink.h"
#include "tests/support/fake_upstream.h"
#include "tests/support/http_test_client.h"

namespace mangaassist {
namespace {

using testing::Behavior;
using testing::FakeUpstream;
using testing::HttpTestClient;

class TelemetryRecordTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("ma-telemetry-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    fake_ = FakeUpstream::Start();
    ASSERT_NE(fake_, nullptr);
    config_ = core::DefaultConfig();
    config_.data_dir = MANGAASSIST_DATA_DIR_FOR_TESTS;
    config_.server.host = "127.0.0.1";
    config_.server.port = 0;
    config_.server.threads = 2;
    config_.pipeline.stages = {"admit", "normalize", "call", "record"};
    core::ProviderConfig p;
    p.name = "claude";
    p.type = "anthropic";
    p.base_url = fake_->base_url();
    p.api_key = "sk-test";
    p.retry.max_attempts = 1;
    config_.providers = {p};
    config_.models = {core::ModelAliasConfig{"haiku", "claude", "claude-3-5-haiku-20241022", "", "", {}},
                      core::ModelAliasConfig{"sonnet", "claude", "claude-3-5-sonnet-20241022", "", "", {}}};
    config_.telemetry.enabled = true;
    config_.telemetry.spool_dir = (dir_ / "spool").string();
    config_.telemetry.sqlite_path = (dir_ / "events.db").string();
    config_.telemetry.ship_interval = absl::Milliseconds(20);
    StartGateway();
  }

  void StartGateway() {
    auto gw = api::Gateway::Create(&config_, &metrics_, &core::SystemClock());
    ASSERT_TRUE(gw.ok()) << gw.status();
    gateway_ = std::move(*gw);
    server_ = std::make_unique<http::Server>(config_.server, gateway_->handler(), &metrics_);
    ASSERT_TRUE(server_->Start().ok());
    gateway_->SetReady(true);
  }

  // Stops the server, then the gateway: its recorder drains every event into the sink.
  void StopGateway() {
    server_->Stop();
    server_.reset();
    gateway_.reset();
  }

  void TearDown() override {
    if (server_) server_->Stop();
    gateway_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<telemetry::EventSink> OpenSink() {
    telemetry::SqliteSinkOptions o;
    o.path = config_.telemetry.sqlite_path;
    auto sink = telemetry::NewSqliteSink(o);
    EXPECT_TRUE(sink.ok()) << sink.status();
    return sink.ok() ? *std::move(sink) : nullptr;
  }

  std::filesystem::path dir_;
  std::unique_ptr<FakeUpstream> fake_;
  core::Config config_;
  core::Registry metrics_;
  std::unique_ptr<api::Gateway> gateway_;
  std::unique_ptr<http::Server> server_;
};

TEST_F(TelemetryRecordTest, EveryRequestThroughThePipelineLeavesOneDurableCostEvent) {
  Behavior ok;
  ok.usage = {1000, 50, 0, 0};
  ok.answer = "Yes, it is in stock.";
  fake_->SetBehavior(ok);
  HttpTestClient client(server_->port());
  int64_t shown_baseline = 0;
  for (int i = 0; i < 3; ++i) {
    auto res = client.Post("/v1/chat", R"({"session_id":"s1","user_id":"u1","message":"Is One Piece vol 105 in stock?","tier":"premium"})");
    ASSERT_TRUE(res.ok()) << res.status();
    ASSERT_EQ(res->status, 200) << res->body;
    // The native response shows the message's counterfactual baseline (SPEC §3).
    const nlohmann::json body = nlohmann::json::parse(res->body);
    const int64_t baseline = body["cost"]["baseline_nano_usd"].get<int64_t>();
    EXPECT_GT(baseline, body["cost"]["nano_usd"].get<int64_t>()) << res->body;
    shown_baseline += baseline;
  }
  auto compat = client.Post("/v1/chat/completions",
                            R"({"model":"haiku","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_TRUE(compat.ok());
  ASSERT_EQ(compat->status, 200) << compat->body;

  Behavior down;
  down.failure = Behavior::Failure::kServerError;
  fake_->SetBehavior(down);
  auto failed = client.Post("/v1/chat/completions",
                            R"({"model":"haiku","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_TRUE(failed.ok());
  EXPECT_GE(failed->status, 500);

  // Not through the pipeline: refused at parse, nothing spent, no event.
  auto malformed = client.Post("/v1/chat", "{not json");
  ASSERT_TRUE(malformed.ok());
  EXPECT_EQ(malformed->status, 400);

  Behavior slow;
  slow.answer = std::string(1500, 'z');
  slow.stream_chunks = 60;
  slow.chunk_interval = std::chrono::milliseconds(20);
  slow.usage = {700, 300, 0, 0};
  fake_->SetBehavior(slow);
  {
    HttpTestClient leaver(server_->port());
    auto started = leaver.StartStream(
        "/v1/chat/completions",
        R"({"model":"haiku","stream":true,"messages":[{"role":"user","content":"long story"}]})");
    ASSERT_TRUE(started.ok()) << started.status();
    ASSERT_TRUE(leaver.ReadStreamChunk().ok());
    leaver.Close();
    ASSERT_TRUE(fake_->WaitForClientAbortedStreams(1, std::chrono::seconds(5)));
  }
  // The abandoned stream's request finishes on the server once the call stage notices.
  for (int i = 0; i < 300; ++i) {
    if (metrics_.GetCounter("mangaassist_telemetry_events_recorded_total", "").Value() >= 6) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  StopGateway();

  std::unique_ptr<telemetry::EventSink> sink = OpenSink();
  ASSERT_NE(sink, nullptr);
  auto count = sink->CountEvents();
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(*count, 6);  // 3 native + 1 compat + 1 failed + 1 abandoned stream

  auto rollups = sink->Rollups(0, INT64_MAX);
  ASSERT_TRUE(rollups.ok()) << rollups.status();
  int64_t requests = 0;
  core::Money total, baseline, savings;
  for (const telemetry::HourlyRollup& r : *rollups) {
    requests += r.requests;
    total += r.Total();
    baseline += r.baseline;
    for (core::Money m : r.savings) savings += m;
  }
  EXPECT_EQ(requests, 6);
  EXPECT_GT(total.nanos(), 0);
  EXPECT_GT(baseline.nanos(), total.nanos());  // Sonnet with full context costs more
  EXPECT_GT(baseline.nanos(), shown_baseline);  // the three native ones plus three more
  EXPECT_EQ(savings, baseline - total);        // per-story savings add up exactly
}

TEST_F(TelemetryRecordTest, EventsSpooledBeforeARestartAreShippedAfterIt) {
  HttpTestClient client(server_->port());
  for (int i = 0; i < 5; ++i) {
    auto res = client.Post("/v1/chat", R"({"session_id":"s2","user_id":"u2","message":"hello"})");
    ASSERT_TRUE(res.ok());
    ASSERT_EQ(res->status, 200) << res->body;
  }
  StopGateway();
  StartGateway();  // same spool and database
  HttpTestClient again(server_->port());
  auto res = again.Post("/v1/chat", R"({"session_id":"s2","user_id":"u2","message":"bye"})");
  ASSERT_TRUE(res.ok());
  StopGateway();
  auto count = OpenSink()->CountEvents();
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 6);  // none lost, none twice
}

}  // namespace
}  // namespace mangaassist
