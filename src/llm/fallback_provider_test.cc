#include "llm/fallback_provider.h"

// clang-format off
#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).
// clang-format on

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/retry.h"
#include "http/upstream_client.h"
#include "http/upstream_test_support.h"
#include "llm/http_provider.h"

namespace mangaassist::llm {
namespace {

namespace asio = boost::asio;
using http::test_support::RunTask;
using ::testing::ElementsAre;

// A provider whose answers are scripted: each call pops the next status (OK answers "ok from
// <model>"), and records the model and timeout it was called with.
class ScriptedProvider final : public Provider {
 public:
  explicit ScriptedProvider(std::string name) : name_(std::move(name)) {}

  void Push(absl::Status status, int attempts = 1) {
    SetAttempts(status, attempts);
    script_.push_back(std::move(status));
  }

  std::string_view name() const override { return name_; }

  asio::awaitable<absl::StatusOr<LlmResponse>> Complete(const LlmRequest& request) override {
    co_return Answer(request);
  }

  asio::awaitable<absl::StatusOr<std::unique_ptr<LlmStream>>> Stream(
      const LlmRequest& request) override {
    absl::StatusOr<LlmResponse> answer = Answer(request);
    if (!answer.ok()) co_return answer.status();
    std::unique_ptr<LlmStream> stream = std::make_unique<OneDelta>(*std::move(answer));
    co_return stream;
  }

  std::vector<std::string> models;
  std::vector<absl::Duration> timeouts;

 private:
  class OneDelta final : public LlmStream {
   public:
    explicit OneDelta(LlmResponse response) : final_(std::move(response)) {}
    asio::awaitable<absl::StatusOr<std::optional<std::string>>> Next() override {
      if (done_) co_return std::optional<std::string>();
      done_ = true;
      co_return std::optional<std::string>(final_.text);
    }
    void Cancel() override {}
    const LlmResponse& Final() const override { return final_; }

   private:
    LlmResponse final_;
    bool done_ = false;
  };

  absl::StatusOr<LlmResponse> Answer(const LlmRequest& request) {
    models.push_back(request.model);
    timeouts.push_back(request.timeout);
    absl::Status status;
    if (!script_.empty()) {
      status = script_.front();
      script_.pop_front();
    }
    if (!status.ok()) return status;
    LlmResponse response;
    response.text = "ok from " + request.model;
    response.model = request.model;
    response.attempts = 1;
    return response;
  }

  std::string name_;
  std::deque<absl::Status> script_;
};

absl::Status HttpError(int http_status) {
  return http::StatusFromHttpResponse(http_status, {}, "", absl::Now());
}

TEST(ShouldFallBackTest, OnlyTheProvidersFaults) {
  EXPECT_TRUE(ShouldFallBack(HttpError(500)));
  EXPECT_TRUE(ShouldFallBack(HttpError(503)));
  EXPECT_TRUE(ShouldFallBack(HttpError(529)));
  EXPECT_TRUE(ShouldFallBack(HttpError(504)));
  EXPECT_TRUE(ShouldFallBack(HttpError(429)));  // only reached once the retries are spent
  EXPECT_TRUE(ShouldFallBack(absl::DeadlineExceededError("slow")));
  EXPECT_TRUE(ShouldFallBack(http::WithUpstreamFailure(absl::UnavailableError("open"),
                                                       http::UpstreamFailure::kCircuitOpen)));
  EXPECT_TRUE(ShouldFallBack(MalformedAnswer("p", "cut")));
  EXPECT_TRUE(ShouldFallBack(absl::DataLossError("truncated")));

  EXPECT_FALSE(ShouldFallBack(HttpError(400)));
  EXPECT_FALSE(ShouldFallBack(HttpError(401)));
  EXPECT_FALSE(ShouldFallBack(HttpError(403)));
  EXPECT_FALSE(ShouldFallBack(HttpError(404)));
  EXPECT_FALSE(ShouldFallBack(HttpError(413)));
  EXPECT_FALSE(ShouldFallBack(absl::CancelledError("client left")));
  EXPECT_FALSE(ShouldFallBack(absl::FailedPreconditionError("no credentials")));
}

class FallbackProviderTest : public ::testing::Test {
 protected:
  std::unique_ptr<Provider> Chain(std::vector<FallbackTarget> targets) {
    absl::StatusOr<std::unique_ptr<Provider>> chain =
        NewFallbackProvider("chain", std::move(targets), &registry_);
    EXPECT_TRUE(chain.ok()) << chain.status();
    return chain.ok() ? *std::move(chain) : nullptr;
  }
  static LlmRequest Request() {
    LlmRequest request;
    request.model = "ignored";
    request.messages = {{Role::kUser, "hi"}};
    request.timeout = absl::Seconds(30);
    return request;
  }

