#include "tests/support/fake_upstream.h"

#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include <simdjson.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/strings.h"
#include "llm/bedrock/eventstream.h"

namespace mangaassist::testing {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Failure = Behavior::Failure;
using Request = http::request<http::string_body>;
using ErrorCode = boost::system::error_code;

constexpr uint64_t kMaxRequestBodyBytes = 64 << 20;

// kBedrock: Claude on Amazon Bedrock (InvokeModel / InvokeModelWithResponseStream), the Anthropic
// message shape with the model in the path and AWS-style errors and event-stream framing.
enum class Protocol { kOpenAi, kAnthropic, kBedrock };

constexpr std::string_view kBedrockAnthropicVersion = "bedrock-2023-05-31";
constexpr std::string_view kBedrockModelPrefix = "/model/";
constexpr std::string_view kBedrockInvokeSuffix = "/invoke";
constexpr std::string_view kBedrockStreamSuffix = "/invoke-with-response-stream";

// absl::StrCat does not take std::string_view here (Debian's abseil has its own string_view).
void AppendPiece(std::string& out, std::string_view s) { out.append(s); }
void AppendPiece(std::string& out, int64_t v) {
  char buf[24];
  out.append(buf, std::to_chars(buf, buf + sizeof(buf), v).ptr);
}
template <class... Args>
void Append(std::string* out, const Args&... args) {
  (AppendPiece(*out, args), ...);
}
template <class... Args>
std::string Cat(const Args&... args) {
  std::string out;
  Append(&out, args...);
  return out;
}

auto Nothrow(ErrorCode& ec) { return net::redirect_error(net::use_awaitable, ec); }

void AppendJsonEscaped(std::string& out, std::string_view s) {
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
}

std::string JsonEscaped(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  AppendJsonEscaped(out, s);
  return out;
}

// At most `n` non-empty pieces of near-equal byte size, never splitting a UTF-8 sequence.
std::vector<std::string> SplitUtf8(std::string_view s, int n) {
  std::vector<std::string> pieces;
  if (n < 1) n = 1;
  size_t start = 0;
  for (int i = 0; i < n && start < s.size(); ++i) {
    size_t end = i == n - 1 ? s.size() : s.size() * static_cast<size_t>(i + 1) / n;
    if (end <= start) continue;
    while (end < s.size() && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) ++end;
    pieces.emplace_back(s.substr(start, end - start));
    start = end;
  }
  return pieces;
}

// A Behavior with its JSON-ready text, shared by the requests that started under it.
struct Script {
  explicit Script(Behavior b) : behavior(std::move(b)), answer_json(JsonEscaped(behavior.answer)) {
    for (const std::string& piece : SplitUtf8(behavior.answer, behavior.stream_chunks)) {
      pieces_json.push_back(JsonEscaped(piece));
    }
  }
  const Behavior behavior;
  const std::string answer_json;
  std::vector<std::string> pieces_json;
  mutable std::atomic<int64_t> chat_requests{0};  // Drives Behavior::fail_first_n.
};

struct ChatRequest {
  std::string model_json;  // Escaped, ready to echo.
  bool stream = false;
  bool include_usage = false;
  std::string invalid_reason;  // Non-empty: answer 400.
};

// Bedrock's model id from `/model/{modelId}/invoke[-with-response-stream]`, percent-decoded;
// "" when `path` is not such a path. `stream` tells which of the two it is.
std::string BedrockModelOf(std::string_view path, bool* stream) {
  if (path.substr(0, kBedrockModelPrefix.size()) != kBedrockModelPrefix) return "";
  std::string_view rest = path.substr(kBedrockModelPrefix.size());
  auto ends_with = [&rest](std::string_view suffix) {
    return rest.size() > suffix.size() && rest.substr(rest.size() - suffix.size()) == suffix;
  };
  if (ends_with(kBedrockStreamSuffix)) {
    *stream = true;
    rest.remove_suffix(kBedrockStreamSuffix.size());
  } else if (ends_with(kBedrockInvokeSuffix)) {
    *stream = false;
    rest.remove_suffix(kBedrockInvokeSuffix.size());
  } else {
    return "";
  }
  if (rest.find('/') != std::string_view::npos) return "";
  std::string model;
  for (size_t i = 0; i < rest.size(); ++i) {
    unsigned value = 0;
    if (rest[i] == '%' && i + 2 < rest.size() &&
        std::from_chars(rest.data() + i + 1, rest.data() + i + 3, value, 16).ptr ==
            rest.data() + i + 3) {
      model += static_cast<char>(value);
      i += 2;
    } else {
      model += rest[i];
    }
  }
  return model;
}

// `bedrock_model` (from the path) and `bedrock_stream` only for Protocol::kBedrock.
ChatRequest ParseChatRequest(const std::string& body, Protocol protocol, bool validate,
                             std::string_view bedrock_model = "", bool bedrock_stream = false) {
  thread_local simdjson::dom::parser parser;
  ChatRequest out;
  simdjson::dom::element doc;
  if (parser.parse(body).get(doc) != simdjson::SUCCESS || !doc.is_object()) {
    out.invalid_reason = "request body is not a JSON object";
    return out;
  }
  std::string_view model;
  const bool has_model = doc["model"].get(model) == simdjson::SUCCESS;
  if (protocol == Protocol::kBedrock) {
    out.model_json = JsonEscaped(bedrock_model);
    out.stream = bedrock_stream;
  } else {
    if (has_model) out.model_json = JsonEscaped(model);
    bool flag = false;
    if (doc["stream"].get(flag) == simdjson::SUCCESS) out.stream = flag;
    if (doc["stream_options"]["include_usage"].get(flag) == simdjson::SUCCESS) {
      out.include_usage = flag;
    }
  }
  if (!validate) return out;
  simdjson::dom::array messages;
  int64_t max_tokens = 0;
  std::string_view version;
  if (protocol == Protocol::kBedrock) {
    // Bedrock takes the model from the path and refuses the Messages API's own fields.
    if (has_model || doc["model"].error() != simdjson::NO_SUCH_FIELD) {
      out.invalid_reason = "Malformed input request: extraneous key [model] is not permitted";
    } else if (doc["stream"].error() != simdjson::NO_SUCH_FIELD) {
      out.invalid_reason = "Malformed input request: extraneous key [stream] is not permitted";
    } else if (doc["anthropic_version"].get(version) != simdjson::SUCCESS ||
               version != kBedrockAnthropicVersion) {
      out.invalid_reason = "Malformed input request: anthropic_version must be bedrock-2023-05-31";
    }
  } else if (model.empty()) {
    out.invalid_reason = "model: field required";
  }
  if (!out.invalid_reason.empty()) return out;
  if (doc["messages"].get(messages) != simdjson::SUCCESS) {
    out.invalid_reason = "messages: field required";
  } else if (protocol != Protocol::kOpenAi &&
             doc["max_tokens"].get(max_tokens) != simdjson::SUCCESS) {
    out.invalid_reason = "max_tokens: field required";
  }
  return out;
}

std::string_view PathOf(std::string_view target) {
  const size_t q = target.find('?');
  return q == std::string_view::npos ? target : target.substr(0, q);
}

std::string_view FinishReason(const Behavior& b, Protocol protocol) {
  if (protocol == Protocol::kOpenAi) return b.stop_at_max_tokens ? "length" : "stop";
  // Anthropic and Bedrock.
  return b.stop_at_max_tokens ? "max_tokens" : "end_turn";
}

int64_t OpenAiPromptTokens(const Behavior::Usage& u) {
  return u.input_tokens + u.cache_read_tokens + u.cache_write_tokens;
}

void AppendOpenAiUsage(std::string& out, const Behavior::Usage& u) {
  const int64_t prompt = OpenAiPromptTokens(u);
  Append(&out, "{\"prompt_tokens\":", prompt, ",\"completion_tokens\":", u.output_tokens,
         ",\"total_tokens\":", prompt + u.output_tokens,
         ",\"prompt_tokens_details\":{\"cached_tokens\":", u.cache_read_tokens, "}}");
}

void AppendAnthropicUsage(std::string& out, const Behavior::Usage& u, int64_t output_tokens) {
  Append(&out, "{\"input_tokens\":", u.input_tokens, ",\"output_tokens\":", output_tokens,
         ",\"cache_creation_input_tokens\":", u.cache_write_tokens,
         ",\"cache_read_input_tokens\":", u.cache_read_tokens, "}");
}

std::string ErrorBody(Protocol protocol, std::string_view type, std::string_view code,
                      std::string_view message) {
  std::string out;
  if (protocol == Protocol::kBedrock) {
    // AWS JSON protocol: the type travels in the x-amzn-ErrorType header (see ErrorSpec).
    out += "{\"message\":\"";
    AppendJsonEscaped(out, message);
    out += "\"}";
  } else if (protocol == Protocol::kAnthropic) {
    Append(&out, "{\"type\":\"error\",\"error\":{\"type\":\"", type, "\",\"message\":\"");
    AppendJsonEscaped(out, message);
    out += "\"}}";
  } else {
    out += "{\"error\":{\"message\":\"";
    AppendJsonEscaped(out, message);
    Append(&out, "\",\"type\":\"", type, "\",\"param\":null,\"code\":");
    Append(&out, code.empty() ? "null" : Cat("\"", code, "\""), "}}");
  }
  return out;
}

struct ErrorSpec {
  int status;
  std::string body;
  std::string amzn_error_type = "";  // Bedrock: the x-amzn-ErrorType header.
};

ErrorSpec BedrockError(int status, std::string_view type, std::string_view message) {
  return {status, ErrorBody(Protocol::kBedrock, "", "", message), std::string(type)};
}

ErrorSpec ErrorFor(Failure failure, Protocol protocol) {
  if (protocol == Protocol::kBedrock) {
    switch (failure) {
      case Failure::kRateLimited:
        return BedrockError(429, "ThrottlingException", "Too many requests, please wait.");
      case Failure::kUnauthorized:
        // AWS answers a bad or unknown signing key with 403, not 401.
        return BedrockError(403, "UnrecognizedClientException",
                            "The security token included in the request is invalid.");
      case Failure::kOverloaded:
        return BedrockError(503, "ServiceUnavailableException",
                            "Bedrock is unable to process "
                            "your request.");
      default:
        return BedrockError(500, "InternalServerException", "The server encountered an error.");
    }
  }
  const bool anthropic = protocol == Protocol::kAnthropic;
  switch (failure) {
    case Failure::kRateLimited:
      return {429, anthropic ? ErrorBody(protocol, "rate_limit_error", "",
                                         "Number of requests has exceeded your rate limit.")
                             : ErrorBody(protocol, "requests", "rate_limit_exceeded",
                                         "Rate limit reached for requests.")};
    case Failure::kUnauthorized:
      return {401, anthropic ? ErrorBody(protocol, "authentication_error", "", "invalid x-api-key")
                             : ErrorBody(protocol, "invalid_request_error", "invalid_api_key",
                                         "Incorrect API key provided.")};
    case Failure::kOverloaded:
      return anthropic ? ErrorSpec{529, ErrorBody(protocol, "overloaded_error", "", "Overloaded")}
                       : ErrorSpec{503, ErrorBody(protocol, "server_error", "",
                                                  "The engine is currently overloaded.")};
    default:
      return {500, anthropic ? ErrorBody(protocol, "api_error", "", "Internal server error")
                             : ErrorBody(protocol, "server_error", "",
                                         "The server had an error while processing your request.")};
  }
}

std::string SseData(std::string_view json) { return Cat("data: ", json, "\n\n"); }

std::string SseEvent(std::string_view name, std::string_view json) {
  return Cat("event: ", name, "\ndata: ", json, "\n\n");
}

// A fully formed answer, in whichever shape the request asked for.
struct Answer {
  std::string body;                 // Non-streaming JSON.
  std::vector<std::string> events;  // SSE events, each ready to write.
};

// The OpenAI chunk envelope up to and including `"choices":`.
std::string OpenAiChunkPrefix(std::string_view id, int64_t created, const ChatRequest& req) {
  return Cat("{\"id\":\"", id, "\",\"object\":\"chat.completion.chunk\",\"created\":", created,
             ",\"model\":\"", req.model_json, "\",\"choices\":");
}

std::string OpenAiChunk(const std::string& prefix, const ChatRequest& req,
                        std::string_view choices) {
  return SseData(Cat(prefix, choices, req.include_usage ? ",\"usage\":null}" : "}"));
}

std::vector<std::string> OpenAiEvents(const Script& script, const ChatRequest& req,
                                      std::string_view id, int64_t created, size_t text_chunks,
                                      bool finish) {
  const Behavior& b = script.behavior;
  const std::string prefix = OpenAiChunkPrefix(id, created, req);
  std::vector<std::string> events;
  events.reserve(text_chunks + 4);
  events.push_back(OpenAiChunk(
      prefix, req,
      "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,"
      "\"finish_reason\":null}]"));
  for (size_t i = 0; i < text_chunks && i < script.pieces_json.size(); ++i) {
    events.push_back(
        OpenAiChunk(prefix, req,
                    Cat("[{\"index\":0,\"delta\":{\"content\":\"", script.pieces_json[i],
                        "\"},\"logprobs\":null,\"finish_reason\":null}]")));
  }
  if (!finish) return events;
  events.push_back(OpenAiChunk(prefix, req,
                               Cat("[{\"index\":0,\"delta\":{},\"logprobs\":null,"
                                   "\"finish_reason\":\"",
                                   FinishReason(b, Protocol::kOpenAi), "\"}]")));
  if (req.include_usage) {
    std::string last = Cat(prefix, "[],\"usage\":");
    AppendOpenAiUsage(last, b.usage);
    last += "}";
    events.push_back(SseData(last));
  }
  events.push_back(SseData("[DONE]"));
  return events;
}

// One Anthropic streaming event: its SSE name and its JSON, which is all Bedrock carries.
struct AnthropicEvent {
  std::string name;
  std::string json;
};

std::vector<AnthropicEvent> AnthropicEventList(const Script& script, const ChatRequest& req,
                                               std::string_view id, size_t text_chunks, bool finish,
                                               Protocol protocol) {
  const Behavior& b = script.behavior;
  std::vector<AnthropicEvent> events;
  events.reserve(text_chunks + 6);
  std::string start =
      Cat("{\"type\":\"message_start\",\"message\":{\"id\":\"", id,
          "\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"", req.model_json,
          "\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":");
  AppendAnthropicUsage(start, b.usage, 1);
  start += "}}";
  events.push_back({"message_start", start});
  events.push_back(
      {"content_block_start",
       "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\","
       "\"text\":\"\"}}"});
  // Bedrock does not relay Anthropic's keep-alive pings.
  if (protocol == Protocol::kAnthropic) events.push_back({"ping", "{\"type\":\"ping\"}"});
  for (size_t i = 0; i < text_chunks && i < script.pieces_json.size(); ++i) {
    events.push_back({"content_block_delta",
                      Cat("{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
                          "\"text_delta\",\"text\":\"",
                          script.pieces_json[i], "\"}}")});
  }
  if (!finish) return events;
  events.push_back({"content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}"});
  events.push_back(
      {"message_delta",
       Cat("{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"", FinishReason(b, protocol),
           "\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":", b.usage.output_tokens,
           "}}")});
  if (protocol == Protocol::kBedrock) {
    // Bedrock appends its own accounting to the last event.
    events.push_back(
        {"message_stop", Cat("{\"type\":\"message_stop\",\"amazon-bedrock-invocationMetrics\":{"
                             "\"inputTokenCount\":",
                             b.usage.input_tokens, ",\"outputTokenCount\":", b.usage.output_tokens,
                             ",\"invocationLatency\":1,\"firstByteLatency\":1}}")});
  } else {
    events.push_back({"message_stop", "{\"type\":\"message_stop\"}"});
  }
  return events;
}

// Anthropic: SSE events. Bedrock: event-stream `chunk` frames carrying each event's JSON.
std::vector<std::string> AnthropicEvents(const Script& script, const ChatRequest& req,
                                         std::string_view id, size_t text_chunks, bool finish,
                                         Protocol protocol) {
  std::vector<std::string> out;
  for (const AnthropicEvent& event :
       AnthropicEventList(script, req, id, text_chunks, finish, protocol)) {
    out.push_back(protocol == Protocol::kBedrock ? llm::bedrock::EncodeChunkEvent(event.json)
                                                 : SseEvent(event.name, event.json));
  }
  return out;
}

std::string OpenAiBody(const Script& script, const ChatRequest& req, std::string_view id,
                       int64_t created) {
  std::string out;
  out.reserve(320 + script.answer_json.size() + req.model_json.size());
  Append(&out, "{\"id\":\"", id, "\",\"object\":\"chat.completion\",\"created\":", created,
         ",\"model\":\"", req.model_json,
         "\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"",
         script.answer_json, "\"},\"logprobs\":null,\"finish_reason\":\"",
         FinishReason(script.behavior, Protocol::kOpenAi), "\"}],\"usage\":");
  AppendOpenAiUsage(out, script.behavior.usage);
  out += "}";
  return out;
}

std::string AnthropicBody(const Script& script, const ChatRequest& req, std::string_view id,
                          Protocol protocol) {
  std::string out;
  out.reserve(320 + script.answer_json.size() + req.model_json.size());
  Append(&out, "{\"id\":\"", id, "\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"",
         req.model_json, "\",\"content\":[{\"type\":\"text\",\"text\":\"", script.answer_json,
         "\"}],\"stop_reason\":\"", FinishReason(script.behavior, protocol),
         "\",\"stop_sequence\":null,\"usage\":");
  AppendAnthropicUsage(out, script.behavior.usage, script.behavior.usage.output_tokens);
  out += "}";
  return out;
}

http::response<http::string_body> MakeResponse(int status, bool keep_alive,
                                               std::string_view content_type, std::string body) {
  http::response<http::string_body> res;
  res.version(11);
  res.result(static_cast<unsigned>(status));
  if (status == 529) res.reason("Overloaded");
  res.set(http::field::content_type, content_type);
  res.keep_alive(keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

}  // namespace

std::string RecordedRequest::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(core::ToAbsl(key), core::ToAbsl(name))) return value;
  }
  return "";
}

