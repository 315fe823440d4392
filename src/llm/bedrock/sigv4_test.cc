#include "llm/bedrock/sigv4.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace mangaassist::llm::bedrock {
namespace {

// --- AWS's published SigV4 test suite (aws-sig-v4-test-suite, as shipped in aws-c-auth). ---

const AwsCredentials kSuiteCredentials{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                       ""};
constexpr char kSuiteHost[] = "example.amazonaws.com";
constexpr char kEmptySha256[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

absl::Time SuiteTime() {
  return absl::FromCivil(absl::CivilSecond(2015, 8, 30, 12, 36, 0), absl::UTCTimeZone());
}

std::string SuiteAuthorization(std::string_view signed_headers, std::string_view signature) {
  return "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
         "SignedHeaders=" +
         std::string(signed_headers) + ", Signature=" + std::string(signature);
}

struct SuiteCase {
  const char* name;
  std::string method;
  std::string path;
  std::string query;
  std::vector<std::pair<std::string, std::string>> headers;  // besides Host
  std::string body;
  SignOptions options;
  std::string expected_authorization;
};

std::string HeaderValue(const SignableRequest& req, std::string_view name) {
  for (const auto& [n, v] : req.headers) {
    if (n == name) return v;
  }
  return "<absent>";
}

std::vector<SuiteCase> SuiteCases() {
  const std::string vanilla = SuiteAuthorization(
      "host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  return {
      {"get-vanilla", "GET", "/", "", {}, "", {}, vanilla},
      {"get-vanilla-query-order-key-case",
       "GET",
       "/",
       "Param2=value2&Param1=value1",
       {},
       "",
       {},
       SuiteAuthorization("host;x-amz-date",
                          "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")},
      {"get-vanilla-empty-query-key",
       "GET",
       "/",
       "Param1=value1",
       {},
       "",
       {},
       SuiteAuthorization("host;x-amz-date",
                          "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb")},
      {"get-vanilla-query-unreserved",
       "GET",
       "/",
       "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz="
       "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
       {},
       "",
       {},
       SuiteAuthorization("host;x-amz-date",
                          "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197")},
      {"get-vanilla-utf8-query",
       "GET",
       "/",
       "\xE1\x88\xB4=bar",
       {},
       "",
       {},
       SuiteAuthorization("host;x-amz-date",
                          "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04")},
      {"get-utf8",
       "GET",
       "/\xE1\x88\xB4",
       "",
       {},
       "",
       {},
       SuiteAuthorization("host;x-amz-date",
                          "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85")},
      {"get-unreserved",
       "GET",
       "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
       "",
       {},
       "",
       {},
       SuiteAuthorization("host;x-amz-date",
                          "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f")},
      {"get-space-normalized",
       "GET",
       "/example space/",
       "",
       {},
       "",
       {},
       SuiteAuthorization("host;x-amz-date",
                          "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741")},
      {"get-slashes-normalized",
       "GET",
       "//example//",
       "",
       {},
       "",
       {},
       SuiteAuthorization("host;x-amz-date",
                          "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84")},
      {"get-slash-dot-slash-normalized", "GET", "/./", "", {}, "", {}, vanilla},
      {"get-relative-relative-normalized",
       "GET",
       "/example1/example2/../..",
       "",
       {},
       "",
       {},
       vanilla},
      {"get-header-value-trim",
       "GET",
       "/",
       "",
       {{"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}},
       "",
       {},
       SuiteAuthorization("host;my-header1;my-header2;x-amz-date",
                          "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736")},
      {"get-header-key-duplicate",
       "GET",
       "/",
       "",
       {{"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}},
       "",
       {},
       SuiteAuthorization("host;my-header1;x-amz-date",
                          "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea")},
      {"post-vanilla",
       "POST",
       "/",
       "",
       {},
       "",
       {},
       SuiteAuthorization("host;x-amz-date",
                          "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b")},
      {"post-x-www-form-urlencoded",
       "POST",
       "/",
       "",
       {{"Content-Type", "application/x-www-form-urlencoded"}},
       "Param1=value1",
       {},
       SuiteAuthorization("content-type;host;x-amz-date",
                          "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a")},
      // The current suite's variant: Content-Length and a signed x-amz-content-sha256.
      {"post-x-www-form-urlencoded (x-amz-content-sha256)",
       "POST",
       "/",
       "",
       {{"Content-Type", "application/x-www-form-urlencoded"}, {"Content-Length", "13"}},
       "Param1=value1",
       {.content_sha256_header = true},
       SuiteAuthorization("content-length;content-type;host;x-amz-content-sha256;x-amz-date",
                          "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b")},
      {"post-x-www-form-urlencoded-parameters",
       "POST",
       "/",
       "",
       {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
        {"Content-Length", "13"}},
       "Param1=value1",
       {.content_sha256_header = true},
       SuiteAuthorization("content-length;content-type;host;x-amz-content-sha256;x-amz-date",
                          "328d1b9eaadca9f5818ef05e8392801e091653bafec24fcab71e7344e7f51422")},
  };
}

TEST(SigV4SuiteTest, AuthorizationMatchesPublishedExamples) {
  for (const SuiteCase& c : SuiteCases()) {
    SCOPED_TRACE(c.name);
    SignableRequest req{c.method, kSuiteHost, c.path, c.query, {{"Host", kSuiteHost}}, c.body};
    for (const auto& h : c.headers) req.headers.push_back(h);
    ASSERT_TRUE(
        SignRequest(req, kSuiteCredentials, "us-east-1", "service", SuiteTime(), c.options).ok());
    EXPECT_EQ(HeaderValue(req, "Authorization"), c.expected_authorization);
    EXPECT_EQ(HeaderValue(req, "x-amz-date"), "20150830T123600Z");
  }
}

TEST(SigV4SuiteTest, SessionTokenIsSignedAndSent) {
  // get-vanilla-with-session-token.
  AwsCredentials creds = kSuiteCredentials;
  creds.session_token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
  SignableRequest req{"GET", kSuiteHost, "/", "", {}, ""};
  ASSERT_TRUE(SignRequest(req, creds, "us-east-1", "service", SuiteTime()).ok());
  EXPECT_EQ(HeaderValue(req, "x-amz-security-token"), creds.session_token);
  EXPECT_EQ(HeaderValue(req, "host"), kSuiteHost);
  EXPECT_EQ(HeaderValue(req, "Authorization"),
            SuiteAuthorization("host;x-amz-date;x-amz-security-token",
                               "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"));
}

TEST(SigV4SuiteTest, CanonicalRequestAndStringToSignMatchGetVanilla) {
  SignableRequest req{
      "GET", kSuiteHost, "/", "", {{"Host", kSuiteHost}, {"X-Amz-Date", "20150830T123600Z"}}, ""};
  absl::StatusOr<SignatureParts> parts =
      ComputeSignature(req, kSuiteCredentials, "us-east-1", "service", SuiteTime());
  ASSERT_TRUE(parts.ok()) << parts.status();
  EXPECT_EQ(parts->canonical_request,
            std::string("GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                        "host;x-amz-date\n") +
                kEmptySha256);
  EXPECT_EQ(parts->string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
  EXPECT_EQ(parts->signature, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(SigV4SuiteTest, HeaderValuesAreTrimmedAndCollapsed) {
  SignableRequest req{"GET",
                      kSuiteHost,
                      "/",
                      "",
                      {{"Host", kSuiteHost},
                       {"My-Header1", " value1"},
                       {"My-Header2", " \"a   b   c\""},
                       {"X-Amz-Date", "20150830T123600Z"}},
                      ""};
  absl::StatusOr<SignatureParts> parts =
      ComputeSignature(req, kSuiteCredentials, "us-east-1", "service", SuiteTime());
  ASSERT_TRUE(parts.ok()) << parts.status();
  EXPECT_EQ(parts->canonical_request,
            std::string("GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\n"
                        "my-header2:\"a b c\"\nx-amz-date:20150830T123600Z\n\n"
                        "host;my-header1;my-header2;x-amz-date\n") +
                kEmptySha256);
}

TEST(SigV4Test, SigningKeyMatchesAwsDocumentation) {
  // "Examples of how to derive a signing key for Signature Version 4" (AWS General Reference).
  EXPECT_EQ(DeriveSigningKeyHex("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1",
                                "iam"),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
  EXPECT_EQ(DeriveSigningKeyHex("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1",
                                "iam"),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
  EXPECT_EQ(Sha256Hex(""), kEmptySha256);
}

TEST(SigV4Test, BedrockModelIdIsEncodedOnTheWireAndAgainWhenSigned) {
  const std::string model = "anthropic.claude-3-5-sonnet-20240620-v1:0";
  const std::string wire = "/model/" + UriEncode(model, true) + "/invoke";
  EXPECT_EQ(wire, "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/invoke");
  EXPECT_EQ(CanonicalUri(wire, true),
            "/model/anthropic.claude-3-5-sonnet-20240620-v1%253A0/invoke");
  // S3 rules sign the wire path as it is.
  EXPECT_EQ(CanonicalUri(wire, false), wire);
  EXPECT_EQ(UriEncode("a/b c~", false), "a/b%20c~");
  EXPECT_EQ(UriEncode("a/b", true), "a%2Fb");
}

TEST(SigV4Test, CanonicalQueryNormalisesEncodingAndSorts) {
  EXPECT_EQ(CanonicalQueryString(""), "");
  EXPECT_EQ(CanonicalQueryString("b=2&a=1&A=0"), "A=0&a=1&b=2");
  EXPECT_EQ(CanonicalQueryString("k=v2&k=v1"), "k=v1&k=v2");
  EXPECT_EQ(CanonicalQueryString("flag&x=a b"), "flag=&x=a%20b");
  // Already-encoded and raw input sign the same; '+' is literal.
  EXPECT_EQ(CanonicalQueryString("x=a%20b%2Fc"), "x=a%20b%2Fc");
  EXPECT_EQ(CanonicalQueryString("x=a/b+c"), "x=a%2Fb%2Bc");
  EXPECT_EQ(CanonicalQueryString("x=%zz"), "x=%25zz");
}

TEST(SigV4Test, ResigningReplacesEarlierSignatureHeaders) {
  AwsCredentials creds = kSuiteCredentials;
  creds.session_token = "token-1";
  SignableRequest req{"POST", kSuiteHost, "/", "", {{"content-type", "application/json"}}, "{}"};
  ASSERT_TRUE(SignRequest(req, creds, "us-east-1", "service", SuiteTime()).ok());
  SignableRequest once = req;
  ASSERT_TRUE(SignRequest(req, creds, "us-east-1", "service", SuiteTime()).ok());
  EXPECT_EQ(req.headers, once.headers);

  // A later retry with new credentials and time: one of each header, no stale token.
  creds.session_token.clear();
  ASSERT_TRUE(SignRequest(req, creds, "us-east-1", "service", SuiteTime() + absl::Minutes(1)).ok());
  int auth = 0, date = 0, token = 0;
  for (const auto& [n, v] : req.headers) {
    auth += n == "Authorization";
    date += n == "x-amz-date";
    token += n == "x-amz-security-token";
  }
  EXPECT_EQ(auth, 1);
  EXPECT_EQ(date, 1);
  EXPECT_EQ(token, 0);
  EXPECT_EQ(HeaderValue(req, "x-amz-date"), "20150830T123700Z");
}

TEST(SigV4Test, RefusesBadInputWithoutTouchingTheRequest) {
  SignableRequest req{"GET", kSuiteHost, "/", "", {{"X-Evil", "a\r\nInjected: 1"}}, ""};
  const auto before = req.headers;
  absl::Status s = SignRequest(req, kSuiteCredentials, "us-east-1", "service", SuiteTime());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(req.headers, before);

  SignableRequest ok{"GET", kSuiteHost, "/", "", {}, ""};
  EXPECT_EQ(SignRequest(ok, AwsCredentials{}, "us-east-1", "service", SuiteTime()).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(SignRequest(ok, kSuiteCredentials, "", "service", SuiteTime()).code(),
            absl::StatusCode::kInvalidArgument);
  SignableRequest relative{"GET", kSuiteHost, "model", "", {}, ""};
  EXPECT_EQ(SignRequest(relative, kSuiteCredentials, "us-east-1", "service", SuiteTime()).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SigV4Test, CredentialsFromEnvironment) {
  ::setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
  ::unsetenv("AWS_SESSION_TOKEN");
  absl::StatusOr<AwsCredentials> c = CredentialsFromEnv();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->access_key_id, "AKIDEXAMPLE");
  EXPECT_EQ(c->secret_access_key, "secret");
  EXPECT_EQ(c->session_token, "");

  ::setenv("AWS_SESSION_TOKEN", "tok", 1);
  c = CredentialsFromEnv();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->session_token, "tok");

  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  c = CredentialsFromEnv();
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(c.status().message().find("tok"), absl::string_view::npos);
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SESSION_TOKEN");
}

// --- botocore as an independent implementation. ---

struct BotocoreResult {
  std::string authorization;
  std::string amz_date;
  std::string security_token;
  std::string canonical_request;
};

// Signs the unsigned form of `req` with tests/support/sigv4_botocore.py. Fails the test (with a
// message naming the missing piece) when python3 or botocore is unavailable.
void SignWithBotocore(const SignableRequest& unsigned_req, const AwsCredentials& creds,
                      std::string_view region, std::string_view service, absl::Time now,
                      BotocoreResult* out) {
  const std::string script =
      std::string(MANGAASSIST_SOURCE_DIR) + "/tests/support/sigv4_botocore.py";
  ASSERT_TRUE(std::filesystem::exists(script)) << "missing " << script;

  nlohmann::json headers = nlohmann::json::array();
  for (const auto& [n, v] : unsigned_req.headers) headers.push_back({n, v});
  std::string url = "https://" + unsigned_req.host + unsigned_req.path;
  if (!unsigned_req.query.empty()) url += "?" + unsigned_req.query;
  nlohmann::json input = {{"method", unsigned_req.method},
                          {"url", url},
                          {"headers", headers},
                          {"body", unsigned_req.body},
                          {"amz_date", AmzDate(now)},
                          {"access_key_id", creds.access_key_id},
                          {"secret_access_key", creds.secret_access_key},
                          {"session_token", creds.session_token},
                          {"region", std::string(region)},
                          {"service", std::string(service)}};
  static int counter = 0;
  const std::string input_path = ::testing::TempDir() + "sigv4_botocore_" +
                                 std::to_string(::getpid()) + "_" + std::to_string(counter++) +
                                 ".json";
  {
    std::ofstream f(input_path);
    f << input.dump();
  }
  const std::string command = "python3 '" + script + "' '" + input_path + "' 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr) << "cannot run: " << command;
  std::string output;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) output.append(buf, n);
  int rc = ::pclose(pipe);
  std::filesystem::remove(input_path);
  ASSERT_NE(rc, -1) << "pclose failed for: " << command;
  const int exit_code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  ASSERT_NE(exit_code, 127) << "python3 is not installed (scripts/install-deps.sh installs it); "
                            << output;
  ASSERT_NE(exit_code, 3) << "python3-botocore is not installed (scripts/install-deps.sh "
                             "installs it): "
                          << output;
  ASSERT_EQ(exit_code, 0) << "sigv4_botocore.py failed: " << output;
  nlohmann::json result = nlohmann::json::parse(output, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(result.is_object()) << "unexpected output of sigv4_botocore.py: " << output;
  out->authorization = result.value("authorization", "");
  out->amz_date = result.value("x-amz-date", "");
  out->security_token = result.value("x-amz-security-token", "");
  out->canonical_request = result.value("canonical_request", "");
}

// Signs `req` in C++ and with botocore and expects the same Authorization header.
void ExpectSameAsBotocore(SignableRequest req, const AwsCredentials& creds, std::string_view region,
                          std::string_view service, absl::Time now, SignOptions options = {}) {
  SignableRequest signed_req = req;
  ASSERT_TRUE(SignRequest(signed_req, creds, region, service, now, options).ok());
  // botocore gets the request as it goes out, minus the headers botocore adds itself.
  SignableRequest for_python = signed_req;
  std::erase_if(for_python.headers, [](const auto& h) {
    return h.first == "Authorization" || h.first == "x-amz-date" ||
           h.first == "x-amz-security-token";
  });
  BotocoreResult boto;
  ASSERT_NO_FATAL_FAILURE(SignWithBotocore(for_python, creds, region, service, now, &boto));
  absl::StatusOr<SignatureParts> parts =
      ComputeSignature(signed_req, creds, region, service, now, options);
  ASSERT_TRUE(parts.ok());
  EXPECT_EQ(parts->canonical_request, boto.canonical_request);
  EXPECT_EQ(HeaderValue(signed_req, "Authorization"), boto.authorization);
  EXPECT_EQ(HeaderValue(signed_req, "x-amz-date"), boto.amz_date);
  if (!creds.session_token.empty()) {
    EXPECT_EQ(HeaderValue(signed_req, "x-amz-security-token"), boto.security_token);
  }
}

const AwsCredentials kBedrockCredentials{
    "ASIAEXAMPLEEXAMPLE12", "fakeSecretKey/with+plus/and/slash0123456789",
    "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaDmFwLW5vcnRoZWFzdC0xIkcwRQIhAEXAMPLE+token/=="};
constexpr char kBedrockHost[] = "bedrock-runtime.ap-northeast-1.amazonaws.com";

absl::Time BedrockTime() {
  return absl::FromCivil(absl::CivilSecond(2024, 11, 5, 9, 7, 3), absl::UTCTimeZone());
}

TEST(SigV4BotocoreTest, BedrockInvokeModelMatchesBotocore) {
  SignableRequest req{
      "POST",
      kBedrockHost,
      "/model/" + UriEncode("anthropic.claude-3-5-sonnet-20240620-v1:0", true) + "/invoke",
      "",
      {{"Content-Type", "application/json"}, {"Accept", "application/json"}},
      R"({"anthropic_version":"bedrock-2023-05-31","max_tokens":256,)"
      R"("messages":[{"role":"user","content":"ワンピースの最新刊は？"}]})"};
  ExpectSameAsBotocore(req, kBedrockCredentials, "ap-northeast-1", "bedrock", BedrockTime());
}

TEST(SigV4BotocoreTest, BedrockStreamWithContentHashMatchesBotocore) {
  SignableRequest req{
      "POST",
      kBedrockHost,
      "/model/" + UriEncode("anthropic.claude-3-haiku-20240307-v1:0", true) +
          "/invoke-with-response-stream",
      "",
      {{"Content-Type", "application/json"},
       {"Accept", "application/vnd.amazon.eventstream"},
       {"X-Amzn-Bedrock-Trace", "DISABLED"}},
      R"({"anthropic_version":"bedrock-2023-05-31","max_tokens":64,"messages":[]})"};
  ExpectSameAsBotocore(req, kBedrockCredentials, "ap-northeast-1", "bedrock", BedrockTime(),
                       {.content_sha256_header = true});
}

TEST(SigV4BotocoreTest, QueryRepeatedHeadersAndWhitespaceMatchBotocore) {
  AwsCredentials no_token = kBedrockCredentials;
  no_token.session_token.clear();
  SignableRequest req{"GET",
                      "bedrock.ap-northeast-1.amazonaws.com",
                      "/foundation-models",
                      "byProvider=anthropic&byOutputModality=TEXT&a=%2F%20x",
                      {{"X-Custom", "  one   two\tthree "}, {"x-custom", "four"}},
                      ""};
  ExpectSameAsBotocore(req, no_token, "ap-northeast-1", "bedrock", BedrockTime());
}

// --- Region pinning. ---

TEST(RegionPinningTest, EndpointForRegion) {
  absl::StatusOr<std::string> e = BedrockRuntimeEndpoint("ap-northeast-1");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(*e, "bedrock-runtime.ap-northeast-1.amazonaws.com");
  EXPECT_EQ(*BedrockRuntimeEndpoint("cn-north-1"), "bedrock-runtime.cn-north-1.amazonaws.com.cn");
  EXPECT_EQ(BedrockRuntimeEndpoint("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BedrockRuntimeEndpoint("ap-northeast-1.evil.com").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(IsValidRegionName("us-gov-west-1"));
  EXPECT_FALSE(IsValidRegionName("AP-NORTHEAST-1"));
  EXPECT_FALSE(IsValidRegionName("global"));
}

TEST(RegionPinningTest, CrossRegionEndpointIsRefused) {
  absl::Status s = CheckSameRegion("bedrock-runtime.us-east-1.amazonaws.com", "ap-northeast-1");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("us-east-1"), absl::string_view::npos);
  EXPECT_EQ(CheckSameRegion("https://bedrock-runtime.us-east-1.amazonaws.com/model/x/invoke",
                            "ap-northeast-1")
                .code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(CheckSameRegion("vpce-0abc-1xyz.bedrock-runtime.us-west-2.vpce.amazonaws.com",
                            "ap-northeast-1")
                .code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(RegionPinningTest, SameRegionEndpointsAreAccepted) {
  EXPECT_TRUE(
      CheckSameRegion("bedrock-runtime.ap-northeast-1.amazonaws.com", "ap-northeast-1").ok());
  EXPECT_TRUE(
      CheckSameRegion("https://BEDROCK-RUNTIME.ap-northeast-1.amazonaws.com:443/", "ap-northeast-1")
          .ok());
  EXPECT_TRUE(CheckSameRegion("bedrock-runtime-fips.us-east-1.amazonaws.com", "us-east-1").ok());
  EXPECT_TRUE(CheckSameRegion("vpce-0abc-1xyz.bedrock-runtime.ap-northeast-1.vpce.amazonaws.com",
                              "ap-northeast-1")
                  .ok());
  EXPECT_TRUE(CheckSameRegion(*BedrockRuntimeEndpoint("eu-central-1"), "eu-central-1").ok());
  // Loopback test doubles keep data on the machine.
  EXPECT_TRUE(CheckSameRegion("127.0.0.1:8443", "ap-northeast-1").ok());
  EXPECT_TRUE(CheckSameRegion("http://localhost:9000", "ap-northeast-1").ok());
  EXPECT_TRUE(CheckSameRegion("[::1]:9000", "ap-northeast-1").ok());
}

TEST(RegionPinningTest, UnverifiableEndpointsAreRefused) {
  for (const char* endpoint :
       {"bedrock-runtime.ap-northeast-1.amazonaws.com.evil.example",  // suffix trick
        "proxy.example.com", "bedrock-runtime.amazonaws.com", "s3.ap-northeast-1.amazonaws.com",
        "x.bedrock-runtime.ap-northeast-1.amazonaws.com", "127.0.0.1.evil.example", "",
        "https://"}) {
    SCOPED_TRACE(endpoint);
    EXPECT_EQ(CheckSameRegion(endpoint, "ap-northeast-1").code(),
              absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(CheckSameRegion("bedrock-runtime.ap-northeast-1.amazonaws.com", "").code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mangaassist::llm::bedrock
