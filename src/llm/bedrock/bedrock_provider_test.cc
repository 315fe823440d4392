#include "llm/bedrock/bedrock_provider.h"

// clang-format off
#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).
// clang-format on

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "core/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "llm/bedrock/sigv4.h"
#include "llm/provider_test_support.h"
#include "nlohmann/json.hpp"

namespace mangaassist::llm {
namespace {

using ::mangaassist::testing::Behavior;
using ::mangaassist::testing::RecordedRequest;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using Json = nlohmann::json;

constexpr char kModel[] = "anthropic.claude-3-5-sonnet-20240620-v1:0";
constexpr char kInvokeTarget[] = "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/invoke";
constexpr char kStreamTarget[] =
    "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/invoke-with-response-stream";
constexpr char kSecret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

class BedrockProviderTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(f_.ready()); }
  void TearDown() override { ::unsetenv("AWS_SESSION_TOKEN"); }
  test_support::ProviderFixture f_;
};

// The names listed in the Authorization header's SignedHeaders.
std::vector<std::string> SignedHeaderNames(const std::string& authorization) {
  const size_t start = authorization.find("SignedHeaders=");
  if (start == std::string::npos) return {};
  const size_t from = start + sizeof("SignedHeaders=") - 1;
  const std::string list = authorization.substr(from, authorization.find(',', from) - from);
  return absl::StrSplit(list, ';');
}

// Signs the recorded request again with botocore (tests/support/sigv4_botocore.py), an
// independent SigV4 implementation, and returns its Authorization header; "" on failure (the
// failure is reported).
std::string BotocoreAuthorization(const RecordedRequest& sent, const std::string& base_url) {
  const std::string authorization = sent.Header("authorization");
  Json headers = Json::array();
  for (const std::string& name : SignedHeaderNames(authorization)) {
    if (name == "x-amz-date" || name == "x-amz-security-token") continue;  // botocore adds them
    headers.push_back({name, sent.Header(name)});
  }
  const Json input = {{"method", sent.method},
                      {"url", base_url + sent.target},
                      {"headers", headers},
                      {"body", sent.body},
                      {"amz_date", sent.Header("x-amz-date")},
                      {"access_key_id", test_support::kAccessKeyId},
                      {"secret_access_key", kSecret},
                      {"session_token", sent.Header("x-amz-security-token")},
                      {"region", test_support::kRegion},
                      {"service", "bedrock"}};
  const std::string path =
      ::testing::TempDir() + "bedrock_provider_botocore_" + std::to_string(::getpid()) + ".json";
  {
    std::ofstream out(path);
    out << input.dump();
  }
  const std::string script =
      std::string(MANGAASSIST_SOURCE_DIR) + "/tests/support/sigv4_botocore.py";
  const std::string command = "python3 '" + script + "' '" + path + "' 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  EXPECT_NE(pipe, nullptr) << command;
  if (pipe == nullptr) return "";
  std::string output;
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) output.append(buf, n);
  const int rc = ::pclose(pipe);
  std::filesystem::remove(path);
  const int exit_code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  EXPECT_EQ(exit_code, 0) << "sigv4_botocore.py (python3-botocore, installed by "
                             "scripts/install-deps.sh) failed: "
                          << output;
  const Json result = Json::parse(output, nullptr, /*allow_exceptions=*/false);
  return result.is_object() ? result.value("authorization", "") : "";
}