bool RecordedRequest::HasHeader(std::string_view name) const {
  for (const auto& header : headers) {
    if (absl::EqualsIgnoreCase(core::ToAbsl(header.first), core::ToAbsl(name))) return true;
  }
  return false;
}

class FakeUpstream::Impl {
 public:
  explicit Impl(const Options& options)
      : options_(options),
        script_(std::make_shared<Script>(Behavior{})),
        ioc_(options.threads > 0 ? options.threads : 1),
        acceptor_strand_(net::make_strand(ioc_)),
        acceptor_(acceptor_strand_) {
    if (options_.history_size == 0) options_.history_size = 1;
  }

  absl::Status Listen() {
    ErrorCode ec;
    const net::ip::address address = net::ip::make_address(options_.host, ec);
    if (ec) return absl::InvalidArgumentError(Cat("bad host '", options_.host, "'"));
    const tcp::endpoint endpoint(address, options_.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (!ec) port_ = acceptor_.local_endpoint(ec).port();
    if (ec) {
      return absl::UnavailableError(Cat("fake upstream cannot listen on ", options_.host, ":",
                                        options_.port, ": ", ec.message()));
    }
    return absl::OkStatus();
  }

  void Run() {
    {
      absl::MutexLock lock(&mu_);
      ++live_;  // The accept loop.
    }
    net::co_spawn(acceptor_strand_, AcceptLoop(), [](const std::exception_ptr&) {});
    const int threads = options_.threads > 0 ? options_.threads : 1;
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { ioc_.run(); });
  }

