#include "llm/bedrock/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/strings.h"

namespace mangaassist::llm::bedrock {
namespace {

using core::ToAbsl;

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr char kHexDigits[] = "0123456789abcdef";
constexpr char kUpperHexDigits[] = "0123456789ABCDEF";

std::string ToHex(const unsigned char* data, size_t n) {
  std::string out(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kHexDigits[data[i] >> 4];
    out[2 * i + 1] = kHexDigits[data[i] & 0xF];
  }
  return out;
}

// HMAC-SHA256(key, data) as 32 raw bytes. HMAC() is OpenSSL's one-shot EVP-backed MAC; it only
// fails on allocation failure, which is a "cannot happen" environment failure.
std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int out_len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out,
           &out_len) == nullptr) {
    std::abort();
  }
  return std::string(reinterpret_cast<const char*>(out), out_len);
}

std::string SigningKey(std::string_view secret, std::string_view date, std::string_view region,
                       std::string_view service) {
  std::string k_date = HmacSha256(absl::StrCat("AWS4", ToAbsl(secret)), date);
  std::string k_region = HmacSha256(k_date, region);
  std::string k_service = HmacSha256(k_region, service);
  return HmacSha256(k_service, "aws4_request");
}

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes; a '%' not followed by two hex digits is kept literally (AWS re-encodes it).
std::string UriDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = HexValue(s[i + 1]);
      int lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// Trims and collapses every whitespace run to one space (botocore: ' '.join(value.split())).
std::string TrimAll(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  bool pending_space = false;
  for (char c : v) {
    if (IsSpace(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return absl::EqualsIgnoreCase(ToAbsl(a), ToAbsl(b));
}

bool HasControlBreak(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

const std::string* FindHeader(const SignableRequest& req, std::string_view name) {
  for (const auto& [n, v] : req.headers) {
    if (EqualsIgnoreCase(n, name)) return &v;
  }
  return nullptr;
}

void RemoveHeader(SignableRequest& req, std::string_view name) {
  std::erase_if(req.headers, [&](const auto& h) { return EqualsIgnoreCase(h.first, name); });
}

bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost" || host == "::1") return true;
  // 127.0.0.0/8 in dotted-quad form.
  std::vector<std::string_view> parts;
  for (absl::string_view p : absl::StrSplit(ToAbsl(host), '.')) parts.push_back(core::ToStd(p));
  if (parts.size() != 4 || parts[0] != "127") return false;
  for (std::string_view p : parts) {
    if (p.empty() || p.size() > 3) return false;
    for (char c : p) {
      if (c < '0' || c > '9') return false;
    }
    if (std::atoi(std::string(p).c_str()) > 255) return false;
  }
  return true;
}

// Extracts the lower-cased host from "host", "host:port", "[v6]:port" or "scheme://host/...".
std::string HostOf(std::string_view endpoint) {
  if (size_t scheme = endpoint.find("://"); scheme != std::string_view::npos) {
    endpoint.remove_prefix(scheme + 3);
  }
  if (size_t end = endpoint.find_first_of("/?#"); end != std::string_view::npos) {
    endpoint = endpoint.substr(0, end);
  }
  if (size_t at = endpoint.rfind('@'); at != std::string_view::npos) {
    endpoint.remove_prefix(at + 1);
  }
  if (!endpoint.empty() && endpoint.front() == '[') {
    size_t close = endpoint.find(']');
    if (close == std::string_view::npos) return "";
    return absl::AsciiStrToLower(ToAbsl(endpoint.substr(1, close - 1)));
  }
  if (size_t colon = endpoint.find(':'); colon != std::string_view::npos) {
    endpoint = endpoint.substr(0, colon);
  }
  return absl::AsciiStrToLower(ToAbsl(endpoint));
}

}  // namespace

absl::StatusOr<AwsCredentials> CredentialsFromEnv() {
  auto get = [](const char* name) -> std::string {
    const char* v = std::getenv(name);
    return v == nullptr ? std::string() : std::string(v);
  };
  AwsCredentials c{get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY"),
                   get("AWS_SESSION_TOKEN")};
  if (c.access_key_id.empty()) {
    return absl::FailedPreconditionError("AWS_ACCESS_KEY_ID is not set");
  }
  if (c.secret_access_key.empty()) {
    return absl::FailedPreconditionError("AWS_SECRET_ACCESS_KEY is not set");
  }
  return c;
}

std::string AmzDate(absl::Time t) {
  return absl::FormatTime("%Y%m%dT%H%M%SZ", t, absl::UTCTimeZone());
}

std::string Sha256Hex(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int out_len = 0;
  if (EVP_Digest(data.data(), data.size(), out, &out_len, EVP_sha256(), nullptr) != 1) {
    std::abort();  // Only fails on allocation failure.
  }
  return ToHex(out, out_len);
}

std::string DeriveSigningKeyHex(std::string_view secret_access_key, std::string_view date,
                                std::string_view region, std::string_view service) {
  std::string key = SigningKey(secret_access_key, date, region, service);
  return ToHex(reinterpret_cast<const unsigned char*>(key.data()), key.size());
}

std::string UriEncode(std::string_view s, bool encode_slash) {
  std::string out;
  out.reserve(s.size() + s.size() / 2);
  for (unsigned char c : s) {
    if (IsUnreserved(c) || (c == '/' && !encode_slash)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kUpperHexDigits[c >> 4]);
      out.push_back(kUpperHexDigits[c & 0xF]);
    }
  }
  return out;
}

std::string CanonicalUri(std::string_view path, bool normalize) {
  if (path.empty()) return "/";
  if (!normalize) return std::string(path);
  // RFC 3986 5.2.4 plus AWS's removal of empty segments (botocore's remove_dot_segments).
  std::vector<std::string_view> segments;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view seg = path.substr(start, end - start);
    if (seg == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!seg.empty() && seg != ".") {
      segments.push_back(seg);
    }
    start = end + 1;
  }
  std::string normalized = path.front() == '/' ? "/" : "";
  for (size_t i = 0; i < segments.size(); ++i) {
    if (i > 0) normalized.push_back('/');
    normalized.append(segments[i]);
  }
  if (path.back() == '/' && !segments.empty()) normalized.push_back('/');
  if (normalized.empty()) normalized = "/";
  return UriEncode(normalized, /*encode_slash=*/false);
}

