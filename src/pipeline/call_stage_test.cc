// The `call` stage against real providers talking to the fake upstream: model resolution, cost
// from the price table, fallback, streaming, a client leaving mid-stream, and errors that still
// leave the call accounted.
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "core/config.h"
#include "core/delta_sink.h"
#include "core/pricing.h"
#include "gtest/gtest.h"
#include "llm/models.h"
#include "llm/token_estimator.h"
#include "pipeline/pipeline.h"
#include "pipeline/services.h"
#include "tests/support/fake_upstream.h"

namespace mangaassist::pipeline {
namespace {

using testing::Behavior;
using testing::FakeUpstream;

constexpr char kHaikuId[] = "claude-3-5-haiku-20241022";
constexpr char kSonnetId[] = "claude-3-5-sonnet-20241022";

// Collects deltas; reports the client gone after `accept` of them.
class RecordingSink final : public core::DeltaSink {
 public:
  explicit RecordingSink(int accept = 1 << 30) : accept_(accept) {}
  boost::asio::awaitable<bool> OnDelta(std::string_view text) override {
    if (static_cast<int>(deltas.size()) >= accept_) co_return false;
    deltas.emplace_back(text);
    co_return true;
  }
  std::vector<std::string> deltas;

 private:
  int accept_;
};

class CallStageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    primary_ = FakeUpstream::Start();
    backup_ = FakeUpstream::Start();
    ASSERT_NE(primary_, nullptr);
    ASSERT_NE(backup_, nullptr);
  }

  // Anthropic providers on the two fakes; sonnet (on primary) falls back to haiku (on backup).
  core::Config MakeConfig() {
    core::Config cfg = core::DefaultConfig();
    cfg.pipeline.stages = {"admit", "normalize", "call"};
    cfg.providers.clear();
    for (auto [name, fake] : {std::pair{"primary", primary_.get()}, {"backup", backup_.get()}}) {
      core::ProviderConfig p;
      p.name = name;
      p.type = "anthropic";
      p.base_url = fake->base_url();
      p.api_key = "sk-test";
      p.retry.max_attempts = 1;
      p.retry.base_backoff = absl::Milliseconds(1);
      p.timeout = absl::Seconds(5);
      cfg.providers.push_back(p);
    }
    core::ModelAliasConfig sonnet{"sonnet", "primary", kSonnetId, "", "", {"haiku"}};
    core::ModelAliasConfig haiku{"haiku", "backup", kHaikuId, "", "", {}};
    cfg.models = {sonnet, haiku};
    cfg.call.guest_model = "haiku";
    cfg.call.member_model = "haiku";
    cfg.call.premium_model = "sonnet";
    return cfg;
  }

  void Build(core::Config cfg) {
    config_ = std::move(cfg);
    auto services = Services::Create(&config_, &metrics_, &core::SystemClock());
    ASSERT_TRUE(services.ok()) << services.status();
    services_ = *std::move(services);
    auto pipeline = Pipeline::Build(services_.get());
    ASSERT_TRUE(pipeline.ok()) << pipeline.status();
    pipeline_ = *std::move(pipeline);
  }

  absl::Status Run(core::RequestContext& ctx) {
    boost::asio::io_context io;
    auto fut = boost::asio::co_spawn(io, pipeline_->Run(ctx), boost::asio::use_future);
    io.run();
    return fut.get();
  }

  static core::RequestContext Request(core::Tier tier, std::string message = "Is One Piece vol 105 in stock?") {
    core::RequestContext ctx;
    ctx.request_id = "req-call-1";
    ctx.session_id = "s1";
    ctx.user_id = "u1";
    ctx.message = std::move(message);
    ctx.tier = tier;
    return ctx;
  }

  core::LlmCost ExpectedCost(const std::string& id, const Behavior::Usage& u) {
    const core::ModelPrice* price = services_->prices->FindModel(id);
    EXPECT_NE(price, nullptr);
    return core::CostOf(*price, {u.input_tokens, u.output_tokens, u.cache_read_tokens,
                                 u.cache_write_tokens});
  }

  std::unique_ptr<FakeUpstream> primary_, backup_;
  core::Config config_;
  core::Registry metrics_;
  std::unique_ptr<Services> services_;
  std::unique_ptr<Pipeline> pipeline_;
};