  void Stop() {
    std::call_once(stop_once_, [this] { StopOnce(); });
  }

  uint16_t port() const { return port_; }
  const Options& options() const { return options_; }

  void SetBehavior(Behavior behavior) {
    auto script = std::make_shared<Script>(std::move(behavior));
    absl::MutexLock lock(&script_mu_);
    script_ = std::move(script);
  }

  std::shared_ptr<const Script> CurrentScript() const {
    absl::MutexLock lock(&script_mu_);
    return script_;
  }

  int64_t RequestCount(std::string_view path) const {
    absl::MutexLock lock(&stats_mu_);
    const auto it = request_counts_.find(core::ToAbsl(path));
    return it == request_counts_.end() ? 0 : it->second;
  }

  struct Counters {
    int64_t total_requests = 0;
    int64_t connections_accepted = 0;
    int64_t aborted_streams = 0;
    int64_t aborted_requests = 0;
  };

  int64_t Stat(int64_t Counters::*counter) const {
    absl::MutexLock lock(&stats_mu_);
    return counters_.*counter;
  }

  bool WaitForStat(int64_t Counters::*counter, int64_t n, std::chrono::milliseconds timeout) const {
    auto reached = [this, counter, n]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(stats_mu_) { return counters_.*counter >= n; };
    const bool ok =
        stats_mu_.LockWhenWithTimeout(absl::Condition(&reached), absl::FromChrono(timeout));
    stats_mu_.Unlock();
    return ok;
  }