TEST_F(BedrockProviderTest, SendsAnInvokeModelRequestSignedWithSigV4) {
  std::unique_ptr<Provider> provider = f_.Create(f_.Config("bedrock"));
  ASSERT_NE(provider, nullptr);
  LlmRequest request = f_.Request(kModel, "ワンピースの最新刊は？");
  request.system = "You are MangaAssist.";
  request.cache_system = true;
  const absl::StatusOr<LlmResponse> response = f_.Complete(*provider, request);
  ASSERT_TRUE(response.ok()) << response.status();

  const RecordedRequest sent = f_.fake().LastRequest();
  EXPECT_EQ(sent.target, kInvokeTarget);
  EXPECT_THAT(sent.Header("authorization"), StartsWith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"));
  EXPECT_THAT(sent.Header("authorization"), HasSubstr("/ap-northeast-1/bedrock/aws4_request, "));
  EXPECT_EQ(sent.Header("x-amz-date"), bedrock::AmzDate(f_.clock().Now()));
  EXPECT_EQ(sent.Header("x-request-id"), "req-test-1");
  EXPECT_FALSE(sent.HasHeader("x-amz-security-token"));
  const Json body = Json::parse(sent.body);
  EXPECT_EQ(body["anthropic_version"], "bedrock-2023-05-31");
  EXPECT_FALSE(body.contains("model"));
  EXPECT_FALSE(body.contains("stream"));
  EXPECT_EQ(body["system"][0]["cache_control"]["type"], "ephemeral");

  // What went on the wire verifies with an independent implementation.
  EXPECT_EQ(BotocoreAuthorization(sent, f_.fake().base_url()), sent.Header("authorization"));
}

TEST_F(BedrockProviderTest, StreamsFromTheStreamingEndpointWithASessionToken) {
  ::setenv("AWS_SESSION_TOKEN", "IQoJb3JpZ2luX2VjEXAMPLE+token/==", 1);
  std::unique_ptr<Provider> provider = f_.Create(f_.Config("bedrock"));
  ASSERT_NE(provider, nullptr);
  absl::StatusOr<std::unique_ptr<LlmStream>> stream = f_.Stream(*provider, f_.Request(kModel));
  ASSERT_TRUE(stream.ok()) << stream.status();
  const test_support::Drained drained = f_.Drain(**stream);
  EXPECT_TRUE(drained.status.ok()) << drained.status;
  EXPECT_EQ(drained.text, Behavior{}.answer);

  const RecordedRequest sent = f_.fake().LastRequest();
  EXPECT_EQ(sent.target, kStreamTarget);
  EXPECT_EQ(sent.Header("x-amz-security-token"), "IQoJb3JpZ2luX2VjEXAMPLE+token/==");
  EXPECT_THAT(sent.Header("authorization"), HasSubstr("x-amz-security-token"));
  EXPECT_EQ(BotocoreAuthorization(sent, f_.fake().base_url()), sent.Header("authorization"));
}

TEST_F(BedrockProviderTest, EveryRetryIsSignedAnew) {
  Behavior behavior;
  behavior.failure = Behavior::Failure::kRateLimited;
  behavior.fail_first_n = 1;
  behavior.retry_after_seconds = 1;
  f_.fake().SetBehavior(behavior);
  // Wall time, so that the retry (a second later) carries another X-Amz-Date.
  std::unique_ptr<Provider> provider = f_.Create(f_.Config("bedrock"), &core::SystemClock());
  ASSERT_NE(provider, nullptr);
  const absl::StatusOr<LlmResponse> response = f_.Complete(*provider, f_.Request(kModel));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->attempts, 2);
  const std::vector<RecordedRequest> sent = f_.fake().RecentRequests();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_NE(sent[0].Header("x-amz-date"), sent[1].Header("x-amz-date"));
  EXPECT_NE(sent[0].Header("authorization"), sent[1].Header("authorization"));
  EXPECT_EQ(BotocoreAuthorization(sent[1], f_.fake().base_url()), sent[1].Header("authorization"));
}

TEST_F(BedrockProviderTest, CrossRegionEndpointIsRefusedAtCreation) {
  core::ProviderConfig config = f_.Config("bedrock");
  config.base_url = "https://bedrock-runtime.us-east-1.amazonaws.com";
  const absl::Status cross = CreateProvider(config, f_.Deps()).status();
  EXPECT_EQ(cross.code(), absl::StatusCode::kPermissionDenied) << cross;
  EXPECT_THAT(cross.message(), HasSubstr("bedrock-test"));

  config.base_url = "https://example.com";  // region cannot be verified
  EXPECT_EQ(CreateProvider(config, f_.Deps()).status().code(), absl::StatusCode::kInvalidArgument);

  config.base_url = "https://bedrock-runtime.ap-northeast-1.amazonaws.com";
  EXPECT_TRUE(CreateProvider(config, f_.Deps()).ok());
  config.base_url.clear();  // the pinned region's own endpoint
  EXPECT_TRUE(CreateProvider(config, f_.Deps()).ok());

  config.region.clear();
  EXPECT_EQ(CreateProvider(config, f_.Deps()).status().code(), absl::StatusCode::kInvalidArgument);
  config.region = "tokyo";
  EXPECT_EQ(CreateProvider(config, f_.Deps()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(BedrockProviderTest, MissingCredentialsFailTheCallWithoutSendingIt) {
  std::unique_ptr<Provider> provider = f_.Create(f_.Config("bedrock"));
  ASSERT_NE(provider, nullptr);
  ::unsetenv("AWS_ACCESS_KEY_ID");
  const absl::StatusOr<LlmResponse> response = f_.Complete(*provider, f_.Request(kModel));
  ::setenv("AWS_ACCESS_KEY_ID", test_support::kAccessKeyId, 1);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kFailedPrecondition) << response.status();
  EXPECT_EQ(f_.fake().TotalRequests(), 0);
}

TEST_F(BedrockProviderTest, AwsErrorTypesAreKeptInTheMessage) {
  Behavior behavior;
  behavior.failure = Behavior::Failure::kRateLimited;
  behavior.retry_after_seconds = 60;
  f_.fake().SetBehavior(behavior);
  std::unique_ptr<Provider> provider = f_.Create(f_.Config("bedrock"));
  ASSERT_NE(provider, nullptr);
  const absl::StatusOr<LlmResponse> response = f_.Complete(*provider, f_.Request(kModel));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(response.status().message(),
              HasSubstr("bedrock-test: HTTP 429 ThrottlingException: Too many requests"));
}

TEST_F(BedrockProviderTest, StreamExceptionsKeepTheirType) {
  Behavior behavior;
  behavior.failure = Behavior::Failure::kMidStreamError;
  f_.fake().SetBehavior(behavior);
  std::unique_ptr<Provider> provider = f_.Create(f_.Config("bedrock"));
  ASSERT_NE(provider, nullptr);
  absl::StatusOr<std::unique_ptr<LlmStream>> stream = f_.Stream(*provider, f_.Request(kModel));
  ASSERT_TRUE(stream.ok()) << stream.status();
  const absl::Status status = f_.Drain(**stream).status;
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("modelStreamErrorException"));
}

}  // namespace
}  // namespace mangaassist::llm
