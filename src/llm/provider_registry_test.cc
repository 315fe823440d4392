#include "llm/provider_registry.h"

// clang-format off
#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).
// clang-format on

#include <memory>
#include <optional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "llm/extractive/extractive_responder.h"
#include "llm/provider_test_support.h"

namespace mangaassist::llm {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kTemplates =
    std::string(MANGAASSIST_DATA_DIR_FOR_TESTS) + "/templates/extractive.yaml";

class ProviderRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(f_.ready()); }
  test_support::ProviderFixture f_;
};

TEST_F(ProviderRegistryTest, EveryTypeIsRegisteredOnce) {
  EXPECT_THAT(ProviderTypes(), ElementsAre("anthropic", "bedrock", "openai", "extractive", "simulated"));
  for (const char* type : {"anthropic", "bedrock", "openai"}) {
    absl::StatusOr<std::unique_ptr<Provider>> provider = CreateProvider(f_.Config(type), f_.Deps());
    ASSERT_TRUE(provider.ok()) << type << ": " << provider.status();
    EXPECT_EQ((*provider)->name(), std::string(type) + "-test");
  }
}

TEST_F(ProviderRegistryTest, UnknownTypeNamesTheKnownOnes) {
  core::ProviderConfig config = f_.Config("gemini");
  const absl::Status status = CreateProvider(config, f_.Deps()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("unknown type 'gemini'"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("anthropic, bedrock, openai, extractive, simulated"));

  config = f_.Config("openai");
  config.name.clear();
  EXPECT_EQ(CreateProvider(config, f_.Deps()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ProviderRegistryTest, ProvidersWithoutASharedClientMakeTheirOwn) {
  ProviderDeps deps = f_.Deps();
  deps.client = nullptr;
  absl::StatusOr<std::unique_ptr<Provider>> provider = CreateProvider(f_.Config("openai"), deps);
  ASSERT_TRUE(provider.ok()) << provider.status();
  EXPECT_TRUE(f_.Complete(**provider, f_.Request("m")).ok());

  core::ProviderConfig config = f_.Config("anthropic");
  config.ca_file = "/nonexistent/ca.pem";
  EXPECT_EQ(CreateProvider(config, f_.Deps()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ProviderRegistryTest, ExtractiveAnswersOfflineWithARoughUsage) {
  core::ProviderConfig config;
  config.name = "offline";
  config.type = "extractive";
  EXPECT_EQ(CreateProvider(config, f_.Deps()).status().code(),
            absl::StatusCode::kFailedPrecondition);

  absl::StatusOr<std::unique_ptr<ExtractiveResponder>> responder =
      ExtractiveResponder::Create(nullptr, kTemplates);
  ASSERT_TRUE(responder.ok()) << responder.status();
  ProviderDeps deps = f_.Deps();
  deps.extractive = responder->get();
  absl::StatusOr<std::unique_ptr<Provider>> provider = CreateProvider(config, deps);
  ASSERT_TRUE(provider.ok()) << provider.status();

  LlmRequest request = f_.Request("");
  request.messages = {
      {Role::kUser, "hello"}, {Role::kAssistant, "Hi!"}, {Role::kUser, "配送料はいくらですか？"}};
  const absl::StatusOr<LlmResponse> response = f_.Complete(**provider, request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_FALSE(response->text.empty());
  EXPECT_EQ(response->model, "extractive");
  EXPECT_EQ(response->finish_reason, "stop");
  EXPECT_GT(response->usage.input_tokens, 0);
  EXPECT_GT(response->usage.output_tokens, 0);
  EXPECT_EQ(response->usage.cache_read_tokens + response->usage.cache_write_tokens, 0);
  EXPECT_EQ(f_.fake().TotalRequests(), 0);

  absl::StatusOr<std::unique_ptr<LlmStream>> stream = f_.Stream(**provider, request);
  ASSERT_TRUE(stream.ok());
  const test_support::Drained drained = f_.Drain(**stream);
  EXPECT_TRUE(drained.status.ok());
  EXPECT_EQ(drained.text, response->text);
  EXPECT_EQ(drained.deltas.size(), 1u);
  EXPECT_EQ((*stream)->Final().usage.output_tokens, response->usage.output_tokens);
}

}  // namespace
}  // namespace mangaassist::llm