  RecordedRequest LastRequest() const {
    absl::MutexLock lock(&stats_mu_);
    return history_.empty() ? RecordedRequest{} : history_.back();
  }

  std::vector<RecordedRequest> RecentRequests() const {
    absl::MutexLock lock(&stats_mu_);
    return {history_.begin(), history_.end()};
  }

  void ResetStats() {
    absl::MutexLock lock(&stats_mu_);
    request_counts_.clear();
    history_.clear();
    counters_ = Counters{};
  }

 private:
  // Lives in its connection's coroutine frame; runs on its own strand.
  struct Connection {
    explicit Connection(tcp::socket s)
        : executor(s.get_executor()), socket(std::move(s)), timer(executor) {}
    const net::any_io_executor executor;
    uint64_t id = 0;
    tcp::socket socket;
    net::steady_timer timer;  // Latency, chunk intervals.
  };

  // Registers a connection for Stop() and releases the shutdown gate when the coroutine ends.
  class ConnectionScope {
   public:
    ConnectionScope(Impl* impl, Connection* conn) : impl_(impl), conn_(conn) {
      absl::MutexLock lock(&impl_->mu_);
      if (impl_->stopping_) return;
      conn_->id = ++impl_->next_connection_id_;
      impl_->connections_[conn_->id] = conn_;
    }
    ~ConnectionScope() {
      absl::MutexLock lock(&impl_->mu_);
      if (conn_->id != 0) impl_->connections_.erase(conn_->id);
      --impl_->live_;
    }
    ConnectionScope(const ConnectionScope&) = delete;
    ConnectionScope& operator=(const ConnectionScope&) = delete;
    bool registered() const { return conn_->id != 0; }