TEST_F(CallStageTest, TierModelAnswersAndTheCallIsPricedFromTheTable) {
  Build(MakeConfig());
  Behavior b;
  b.answer = "Yes, volume 105 is in stock.";
  b.usage = {1200, 40, 300, 100};
  backup_->SetBehavior(b);
  core::RequestContext ctx = Request(core::Tier::kGuest);
  ASSERT_TRUE(Run(ctx).ok());
  EXPECT_TRUE(ctx.answered);
  EXPECT_EQ(ctx.answer, b.answer);
  EXPECT_EQ(ctx.route, core::Route::kHaiku);
  EXPECT_EQ(ctx.model, kHaikuId);
  EXPECT_EQ(ctx.usage.input_tokens, 1200);
  EXPECT_EQ(ctx.usage.cache_read_tokens, 300);
  core::LlmCost want = ExpectedCost(kHaikuId, b.usage);
  EXPECT_EQ(ctx.cost.Get(core::CostComponent::kLlmInput), want.input);
  EXPECT_EQ(ctx.cost.Get(core::CostComponent::kLlmOutput), want.output);
  EXPECT_EQ(ctx.cost.Get(core::CostComponent::kLlmCacheRead), want.cache_read);
  EXPECT_EQ(ctx.cost.Get(core::CostComponent::kLlmCacheWrite), want.cache_write);
  // 1200 × $0.80/M + 40 × $4/M + 300 × $0.08/M + 100 × $1/M = $0.001244
  EXPECT_EQ(ctx.cost.Total().nanos(), 1'244'000);
  EXPECT_EQ(primary_->TotalRequests(), 0);
  // The configured system prompt went upstream, marked for prompt caching.
  std::string sent = backup_->LastRequest().body;
  EXPECT_NE(sent.find("MangaAssist"), std::string::npos) << sent;
  EXPECT_NE(sent.find("cache_control"), std::string::npos) << sent;
}

TEST_F(CallStageTest, PremiumFallsBackToHaikuWhenSonnetFailsAndIsPricedAsHaiku) {
  Build(MakeConfig());
  Behavior down;
  down.failure = Behavior::Failure::kServerError;
  primary_->SetBehavior(down);
  core::RequestContext ctx = Request(core::Tier::kPremium);
  ASSERT_TRUE(Run(ctx).ok());
  EXPECT_EQ(ctx.model, kHaikuId);
  EXPECT_EQ(ctx.route, core::Route::kHaiku);
  EXPECT_GE(ctx.llm_attempts, 2);
  EXPECT_EQ(ctx.cost.Total(), ExpectedCost(kHaikuId, Behavior{}.usage).Total());
  EXPECT_GE(primary_->TotalRequests(), 1);
}

TEST_F(CallStageTest, ClientModelOverridesTheTierAndConcreteIdsPassThrough) {
  Build(MakeConfig());
  core::RequestContext ctx = Request(core::Tier::kGuest);
  ctx.requested_model = kSonnetId;
  ASSERT_TRUE(Run(ctx).ok());
  EXPECT_EQ(ctx.model, kSonnetId);
  EXPECT_EQ(ctx.route, core::Route::kSonnet);

  core::RequestContext unknown = Request(core::Tier::kGuest);
  unknown.requested_model = "gpt-9";
  absl::Status s = Run(unknown);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.message().find("gpt-9"), std::string_view::npos);
}

TEST_F(CallStageTest, CompatConversationIsSentWithRolesAndRedacted) {
  Build(MakeConfig());
  core::RequestContext ctx = Request(core::Tier::kGuest, "And mail it to ana@example.com please");
  ctx.compat = true;
  ctx.session_id.clear();
  ctx.user_id.clear();
  ctx.system = "Be terse.";
  ctx.history = {{false, "Do you have Berserk vol 1?"}, {true, "Yes, in stock."}};
  ctx.max_tokens = 77;
  ctx.stop = {"END"};
  ASSERT_TRUE(Run(ctx).ok());
  std::string sent = backup_->LastRequest().body;
  EXPECT_NE(sent.find("Be terse."), std::string::npos);
  EXPECT_NE(sent.find("Berserk vol 1"), std::string::npos);
  EXPECT_NE(sent.find("\"assistant\""), std::string::npos);
  EXPECT_NE(sent.find("\"max_tokens\":77"), std::string::npos) << sent;
  EXPECT_NE(sent.find("END"), std::string::npos);
  EXPECT_EQ(sent.find("ana@example.com"), std::string::npos) << "PII reached the provider";
  EXPECT_EQ(ctx.redactions[0] + ctx.redactions[1] + ctx.redactions[2] + ctx.redactions[3] +
                ctx.redactions[4] + ctx.redactions[5] + ctx.redactions[6],
            1);
}

