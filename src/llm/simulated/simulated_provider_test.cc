#include "llm/simulated/simulated_provider.h"

// clang-format off
#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).
// clang-format on

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <map>
#include <string>

#include "gtest/gtest.h"
#include "llm/http_provider.h"
#include "llm/simulated/answer_lengths.h"
#include "llm/simulated/simulation.h"
#include "llm/token_count.h"

namespace mangaassist::llm {
namespace {

class FakeSimulation final : public Simulation {
 public:
  explicit FakeSimulation(core::ManualClock* clock) : clock_(clock) {}
  SimulatedCallPlan Plan(std::string_view request_id) const override {
    auto it = plans_.find(std::string(request_id));
    return it == plans_.end() ? default_plan_ : it->second;
  }
  void Elapse(absl::Duration d) override { clock_->Advance(d); }

  std::map<std::string, SimulatedCallPlan> plans_;
  SimulatedCallPlan default_plan_;

 private:
  core::ManualClock* clock_;
};

absl::StatusOr<LlmResponse> CompleteSync(Provider& p, const LlmRequest& r) {
  boost::asio::io_context io;
  absl::StatusOr<LlmResponse> out = absl::UnknownError("not run");
  boost::asio::co_spawn(
      io, [&p, &r, &out]() -> boost::asio::awaitable<void> { out = co_await p.Complete(r); },
      boost::asio::detached);
  io.run();
  return out;
}

LlmRequest Request(std::string id, std::string model = "claude-3-5-haiku-20241022") {
  LlmRequest r;
  r.model = std::move(model);
  r.system = "You are a shop assistant.";
  r.messages = {{Role::kUser, "Is One Piece vol 105 in stock?"}};
  r.request_id = std::move(id);
  r.max_tokens = 512;
  return r;
}

struct Fixture {
  core::ManualClock clock;
  FakeSimulation simulation{&clock};
  std::unique_ptr<Provider> provider;

  explicit Fixture(core::ProviderConfig config = {}) {
    config.name = "sim";
    config.type = "simulated";
    ProviderDeps deps;
    deps.clock = &clock;
    deps.simulation = &simulation;
    provider = *NewSimulatedProvider(config, deps);
  }
};

TEST(SimulatedProviderTest, UsesThePlannedAnswerLengthAndAdvancesVirtualTime) {
  Fixture f;
  SimulatedCallPlan plan;
  plan.output_tokens = 200;
  plan.extra_input_tokens = 1000;
  f.simulation.plans_["r1"] = plan;
  const int64_t before = f.clock.MonotonicNanos();
  LlmRequest request = Request("r1");
  absl::StatusOr<LlmResponse> r = CompleteSync(*f.provider, request);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->usage.output_tokens, 200);
  EXPECT_EQ(r->usage.input_tokens, RoughPromptTokens(request) + 1000);
  EXPECT_EQ(r->finish_reason, "stop");
  EXPECT_EQ(r->attempts, 1);
  // Haiku: 400 ms + 200 x 8 ms = 2 s nominal, ±20%.
  EXPECT_GE(r->latency, absl::Milliseconds(1600));
  EXPECT_LE(r->latency, absl::Milliseconds(2400));
  EXPECT_EQ(f.clock.MonotonicNanos() - before, absl::ToInt64Nanoseconds(r->latency));
}

TEST(SimulatedProviderTest, CapsAtMaxTokens) {
  Fixture f;
  SimulatedCallPlan plan;
  plan.output_tokens = 5000;
  f.simulation.plans_["r1"] = plan;
  absl::StatusOr<LlmResponse> r = CompleteSync(*f.provider, Request("r1"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->usage.output_tokens, 512);
  EXPECT_EQ(r->finish_reason, "length");
}

TEST(SimulatedProviderTest, DrawsPerIntentLengthsReproduciblyWithoutGroundTruth) {
  Fixture f;
  f.simulation.default_plan_.intent = "greeting";
  const AnswerLengthQuantiles& q = AnswerLengthsFor("greeting");
  for (int i = 0; i < 200; ++i) {
    const std::string id = "req-" + std::to_string(i);
    absl::StatusOr<LlmResponse> a = CompleteSync(*f.provider, Request(id));
    absl::StatusOr<LlmResponse> b = CompleteSync(*f.provider, Request(id));
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->usage.output_tokens, b->usage.output_tokens);
    EXPECT_GE(a->usage.output_tokens, q.tokens[0]);
    EXPECT_LE(a->usage.output_tokens, q.tokens[5]);
  }
}

TEST(SimulatedProviderTest, BrownOutRetriesThenFailsWithTheAttemptsCounted) {
  core::ProviderConfig config;
  config.retry.max_attempts = 3;
  config.breaker.consecutive_failures = 1000;  // keep the breaker out of this test
  Fixture f(config);
  f.simulation.default_plan_.error_permille = 1000;
  const int64_t before = f.clock.MonotonicNanos();
  absl::StatusOr<LlmResponse> r = CompleteSync(*f.provider, Request("r1"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(AttemptsOf(r.status()), 3);
  // Three failed attempts of 100 ms each, plus two backoffs (never sleeping for real).
  EXPECT_GE(f.clock.MonotonicNanos() - before, absl::ToInt64Nanoseconds(absl::Milliseconds(300)));
}

TEST(SimulatedProviderTest, PartialBrownOutFailsAboutTheConfiguredShare) {
  core::ProviderConfig config;
  config.retry.max_attempts = 1;
  config.breaker.consecutive_failures = 1000;
  config.breaker.error_rate_percent = 100;
  config.breaker.min_calls = 100000;
  Fixture f(config);
  f.simulation.default_plan_.error_permille = 300;
  int failed = 0;
  constexpr int kCalls = 4000;
  for (int i = 0; i < kCalls; ++i) {
    if (!CompleteSync(*f.provider, Request("r" + std::to_string(i))).ok()) ++failed;
  }
  EXPECT_NEAR(static_cast<double>(failed) / kCalls, 0.30, 0.03);
}

TEST(SimulatedProviderTest, TheBreakerOpensOnAFullOutage) {
  core::ProviderConfig config;
  config.retry.max_attempts = 1;
  config.breaker.consecutive_failures = 3;
  Fixture f(config);
  f.simulation.default_plan_.error_permille = 1000;
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(CompleteSync(*f.provider, Request("r")).ok());
  absl::StatusOr<LlmResponse> refused = CompleteSync(*f.provider, Request("r"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(AttemptsOf(refused.status()), 0);  // refused before any attempt
}

}  // namespace
}  // namespace mangaassist::llm