   private:
    Impl* const impl_;
    Connection* const conn_;
  };

  void StopOnce() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      // Each connection is closed on its own strand, so never concurrently with its coroutine;
      // the id lookup skips connections that ended in the meantime.
      for (const auto& entry : connections_) {
        net::post(entry.second->executor, [this, id = entry.first] { CloseConnection(id); });
      }
    }
    net::post(acceptor_strand_, [this] {
      ErrorCode ignored;
      acceptor_.close(ignored);
    });
    // Every coroutine now ends at its next suspension point. The timeout is a backstop against
    // a bug here, not a drain period.
    auto drained = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return live_ == 0; };
    if (!mu_.LockWhenWithTimeout(absl::Condition(&drained), absl::Seconds(10))) {
      std::fprintf(stderr, "FakeUpstream::Stop: %d coroutines still running; forcing stop\n",
                   live_);
    }
    mu_.Unlock();
    ioc_.stop();
    for (std::thread& thread : threads_) thread.join();
    threads_.clear();
  }

  void CloseConnection(uint64_t id) {
    absl::MutexLock lock(&mu_);
    const auto it = connections_.find(id);
    if (it == connections_.end()) return;
    ErrorCode ignored;
    it->second->socket.shutdown(tcp::socket::shutdown_both, ignored);
    it->second->socket.close(ignored);
    it->second->timer.cancel();
  }

  bool stopping() const { return stopping_.load(std::memory_order_acquire); }

  void CountAbort(bool stream) {
    if (stopping()) return;  // Our own Stop(), not the client.
    absl::MutexLock lock(&stats_mu_);
    ++counters_.aborted_requests;
    if (stream) ++counters_.aborted_streams;
  }

  void Record(const Request& req, std::string_view path) {
    RecordedRequest record;
    if (options_.record_requests) {
      record.method = std::string(req.method_string());
      record.target = std::string(req.target());
      record.headers.reserve(16);
      for (const auto& field : req) {
        record.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
      }
      record.body = req.body();
    }
    absl::MutexLock lock(&stats_mu_);
    ++counters_.total_requests;
    auto it = request_counts_.find(core::ToAbsl(path));
    if (it == request_counts_.end()) it = request_counts_.emplace(std::string(path), 0).first;
    ++it->second;
    if (options_.record_requests) {
      history_.push_back(std::move(record));
      if (history_.size() > options_.history_size) history_.pop_front();
    }
  }

  net::awaitable<void> AcceptLoop() {
    net::steady_timer backoff(acceptor_strand_);
    for (;;) {
      ErrorCode ec;
      tcp::socket socket = co_await acceptor_.async_accept(
          net::any_io_executor(net::make_strand(ioc_)), Nothrow(ec));
      if (stopping() || !acceptor_.is_open()) break;
      if (ec) {
        // EMFILE and friends under a benchmark: retry shortly rather than spin or give up.
        backoff.expires_after(std::chrono::milliseconds(10));
        co_await backoff.async_wait(Nothrow(ec));
        continue;
      }
      {
        absl::MutexLock lock(&mu_);
        if (stopping_) break;
        ++live_;
      }
      {
        absl::MutexLock lock(&stats_mu_);
        ++counters_.connections_accepted;
      }
      socket.set_option(tcp::no_delay(true), ec);
      const net::any_io_executor executor = socket.get_executor();
      net::co_spawn(executor, Serve(std::move(socket)), [](const std::exception_ptr&) {});
    }
    absl::MutexLock lock(&mu_);
    --live_;
  }

  net::awaitable<void> Serve(tcp::socket socket) {
    Connection conn(std::move(socket));
    ConnectionScope scope(this, &conn);
    if (!scope.registered()) co_return;
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(kMaxRequestBodyBytes);
      ErrorCode ec;
      co_await http::async_read(conn.socket, buffer, parser, Nothrow(ec));
      if (ec || stopping()) break;
      Request req = parser.release();
      const bool keep_open = co_await Handle(conn, req);
      if (!keep_open || stopping()) break;
    }
    ErrorCode ignored;
    conn.socket.shutdown(tcp::socket::shutdown_send, ignored);
    conn.socket.close(ignored);
  }

  // What to send for one request, decided without suspending. GCC 12 miscompiles temporaries
  // of conditional expressions inside co_await operands (they get destroyed twice), so the
  // coroutines below only ever co_await on named values.
  struct Reply {
    enum class Kind { kResponse, kStream, kCutBody, kHang };
    Kind kind = Kind::kResponse;
    std::chrono::milliseconds latency{0};
    // kResponse / kCutBody: the whole message. kStream: the header; the body is `events`.
    http::response<http::string_body> response;
    std::vector<std::string> events;
    std::chrono::milliseconds chunk_interval{0};
    bool cut_stream = false;  // Close after `events`, without the terminating chunk.
  };

  // Answers one request; false when the connection must not be reused.
  net::awaitable<bool> Handle(Connection& conn, Request& req) {
    const std::string_view path = PathOf(req.target());
    Record(req, path);
    Reply reply = Decide(req, path);
    if (reply.latency.count() > 0) {
      const bool slept = co_await Sleep(conn, reply.latency);
      if (!slept) co_return false;
    }
    bool keep_open = false;
    switch (reply.kind) {
      case Reply::Kind::kResponse:
        keep_open = co_await Write(conn, std::move(reply.response));
        break;
      case Reply::Kind::kCutBody:
        co_await WriteCutBody(conn, std::move(reply.response));
        break;
      case Reply::Kind::kStream:
        keep_open = co_await WriteStream(conn, std::move(reply.response.base()), reply.events,
                                         reply.chunk_interval, reply.cut_stream, req.keep_alive());
        break;
      case Reply::Kind::kHang:
        co_await Hang(conn);
        break;
    }
    co_return keep_open;
  }

  Reply Decide(const Request& req, std::string_view path) {
    const bool keep_alive = req.keep_alive();
    Reply reply;
    Protocol protocol;
    bool bedrock_stream = false;
    const std::string bedrock_model = BedrockModelOf(path, &bedrock_stream);
    if (path == "/v1/chat/completions") {
      protocol = Protocol::kOpenAi;
    } else if (path == "/v1/messages") {
      protocol = Protocol::kAnthropic;
    } else if (!bedrock_model.empty()) {
      protocol = Protocol::kBedrock;
    } else if (path == "/healthz") {
      reply.response = MakeResponse(200, keep_alive, "application/json", "{\"status\":\"ok\"}");
      return reply;
    } else {
      reply.response = MakeResponse(404, keep_alive, "application/json",
                                    ErrorBody(Protocol::kOpenAi, "invalid_request_error",
                                              "not_found", Cat("Unknown path ", path)));
      return reply;
    }
    if (req.method() != http::verb::post) {
      reply.response = MakeResponse(
          405, keep_alive, "application/json",
          ErrorBody(protocol, "invalid_request_error", "", "Only POST is supported on this path"));
      return reply;
    }

    const std::shared_ptr<const Script> script = CurrentScript();
    const Behavior& b = script->behavior;
    reply.latency = b.latency;
    reply.chunk_interval = b.chunk_interval;
    const int64_t seq = script->chat_requests.fetch_add(1);
    Failure failure = b.failure;
    if (b.fail_first_n > 0 && seq >= b.fail_first_n) failure = Failure::kNone;
    if (!b.expected_api_key.empty() && !Authorized(req, protocol, b.expected_api_key)) {
      failure = Failure::kUnauthorized;
    }
    if (failure == Failure::kUnauthorized) {
      reply.response = ErrorResponse(ErrorFor(failure, protocol), keep_alive, 0);
      return reply;
    }
    const ChatRequest chat =
        ParseChatRequest(req.body(), protocol, b.validate_requests, bedrock_model, bedrock_stream);
    if (!chat.invalid_reason.empty()) {
      ErrorSpec invalid = protocol == Protocol::kBedrock
                              ? BedrockError(400, "ValidationException", chat.invalid_reason)
                              : ErrorSpec{400, ErrorBody(protocol, "invalid_request_error", "",
                                                         chat.invalid_reason)};
      reply.response = ErrorResponse(std::move(invalid), keep_alive, 0);
      return reply;
    }

    const int64_t n = next_response_id_.fetch_add(1) + 1;
    const std::string id = protocol == Protocol::kOpenAi    ? Cat("chatcmpl-fake-", n)
                           : protocol == Protocol::kBedrock ? Cat("msg_bdrk_fake_", n)
                                                            : Cat("msg_fake_", n);
    const int64_t created = static_cast<int64_t>(std::time(nullptr));
    const size_t all = script->pieces_json.size();
    const size_t cut = std::min(all, static_cast<size_t>(std::max(0, b.truncate_after_chunks)));
    auto json_response = [&](std::string body) {
      http::response<http::string_body> res =
          MakeResponse(200, keep_alive, "application/json", std::move(body));
      SetRequestId(res, protocol, id);
      return res;
    };
    auto answer_body = [&] {
      return protocol == Protocol::kOpenAi ? OpenAiBody(*script, chat, id, created)
                                           : AnthropicBody(*script, chat, id, protocol);
    };
    auto stream = [&](size_t text_chunks, bool finish) {
      reply.kind = Reply::Kind::kStream;
      reply.response =
          MakeResponse(200, keep_alive,
                       protocol == Protocol::kBedrock ? "application/vnd.amazon.eventstream"
                                                      : "text/event-stream; charset=utf-8",
                       "");
      if (protocol != Protocol::kBedrock)
        reply.response.set(http::field::cache_control, "no-cache");
      reply.response.chunked(true);
      SetRequestId(reply.response, protocol, id);
      reply.events = protocol == Protocol::kOpenAi
                         ? OpenAiEvents(*script, chat, id, created, text_chunks, finish)
                         : AnthropicEvents(*script, chat, id, text_chunks, finish, protocol);
    };

    switch (failure) {
      case Failure::kRateLimited:
        reply.response =
            ErrorResponse(ErrorFor(failure, protocol), keep_alive, b.retry_after_seconds);
        return reply;
      case Failure::kServerError:
      case Failure::kOverloaded:
        reply.response = ErrorResponse(ErrorFor(failure, protocol), keep_alive, 0);
        return reply;
      case Failure::kTimeout:
        reply.kind = Reply::Kind::kHang;
        return reply;
      case Failure::kMalformedJson:
        if (chat.stream) {
          stream(0, false);
          if (protocol == Protocol::kOpenAi) {
            reply.events = {Cat("data: {\"id\":\"", id,
                                "\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
                                "\"delta\":{\"content\":\"This is\n\n"),
                            SseData("[DONE]")};
          } else if (protocol == Protocol::kBedrock) {
            // Well-framed chunks whose inner event JSON is cut.
            reply.events = {
                llm::bedrock::EncodeChunkEvent("{\"type\":\"message_start\",\"message\":{\"id\":"),
                llm::bedrock::EncodeChunkEvent("{\"type\":\"message_stop\"}")};
          } else {
            reply.events = {
                SseEvent("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":"),
                SseEvent("message_stop", "{\"type\":\"message_stop\"}")};
          }
        } else {
          std::string body = answer_body();
          body.resize(body.size() / 2);
          reply.response = json_response(std::move(body));
        }
        return reply;
      case Failure::kTruncatedStream:
        if (chat.stream) {
          stream(cut, false);
          reply.cut_stream = true;
        } else {
          reply.kind = Reply::Kind::kCutBody;
          reply.response = json_response(answer_body());
        }
        return reply;
      case Failure::kMidStreamError:
        if (chat.stream) {
          stream(cut, false);
          if (protocol == Protocol::kOpenAi) {
            reply.events.push_back(SseData(ErrorFor(Failure::kServerError, protocol).body));
          } else if (protocol == Protocol::kBedrock) {
            reply.events.push_back(llm::bedrock::EncodeExceptionEvent(
                "modelStreamErrorException", "The model stream was interrupted."));
          } else {
            reply.events.push_back(
                SseEvent("error", ErrorFor(Failure::kOverloaded, protocol).body));
          }
        } else {
          reply.response = ErrorResponse(ErrorFor(Failure::kServerError, protocol), keep_alive, 0);
        }
        return reply;
      case Failure::kNone:
      case Failure::kUnauthorized:
        break;
    }
    if (chat.stream) {
      stream(all, true);
    } else {
      reply.response = json_response(answer_body());
    }
    return reply;
  }

  static http::response<http::string_body> ErrorResponse(ErrorSpec error, bool keep_alive,
                                                         int retry_after_seconds) {
    http::response<http::string_body> res =
        MakeResponse(error.status, keep_alive, "application/json", std::move(error.body));
    if (!error.amzn_error_type.empty()) {
      res.set("x-amzn-ErrorType",
              Cat(error.amzn_error_type, ":http://internal.amazon.com/coral/com.amazon.bedrock/"));
    }
    if (retry_after_seconds > 0) res.set(http::field::retry_after, Cat(retry_after_seconds));
    res.prepare_payload();
    return res;
  }

  static void SetRequestId(http::response<http::string_body>& res, Protocol protocol,
                           std::string_view id) {
    switch (protocol) {
      case Protocol::kOpenAi:
        res.set("x-request-id", Cat("req_", id));
        break;
      case Protocol::kAnthropic:
        res.set("request-id", Cat("req_", id));
        break;
      case Protocol::kBedrock:
        res.set("x-amzn-RequestId", Cat("req_", id));
        break;
    }
  }

  static bool Authorized(const Request& req, Protocol protocol, std::string_view key) {
    if (protocol == Protocol::kBedrock) {
      // Only the access key id is checked: verifying the signature is the SigV4 tests' job.
      const std::string prefix = Cat("AWS4-HMAC-SHA256 Credential=", key, "/");
      return absl::StartsWith(core::ToAbsl(req[http::field::authorization]), prefix);
    }
    if (protocol == Protocol::kAnthropic) return req["x-api-key"] == key;
    return req[http::field::authorization] == Cat("Bearer ", key);
  }

  net::awaitable<bool> Sleep(Connection& conn, std::chrono::milliseconds delay) {
    if (stopping()) co_return false;
    conn.timer.expires_after(delay);
    ErrorCode ec;
    co_await conn.timer.async_wait(Nothrow(ec));
    co_return !ec && !stopping();
  }

  net::awaitable<bool> Write(Connection& conn, http::response<http::string_body> res) {
    ErrorCode ec;
    co_await http::async_write(conn.socket, res, Nothrow(ec));
    co_return !ec && res.keep_alive();
  }

  // Announces the full Content-Length, sends half the body and closes.
  net::awaitable<void> WriteCutBody(Connection& conn, http::response<http::string_body> res) {
    const std::string body = std::move(res.body());
    res.body().clear();
    http::response_serializer<http::string_body> serializer(res);
    ErrorCode ec;
    co_await http::async_write_header(conn.socket, serializer, Nothrow(ec));
    if (!ec) {
      co_await net::async_write(conn.socket, net::buffer(body.data(), body.size() / 2),
                                Nothrow(ec));
    }
    if (ec) CountAbort(false);
  }

  // Writes `events` as the chunked body of `header`. `cut`: close after the last event, without
  // the terminating chunk, so the client sees a truncated body.
  net::awaitable<bool> WriteStream(Connection& conn, http::response_header<> header,
                                   const std::vector<std::string>& events,
                                   std::chrono::milliseconds interval, bool cut, bool keep_alive) {
    ErrorCode ec;
    if (interval.count() == 0 && !cut) {
      // Nothing to pace: one HTTP chunk and one write for the whole stream, so a streaming
      // benchmark measures the gateway rather than this fake's syscalls.
      http::response<http::string_body> res(std::move(header));
      size_t size = 0;
      for (const std::string& event : events) size += event.size();
      res.body().reserve(size);
      for (const std::string& event : events) res.body() += event;
      co_await http::async_write(conn.socket, res, Nothrow(ec));
      if (ec) CountAbort(true);
      co_return !ec && keep_alive;
    }
    http::response<http::empty_body> res(std::move(header));
    http::response_serializer<http::empty_body> serializer(res);
    co_await http::async_write_header(conn.socket, serializer, Nothrow(ec));
    for (size_t i = 0; !ec && i < events.size(); ++i) {
      if (i > 0 && interval.count() > 0) {
        const bool slept = co_await Sleep(conn, interval);
        if (!slept) co_return false;  // Stop().
      }
      co_await net::async_write(conn.socket, http::make_chunk(net::buffer(events[i])), Nothrow(ec));
    }
    if (!ec && !cut) co_await net::async_write(conn.socket, http::make_chunk_last(), Nothrow(ec));
    if (ec) {
      CountAbort(true);
      co_return false;
    }
    co_return !cut && keep_alive;
  }

  // kTimeout: reads and discards until the client gives up or Stop() closes the socket.
  net::awaitable<void> Hang(Connection& conn) {
    char sink[512];
    ErrorCode ec;
    while (!ec) co_await conn.socket.async_read_some(net::buffer(sink), Nothrow(ec));
    CountAbort(false);
  }

  Options options_;
  uint16_t port_ = 0;
  std::once_flag stop_once_;
  std::atomic<int64_t> next_response_id_{0};

  mutable absl::Mutex script_mu_;
  // Shared with the requests in flight, which keep answering under the behavior they started with.
  std::shared_ptr<const Script> script_ ABSL_GUARDED_BY(script_mu_);

  mutable absl::Mutex stats_mu_;
  absl::flat_hash_map<std::string, int64_t> request_counts_ ABSL_GUARDED_BY(stats_mu_);
  std::deque<RecordedRequest> history_ ABSL_GUARDED_BY(stats_mu_);
  Counters counters_ ABSL_GUARDED_BY(stats_mu_);

  // The shutdown gate: live_ counts the accept loop and the connection coroutines.
  absl::Mutex mu_;
  std::atomic<bool> stopping_{false};  // Written under mu_.
  int live_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_connection_id_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<uint64_t, Connection*> connections_ ABSL_GUARDED_BY(mu_);

  // Declared last so it is destroyed first, while the state its handlers touch is still alive.
  net::io_context ioc_;
  net::strand<net::io_context::executor_type> acceptor_strand_;
  tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
};

