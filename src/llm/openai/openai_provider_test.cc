#include "llm/openai/openai_provider.h"

// clang-format off
#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).
// clang-format on

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "llm/provider_test_support.h"
#include "nlohmann/json.hpp"

namespace mangaassist::llm {
namespace {

using ::mangaassist::testing::Behavior;
using ::testing::HasSubstr;
using Json = nlohmann::json;

class OpenAiProviderTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(f_.ready()); }
  test_support::ProviderFixture f_;
};

LlmRequest FullRequest() {
  LlmRequest request = test_support::ProviderFixture::Request("qwen2.5-7b-instruct");
  request.system = "You are MangaAssist.";
  request.messages = {{Role::kUser, "Hi"}, {Role::kAssistant, "Hello!"}, {Role::kUser, "Vol 3?"}};
  request.max_tokens = 128;
  request.temperature = 0.2f;
  request.top_p = 0.95f;
  request.stop = {"END", "STOP"};
  return request;
}

TEST_F(OpenAiProviderTest, SendsAChatCompletionsRequest) {
  std::unique_ptr<Provider> provider = f_.Create(f_.Config("openai"));
  ASSERT_NE(provider, nullptr);
  ASSERT_TRUE(f_.Complete(*provider, FullRequest()).ok());

  const testing::RecordedRequest sent = f_.fake().LastRequest();
  EXPECT_EQ(sent.target, "/v1/chat/completions");
  EXPECT_EQ(sent.Header("authorization"), "Bearer sk-test");
  const Json body = Json::parse(sent.body);
  EXPECT_EQ(body["model"], "qwen2.5-7b-instruct");
  EXPECT_EQ(body["messages"], Json::parse(R"([
      {"role":"system","content":"You are MangaAssist."},
      {"role":"user","content":"Hi"},
      {"role":"assistant","content":"Hello!"},
      {"role":"user","content":"Vol 3?"}])"));
  EXPECT_EQ(body["max_tokens"], 128);
  EXPECT_EQ(body["temperature"], 0.2);
  EXPECT_EQ(body["top_p"], 0.95);
  EXPECT_EQ(body["stop"], Json::parse(R"(["END","STOP"])"));
  EXPECT_FALSE(body.contains("stream"));

  absl::StatusOr<std::unique_ptr<LlmStream>> stream = f_.Stream(*provider, FullRequest());
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_TRUE(f_.Drain(**stream).status.ok());
  const Json streamed = Json::parse(f_.fake().LastRequest().body);
  EXPECT_EQ(streamed["stream"], true);
  EXPECT_EQ(streamed["stream_options"], Json::parse(R"({"include_usage":true})"));
}

// The body is written by hand: text that needs escaping, Japanese, ill-formed UTF-8 (as
// U+FFFD) and a request without optional fields all arrive as the JSON they should be.
TEST_F(OpenAiProviderTest, TheBodyIsValidJsonForAnyText) {
  std::unique_ptr<Provider> provider = f_.Create(f_.Config("openai"));
  ASSERT_NE(provider, nullptr);
  LlmRequest request = test_support::ProviderFixture::Request("model \"x\"");
  request.messages = {{Role::kUser, "quote \" back\\slash\ttab\nline \x01 ワンピース \xff end"}};
  request.stop = {"\n\n"};
  ASSERT_TRUE(f_.Complete(*provider, request).ok());
  const Json body = Json::parse(f_.fake().LastRequest().body);
  EXPECT_EQ(body["model"], "model \"x\"");
  ASSERT_EQ(body["messages"].size(), 1u);
  EXPECT_EQ(body["messages"][0]["role"], "user");
  EXPECT_EQ(body["messages"][0]["content"],
            "quote \" back\\slash\ttab\nline \x01 ワンピース \xef\xbf\xbd end");
  EXPECT_EQ(body["stop"], Json::parse(R"(["\n\n"])"));
  EXPECT_FALSE(body.contains("temperature"));
  EXPECT_FALSE(body.contains("top_p"));
  EXPECT_EQ(body["max_tokens"], request.max_tokens);
}

TEST_F(OpenAiProviderTest, NoKeyNoAuthorizationHeader) {
  core::ProviderConfig config = f_.Config("openai");
  config.api_key.clear();  // a local llama.cpp / Ollama server
  std::unique_ptr<Provider> provider = f_.Create(config);
  ASSERT_NE(provider, nullptr);
  ASSERT_TRUE(f_.Complete(*provider, FullRequest()).ok());
  EXPECT_FALSE(f_.fake().LastRequest().HasHeader("authorization"));
}

TEST_F(OpenAiProviderTest, BaseUrlMayEndInV1LikeTheSdks) {
  core::ProviderConfig config = f_.Config("openai");
  config.base_url = f_.fake().base_url() + "/v1/";
  std::unique_ptr<Provider> provider = f_.Create(config);
  ASSERT_NE(provider, nullptr);
  ASSERT_TRUE(f_.Complete(*provider, FullRequest()).ok());
  EXPECT_EQ(f_.fake().LastRequest().target, "/v1/chat/completions");

  config.base_url.clear();
  EXPECT_EQ(CreateProvider(config, f_.Deps()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(OpenAiProviderTest, CachedPromptTokensAreCacheReads) {
  Behavior behavior;
  behavior.usage = {.input_tokens = 100, .output_tokens = 20, .cache_read_tokens = 900};
  f_.fake().SetBehavior(behavior);  // prompt_tokens 1000, cached_tokens 900
  std::unique_ptr<Provider> provider = f_.Create(f_.Config("openai"));
  ASSERT_NE(provider, nullptr);
  const absl::StatusOr<LlmResponse> response = f_.Complete(*provider, FullRequest());
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->usage.input_tokens, 100);
  EXPECT_EQ(response->usage.cache_read_tokens, 900);
  EXPECT_EQ(response->usage.cache_write_tokens, 0);
  EXPECT_EQ(response->usage.output_tokens, 20);
}

TEST_F(OpenAiProviderTest, WrongKeyKeepsTheServersMessage) {
  Behavior behavior;
  behavior.expected_api_key = "sk-right";
  f_.fake().SetBehavior(behavior);
  std::unique_ptr<Provider> provider = f_.Create(f_.Config("openai"));
  ASSERT_NE(provider, nullptr);
  const absl::StatusOr<LlmResponse> response = f_.Complete(*provider, FullRequest());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(response.status().message(),
              HasSubstr("openai-test: HTTP 401 invalid_request_error (invalid_api_key): "
                        "Incorrect API key provided."));
}

}  // namespace
}  // namespace mangaassist::llm