std::string CanonicalQueryString(std::string_view raw_query) {
  std::vector<std::pair<std::string, std::string>> params;
  for (absl::string_view pair : absl::StrSplit(ToAbsl(raw_query), '&')) {
    if (pair.empty()) continue;
    std::string_view p = core::ToStd(pair);
    size_t eq = p.find('=');
    std::string_view name = p.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? std::string_view() : p.substr(eq + 1);
    params.emplace_back(UriEncode(UriDecode(name), true), UriEncode(UriDecode(value), true));
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out.push_back('&');
    absl::StrAppend(&out, name, "=", value);
  }
  return out;
}

absl::StatusOr<SignatureParts> ComputeSignature(const SignableRequest& req,
                                                const AwsCredentials& credentials,
                                                std::string_view region, std::string_view service,
                                                absl::Time now, const SignOptions& options) {
  if (req.method.empty()) return absl::InvalidArgumentError("SigV4: empty HTTP method");
  if (region.empty()) return absl::InvalidArgumentError("SigV4: empty region");
  if (service.empty()) return absl::InvalidArgumentError("SigV4: empty service");
  if (!req.path.empty() && req.path.front() != '/') {
    return absl::InvalidArgumentError("SigV4: request path must start with '/'");
  }
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty()) {
    return absl::FailedPreconditionError("SigV4: AWS credentials are empty");
  }
  const std::string amz_date = AmzDate(now);
  const std::string* date_header = FindHeader(req, "x-amz-date");
  if (date_header == nullptr) {
    return absl::InvalidArgumentError("SigV4: request has no x-amz-date header");
  }
  if (*date_header != amz_date) {
    return absl::InvalidArgumentError(absl::StrCat("SigV4: x-amz-date ", *date_header,
                                                   " differs from the signing time ", amz_date));
  }

  // Lower-cased names, trimmed values; repeated names joined with ',' in request order.
  std::vector<std::pair<std::string, std::string>> headers;
  headers.reserve(req.headers.size());
  for (const auto& [name, value] : req.headers) {
    if (name.empty() || HasControlBreak(name) || HasControlBreak(value)) {
      return absl::InvalidArgumentError(
          "SigV4: header names must be non-empty and no header may contain CR, LF or NUL");
    }
    std::string lname = absl::AsciiStrToLower(ToAbsl(TrimAll(name)));
    if (lname == "authorization") continue;  // The signature cannot sign itself.
    std::string tvalue = TrimAll(value);
    auto it = std::find_if(headers.begin(), headers.end(),
                           [&](const auto& h) { return h.first == lname; });
    if (it == headers.end()) {
      headers.emplace_back(std::move(lname), std::move(tvalue));
    } else {
      absl::StrAppend(&it->second, ",", tvalue);
    }
  }
  std::stable_sort(headers.begin(), headers.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });

  SignatureParts parts;
  std::string canonical_headers;
  for (const auto& [name, value] : headers) {
    absl::StrAppend(&canonical_headers, name, ":", value, "\n");
    if (!parts.signed_headers.empty()) parts.signed_headers.push_back(';');
    parts.signed_headers.append(name);
  }

  const std::string* payload_header = FindHeader(req, "x-amz-content-sha256");
  std::string payload_hash =
      payload_header != nullptr ? TrimAll(*payload_header) : Sha256Hex(req.body);

  parts.canonical_request = absl::StrCat(absl::AsciiStrToUpper(ToAbsl(req.method)), "\n",
                                         CanonicalUri(req.path, options.normalize_path), "\n",
                                         CanonicalQueryString(req.query), "\n", canonical_headers,
                                         "\n", parts.signed_headers, "\n", payload_hash);

  const std::string date = amz_date.substr(0, 8);
  parts.credential_scope =
      absl::StrCat(date, "/", ToAbsl(region), "/", ToAbsl(service), "/aws4_request");
  parts.string_to_sign =
      absl::StrCat(ToAbsl(kAlgorithm), "\n", amz_date, "\n", parts.credential_scope, "\n",
                   Sha256Hex(parts.canonical_request));
  std::string key = SigningKey(credentials.secret_access_key, date, region, service);
  std::string mac = HmacSha256(key, parts.string_to_sign);
  parts.signature = ToHex(reinterpret_cast<const unsigned char*>(mac.data()), mac.size());
  parts.authorization = absl::StrCat(
      ToAbsl(kAlgorithm), " Credential=", credentials.access_key_id, "/", parts.credential_scope,
      ", SignedHeaders=", parts.signed_headers, ", Signature=", parts.signature);
  return parts;
}