std::unique_ptr<FakeUpstream> FakeUpstream::Start(const Options& options) {
  absl::StatusOr<std::unique_ptr<FakeUpstream>> upstream = StartOrError(options);
  if (!upstream.ok()) {
    std::fprintf(stderr, "FakeUpstream::Start: %s\n", upstream.status().ToString().c_str());
    return nullptr;
  }
  return *std::move(upstream);
}

absl::StatusOr<std::unique_ptr<FakeUpstream>> FakeUpstream::StartOrError(const Options& options) {
  auto impl = std::make_unique<Impl>(options);
  if (absl::Status status = impl->Listen(); !status.ok()) return status;
  impl->Run();
  return std::unique_ptr<FakeUpstream>(new FakeUpstream(std::move(impl)));
}

FakeUpstream::FakeUpstream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

FakeUpstream::~FakeUpstream() { Stop(); }

void FakeUpstream::Stop() { impl_->Stop(); }

uint16_t FakeUpstream::port() const { return impl_->port(); }

std::string FakeUpstream::base_url() const {
  return Cat("http://", impl_->options().host, ":", impl_->port());
}

void FakeUpstream::SetBehavior(Behavior behavior) { impl_->SetBehavior(std::move(behavior)); }

Behavior FakeUpstream::behavior() const { return impl_->CurrentScript()->behavior; }

