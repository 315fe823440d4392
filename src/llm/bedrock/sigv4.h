// AWS Signature Version 4 request signing (HMAC-SHA256 and SHA-256 from OpenSSL) and the region
// pinning rules for Amazon Bedrock endpoints. Pure functions over values: thread-safe, no I/O
// except CredentialsFromEnv() reading the process environment.
//
// Canonicalisation follows the AWS SigV4 specification as botocore implements it for every
// service but S3: the path, as sent on the wire (already percent-encoded once), has its dot
// segments and empty segments removed and is percent-encoded again, so the Bedrock model id
// `anthropic.claude-3-5-sonnet-20240620-v1:0` travels as `...-v1%3A0` and is signed as
// `...-v1%253A0`. Header values are trimmed and inner whitespace runs collapsed to one space;
// repeated headers are joined with ',' in their original order.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace mangaassist::llm::bedrock {

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // Empty for long-term keys; STS / SSO credentials carry one.
};

// Reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and (optional) AWS_SESSION_TOKEN.
// FailedPrecondition when the key id or the secret is missing or empty; the message never
// contains secret material.
absl::StatusOr<AwsCredentials> CredentialsFromEnv();

// One HTTP request, as it will be sent. SignRequest() adds its headers to `headers`; the caller
// sends exactly `headers` (use set-semantics for Host: SignRequest adds `host` when absent).
struct SignableRequest {
  std::string method;  // "POST"
  std::string host;  // "bedrock-runtime.ap-northeast-1.amazonaws.com" (plus ":port" if non-default)
  std::string path;  // Wire form, already percent-encoded: "/model/a.b-v1%3A0/invoke".
  std::string query;  // Raw query without '?', may be empty.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct SignOptions {
  // Adds `x-amz-content-sha256: <hex sha256(body)>`. S3 requires it; other services (Bedrock
  // included) accept it; botocore sends it only for S3.
  bool content_sha256_header = false;
  // Normalises and re-encodes the path (every service but S3). S3 signs the wire path as is.
  bool normalize_path = true;
};

// Everything computed while signing, exposed so that tests can compare each step with AWS's
// published test suite.
struct SignatureParts {
  std::string canonical_request;
  std::string string_to_sign;
  std::string credential_scope;  // "20150830/us-east-1/service/aws4_request"
  std::string signed_headers;    // "host;x-amz-date"
  std::string signature;         // lower-case hex
  std::string authorization;     // the full Authorization header value
};

// Signs `req` in place: removes any earlier Authorization / X-Amz-Date / X-Amz-Security-Token
// (a retry re-signs), then adds `host` (if absent), `x-amz-date`, `x-amz-security-token` (when
// the credentials carry a session token), `x-amz-content-sha256` (when requested) and
// `Authorization`. Every header in `req.headers` is signed. A caller-supplied
// x-amz-content-sha256 (e.g. "UNSIGNED-PAYLOAD") is kept and used as the payload hash unless
// options.content_sha256_header replaces it.
// InvalidArgument for an empty method/region/service, a header name or value containing CR, LF
// or NUL, or a path not starting with '/'; FailedPrecondition for empty credentials.
[[nodiscard]] absl::Status SignRequest(SignableRequest& req, const AwsCredentials& credentials,
                                       std::string_view region, std::string_view service,
                                       absl::Time now, const SignOptions& options = {});

// Like SignRequest() without modifying `req`: `req` must already carry every header to sign
// (including x-amz-date matching `now`, and x-amz-security-token if any); an Authorization
// header, if present, is ignored. Used by SignRequest and by tests.
[[nodiscard]] absl::StatusOr<SignatureParts> ComputeSignature(
    const SignableRequest& req, const AwsCredentials& credentials, std::string_view region,
    std::string_view service, absl::Time now, const SignOptions& options = {});

// --- Building blocks, exposed for tests and for building request paths. ---

// "20150830T123600Z".
std::string AmzDate(absl::Time t);

// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

// Lower-case hex of kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
// "aws4_request"). `date` is YYYYMMDD.
std::string DeriveSigningKeyHex(std::string_view secret_access_key, std::string_view date,
                                std::string_view region, std::string_view service);

// RFC 3986 percent-encoding: everything but A-Z a-z 0-9 - . _ ~ becomes %XX (upper-case hex);
// '/' is kept unless `encode_slash`. Build a Bedrock path with
// "/model/" + UriEncode(model_id, true) + "/invoke".
std::string UriEncode(std::string_view s, bool encode_slash);

// The canonical URI of a wire path: with `normalize`, dot segments and empty segments are
// removed (RFC 3986 5.2.4; a trailing '/' is kept) and the result is encoded again with
// UriEncode(.., false); without it (S3) the path is returned unchanged. "" becomes "/".
std::string CanonicalUri(std::string_view path, bool normalize);

// The canonical query string of a raw query: each `name[=value]` is percent-decoded and encoded
// again with UriEncode(.., true) (so raw UTF-8 and already-encoded input sign the same), then
// sorted by name, then value. A '+' is taken literally (encoded as %2B), as AWS does.
std::string CanonicalQueryString(std::string_view raw_query);

// --- Region pinning: customer data must not leave the deployment's region. ---

// True for a region name such as "ap-northeast-1" or "us-gov-west-1".
bool IsValidRegionName(std::string_view region);

// "bedrock-runtime.<region>.amazonaws.com" ("amazonaws.com.cn" for cn-* regions).
// InvalidArgument for a malformed region name.
absl::StatusOr<std::string> BedrockRuntimeEndpoint(std::string_view region);

// Accepts `endpoint` ("host", "host:port" or an "https://host[:port]/..." URL) only when it is a
// Bedrock endpoint in `pinned_region`: bedrock-runtime[-fips] / bedrock, directly or through a
// VPC endpoint (vpce-*.bedrock-runtime.<region>.vpce.amazonaws.com). Loopback hosts (localhost,
// 127.0.0.0/8, [::1]) are accepted too: they are test doubles and keep data on the machine.
// PermissionDenied for a Bedrock endpoint in another region; InvalidArgument for a malformed
// pinned region or an endpoint whose region cannot be verified (any other host).
[[nodiscard]] absl::Status CheckSameRegion(std::string_view endpoint,
                                           std::string_view pinned_region);

}  // namespace mangaassist::llm::bedrock