  asio::io_context ioc_;
  core::Registry registry_;
  ScriptedProvider sonnet_{"bedrock-sonnet"};
  ScriptedProvider haiku_{"bedrock-haiku"};
};

TEST_F(FallbackProviderTest, FirstSuccessAnswers) {
  std::unique_ptr<Provider> chain = Chain({{&sonnet_, "sonnet"}, {&haiku_, "haiku"}});
  const absl::StatusOr<LlmResponse> response = RunTask(ioc_, chain->Complete(Request()));
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->model, "sonnet");
  EXPECT_EQ(response->attempts, 1);
  EXPECT_TRUE(haiku_.models.empty());
}

TEST_F(FallbackProviderTest, MovesOnAndCountsEveryAttempt) {
  sonnet_.Push(HttpError(503), /*attempts=*/3);
  haiku_.Push(http::WithUpstreamFailure(absl::UnavailableError("open"),
                                        http::UpstreamFailure::kCircuitOpen),
              /*attempts=*/0);
  std::unique_ptr<Provider> chain =
      Chain({{&sonnet_, "sonnet"}, {&haiku_, "haiku"}, {&haiku_, "haiku-older"}});
  const absl::StatusOr<LlmResponse> response = RunTask(ioc_, chain->Complete(Request()));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->model, "haiku-older");
  EXPECT_EQ(response->text, "ok from haiku-older");
  EXPECT_EQ(response->attempts, 4);
  EXPECT_THAT(sonnet_.models, ElementsAre("sonnet"));
  EXPECT_THAT(haiku_.models, ElementsAre("haiku", "haiku-older"));
  // Later targets get what is left of the request's time.
  ASSERT_EQ(haiku_.timeouts.size(), 2u);
  EXPECT_LE(haiku_.timeouts[1], absl::Seconds(30));
  EXPECT_GT(haiku_.timeouts[1], absl::Seconds(20));
  EXPECT_EQ(registry_
                .GetCounter("mangaassist_llm_fallbacks_total", "",
                            {{"chain", "chain"}, {"from_model", "sonnet"}})
                .Value(),
            1);
}

TEST_F(FallbackProviderTest, StopsAtARequestError) {
  sonnet_.Push(HttpError(400));
  std::unique_ptr<Provider> chain = Chain({{&sonnet_, "sonnet"}, {&haiku_, "haiku"}});
  const absl::StatusOr<LlmResponse> response = RunTask(ioc_, chain->Complete(Request()));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(haiku_.models.empty());
}

TEST_F(FallbackProviderTest, TheLastFailureIsReturnedWithAllAttempts) {
  sonnet_.Push(HttpError(500), 2);
  haiku_.Push(absl::DeadlineExceededError("haiku too slow"), 1);
  std::unique_ptr<Provider> chain = Chain({{&sonnet_, "sonnet"}, {&haiku_, "haiku"}});
  const absl::StatusOr<LlmResponse> response = RunTask(ioc_, chain->Complete(Request()));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(response.status().message(), "haiku too slow");
  EXPECT_EQ(AttemptsOf(response.status()), 3);
}

TEST_F(FallbackProviderTest, StreamsFallBackBeforeTheyStart) {
  sonnet_.Push(HttpError(529), 2);
  std::unique_ptr<Provider> chain = Chain({{&sonnet_, "sonnet"}, {&haiku_, "haiku"}});
  absl::StatusOr<std::unique_ptr<LlmStream>> stream = RunTask(ioc_, chain->Stream(Request()));
  ASSERT_TRUE(stream.ok()) << stream.status();
  const absl::StatusOr<std::optional<std::string>> delta = RunTask(ioc_, (*stream)->Next());
  ASSERT_TRUE(delta.ok());
  EXPECT_EQ(**delta, "ok from haiku");
  EXPECT_EQ((*stream)->Final().model, "haiku");
  EXPECT_EQ((*stream)->Final().attempts, 3);
}

TEST_F(FallbackProviderTest, InvalidChainsAreRefused) {
  EXPECT_EQ(NewFallbackProvider("x", {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NewFallbackProvider("x", {{nullptr, "m"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NewFallbackProvider("x", {{&sonnet_, ""}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(FallbackProviderTest, ResolvesAnAliasAndItsFallbacks) {
  const std::vector<core::ModelAliasConfig> aliases = {
      {.name = "sonnet",
       .provider = "bedrock",
       .model = "claude-sonnet",
       .price = "",
       .route = "",
       .fallback = {"haiku", "local"}},
      {.name = "haiku",
       .provider = "bedrock",
       .model = "claude-haiku",
       .price = "",
       .route = "",
       .fallback = {"sonnet"}},
      {.name = "local",
       .provider = "vllm",
       .model = "qwen",
       .price = "",
       .route = "",
       .fallback = {}},
      {.name = "broken",
       .provider = "nowhere",
       .model = "m",
       .price = "",
       .route = "",
       .fallback = {}},
      {.name = "dangling",
       .provider = "bedrock",
       .model = "m",
       .price = "",
       .route = "",
       .fallback = {"nope"}},
  };
  const std::map<std::string, Provider*, std::less<>> providers = {{"bedrock", &sonnet_},
                                                                   {"vllm", &haiku_}};
  absl::StatusOr<std::vector<FallbackTarget>> chain =
      ResolveFallbackChain("sonnet", aliases, providers);
  ASSERT_TRUE(chain.ok()) << chain.status();
  ASSERT_EQ(chain->size(), 3u);
  EXPECT_EQ((*chain)[0].provider, &sonnet_);
  EXPECT_EQ((*chain)[0].model, "claude-sonnet");
  EXPECT_EQ((*chain)[1].model, "claude-haiku");
  EXPECT_EQ((*chain)[2].provider, &haiku_);
  EXPECT_EQ((*chain)[2].model, "qwen");

  // One level only: haiku → sonnet, not back to haiku.
  chain = ResolveFallbackChain("haiku", aliases, providers);
  ASSERT_TRUE(chain.ok());
  EXPECT_EQ(chain->size(), 2u);

  EXPECT_EQ(ResolveFallbackChain("opus", aliases, providers).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveFallbackChain("broken", aliases, providers).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveFallbackChain("dangling", aliases, providers).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mangaassist::llm