int64_t FakeUpstream::RequestCount(std::string_view path) const {
  return impl_->RequestCount(path);
}

int64_t FakeUpstream::TotalRequests() const { return impl_->Stat(&Impl::Counters::total_requests); }

int64_t FakeUpstream::ConnectionsAccepted() const {
  return impl_->Stat(&Impl::Counters::connections_accepted);
}

int64_t FakeUpstream::ClientAbortedStreams() const {
  return impl_->Stat(&Impl::Counters::aborted_streams);
}

int64_t FakeUpstream::ClientAbortedRequests() const {
  return impl_->Stat(&Impl::Counters::aborted_requests);
}

bool FakeUpstream::WaitForClientAbortedStreams(int64_t n, std::chrono::milliseconds timeout) const {
  return impl_->WaitForStat(&Impl::Counters::aborted_streams, n, timeout);
}

bool FakeUpstream::WaitForClientAbortedRequests(int64_t n,
                                                std::chrono::milliseconds timeout) const {
  return impl_->WaitForStat(&Impl::Counters::aborted_requests, n, timeout);
}

RecordedRequest FakeUpstream::LastRequest() const { return impl_->LastRequest(); }

std::vector<RecordedRequest> FakeUpstream::RecentRequests() const {
  return impl_->RecentRequests();
}

void FakeUpstream::ResetStats() { impl_->ResetStats(); }

}  // namespace mangaassist::testing