absl::Status SignRequest(SignableRequest& req, const AwsCredentials& credentials,
                         std::string_view region, std::string_view service, absl::Time now,
                         const SignOptions& options) {
  // Validate before touching the request, so a failed call leaves it as it was.
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty()) {
    return absl::FailedPreconditionError("SigV4: AWS credentials are empty");
  }
  if (HasControlBreak(credentials.session_token)) {
    return absl::InvalidArgumentError("SigV4: session token contains CR, LF or NUL");
  }
  SignableRequest signed_req = req;
  RemoveHeader(signed_req, "authorization");
  RemoveHeader(signed_req, "x-amz-date");
  RemoveHeader(signed_req, "x-amz-security-token");
  if (FindHeader(signed_req, "host") == nullptr) {
    if (signed_req.host.empty()) return absl::InvalidArgumentError("SigV4: empty host");
    signed_req.headers.emplace_back("host", signed_req.host);
  }
  signed_req.headers.emplace_back("x-amz-date", AmzDate(now));
  if (!credentials.session_token.empty()) {
    signed_req.headers.emplace_back("x-amz-security-token", credentials.session_token);
  }
  if (options.content_sha256_header) {
    RemoveHeader(signed_req, "x-amz-content-sha256");
    signed_req.headers.emplace_back("x-amz-content-sha256", Sha256Hex(signed_req.body));
  }
  absl::StatusOr<SignatureParts> parts =
      ComputeSignature(signed_req, credentials, region, service, now, options);
  if (!parts.ok()) return parts.status();
  signed_req.headers.emplace_back("Authorization", std::move(parts->authorization));
  req.headers = std::move(signed_req.headers);
  return absl::OkStatus();
}