TEST_F(CallStageTest, StreamsDeltasToTheSinkAndAccountsTheFinalUsage) {
  Build(MakeConfig());
  Behavior b;
  b.answer = "one two three four five six";
  b.stream_chunks = 3;
  b.usage = {500, 12, 0, 0};
  backup_->SetBehavior(b);
  RecordingSink sink;
  core::RequestContext ctx = Request(core::Tier::kGuest);
  ctx.sink = &sink;
  ASSERT_TRUE(Run(ctx).ok());
  EXPECT_EQ(sink.deltas.size(), 3u);
  std::string joined;
  for (const auto& d : sink.deltas) joined += d;
  EXPECT_EQ(joined, b.answer);
  EXPECT_EQ(ctx.answer, b.answer);
  EXPECT_EQ(ctx.usage.input_tokens, 500);
  EXPECT_EQ(ctx.usage.output_tokens, 12);
  EXPECT_EQ(ctx.cost.Total(), ExpectedCost(kHaikuId, b.usage).Total());
}

TEST_F(CallStageTest, ClientLeavingMidStreamCancelsUpstreamAndStillAccountsTokens) {
  Build(MakeConfig());
  Behavior b;
  b.answer = std::string(400, 'x');
  b.stream_chunks = 40;
  b.chunk_interval = std::chrono::milliseconds(20);
  b.usage = {800, 100, 0, 0};
  backup_->SetBehavior(b);
  RecordingSink sink(/*accept=*/2);
  core::RequestContext ctx = Request(core::Tier::kGuest);
  ctx.sink = &sink;
  absl::Status s = Run(ctx);
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(ctx.client_gone);
  EXPECT_EQ(ctx.finish_reason, "cancelled");
  // The input was billed in message_start; the output so far is counted, not zero.
  EXPECT_EQ(ctx.usage.input_tokens, 800);
  EXPECT_GT(ctx.usage.output_tokens, 0);
  EXPECT_GT(ctx.cost.Get(core::CostComponent::kLlmInput).nanos(), 0);
  EXPECT_GT(ctx.cost.Get(core::CostComponent::kLlmOutput).nanos(), 0);
  EXPECT_TRUE(backup_->WaitForClientAbortedStreams(1, std::chrono::seconds(5)))
      << "the upstream stream was not cancelled";
}

TEST_F(CallStageTest, UpstreamFailureIsAnErrorWithTheModelRecorded) {
  core::Config cfg = MakeConfig();
  cfg.models[1].fallback.clear();
  Build(cfg);
  Behavior down;
  down.failure = Behavior::Failure::kUnauthorized;
  backup_->SetBehavior(down);
  core::RequestContext ctx = Request(core::Tier::kGuest);
  absl::Status s = Run(ctx);
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(ctx.answered);
  EXPECT_EQ(ctx.model, kHaikuId);
  EXPECT_EQ(ctx.finish_reason, "error");
  EXPECT_EQ(ctx.cost.Total().nanos(), 0);
}

TEST_F(CallStageTest, AModelWithoutAPriceStopsStartUp) {
  core::Config cfg = MakeConfig();
  cfg.models[1].model = "mystery-model-1";
  config_ = cfg;
  auto services = Services::Create(&config_, &metrics_, &core::SystemClock());
  ASSERT_FALSE(services.ok());
  EXPECT_NE(services.status().message().find("mystery-model-1"), std::string_view::npos);
  cfg.models[1].price = "free";
  config_ = cfg;
  EXPECT_TRUE(Services::Create(&config_, &metrics_, &core::SystemClock()).ok());
}

TEST_F(CallStageTest, DefaultConfigAnswersOfflineThroughTheExtractiveProvider) {
  Build(core::DefaultConfig());
  core::RequestContext ctx = Request(core::Tier::kPremium, "Do you have One Piece?");
  ASSERT_TRUE(Run(ctx).ok());
  EXPECT_TRUE(ctx.answered);
  EXPECT_FALSE(ctx.answer.empty());
  EXPECT_EQ(ctx.route, core::Route::kExtractive);
  EXPECT_EQ(ctx.cost.Total().nanos(), 0);
}

TEST_F(CallStageTest, PromptIsEstimatedBeforeTheCallAndTheReportedUsageCorrectsTheEstimator) {
  Build(MakeConfig());
  Behavior b;
  b.usage = {5000, 10, 0, 0};  // far above what the short prompt looks like
  backup_->SetBehavior(b);
  const double before = services_->token_estimator->correction(core::Lang::kEn);
  core::RequestContext ctx = Request(core::Tier::kGuest);
  ASSERT_TRUE(Run(ctx).ok());
  EXPECT_GT(ctx.estimated_input_tokens, 10);
  EXPECT_LT(ctx.estimated_input_tokens, 200);
  EXPECT_GT(services_->token_estimator->correction(core::Lang::kEn), before);
  EXPECT_EQ(services_->token_estimator->correction(core::Lang::kJa), 1.0);
}

}  // namespace
}  // namespace mangaassist::pipeline