bool IsValidRegionName(std::string_view region) {
  // <2 letters>(-<letters>)+-<digits>: "ap-northeast-1", "us-gov-west-1", "eu-central-2".
  if (region.size() > 32) return false;
  std::vector<std::string_view> parts;
  for (absl::string_view p : absl::StrSplit(ToAbsl(region), '-')) parts.push_back(core::ToStd(p));
  if (parts.size() < 3 || parts.front().size() != 2) return false;
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string_view p = parts[i];
    if (p.empty()) return false;
    bool last = i + 1 == parts.size();
    for (char c : p) {
      bool ok = last ? (c >= '0' && c <= '9') : (c >= 'a' && c <= 'z');
      if (!ok) return false;
    }
  }
  return true;
}

absl::StatusOr<std::string> BedrockRuntimeEndpoint(std::string_view region) {
  if (!IsValidRegionName(region)) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an AWS region name: '", ToAbsl(region), "'"));
  }
  std::string_view suffix = region.starts_with("cn-") ? "amazonaws.com.cn" : "amazonaws.com";
  return absl::StrCat("bedrock-runtime.", ToAbsl(region), ".", ToAbsl(suffix));
}

absl::Status CheckSameRegion(std::string_view endpoint, std::string_view pinned_region) {
  if (!IsValidRegionName(pinned_region)) {
    return absl::InvalidArgumentError(
        absl::StrCat("pinned region is not an AWS region name: '", ToAbsl(pinned_region), "'"));
  }
  std::string host = HostOf(endpoint);
  if (host.empty()) return absl::InvalidArgumentError("Bedrock endpoint has no host");
  if (IsLoopbackHost(host)) return absl::OkStatus();

  std::vector<std::string> labels = absl::StrSplit(host, '.');
  // Strip the AWS suffix; anything else cannot be checked and is refused.
  size_t n = labels.size();
  if (n >= 2 && labels[n - 2] == "amazonaws" && labels[n - 1] == "com") {
    n -= 2;
  } else if (n >= 3 && labels[n - 3] == "amazonaws" && labels[n - 2] == "com" &&
             labels[n - 1] == "cn") {
    n -= 3;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot verify the region of Bedrock endpoint '", host,
                     "': only *.amazonaws.com Bedrock endpoints (or loopback) are allowed"));
  }
  bool vpce = n >= 1 && labels[n - 1] == "vpce";
  if (vpce) --n;
  // Now labels[0..n) ends with "<service>.<region>".
  if (n < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", host, "' is not a regional Bedrock endpoint"));
  }
  const std::string& service = labels[n - 2];
  const std::string& region = labels[n - 1];
  bool bedrock_service =
      service == "bedrock-runtime" || service == "bedrock-runtime-fips" || service == "bedrock";
  // A VPC endpoint has exactly one label (vpce-...) before the service; a public one none.
  bool shape_ok = vpce ? (n == 3 && labels[0].starts_with("vpce-")) : n == 2;
  if (!bedrock_service || !shape_ok || !IsValidRegionName(region)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", host, "' is not a regional Bedrock endpoint"));
  }
  if (region != pinned_region) {
    return absl::PermissionDeniedError(absl::StrCat(
        "Bedrock endpoint '", host, "' is in region ", region, " but this deployment is pinned to ",
        ToAbsl(pinned_region), "; cross-region calls are refused"));
  }
  return absl::OkStatus();
}

}  // namespace mangaassist::llm::bedrock
