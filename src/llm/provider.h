// Provider: one LLM backend (Anthropic Messages, Bedrock, any OpenAI-compatible server, or the
// offline extractive responder) behind a single call shape. Both calls end with provider-
// reported usage, which is authoritative for cost. Providers are created once from config by
// a factory (provider_registry.h) and shared by all requests: calls must be safe to make
// concurrently from many threads, and a call's coroutine stays on the caller's executor.
#pragma once

#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/pricing.h"

namespace mangaassist::llm {

enum class Role { kUser, kAssistant };

struct Message {
  Role role = Role::kUser;
  std::string content;
};

// A provider-neutral request. `model` is the provider's own model id (aliases are resolved
// before a provider sees the request).
struct LlmRequest {
  std::string model;
  std::string system;              // may be empty
  bool cache_system = false;       // mark the system prompt for provider prompt caching
  std::vector<Message> messages;   // alternating, starting with kUser
  int max_tokens = 1024;
  std::optional<float> temperature;  // sampling temperature in [0, 2]; not money
  std::optional<float> top_p;
  std::vector<std::string> stop;
  std::string request_id;          // forwarded upstream as X-Request-Id
  absl::Duration timeout = absl::Seconds(60);  // total budget for the call, retries included
};

struct LlmResponse {
  std::string text;
  core::TokenUsage usage;
  std::string model;          // the model that answered (after fallback)
  std::string finish_reason;  // normalized: "stop", "length", "stop_sequence", "error"
  absl::Duration latency;
  int attempts = 1;           // upstream attempts, retries and fallbacks included
};

// A streaming answer. Next() yields text deltas until nullopt (done). After the end — or
// after Cancel(), when the client went away — Final() holds the usage consumed so far, so a
// half-delivered stream is still accounted.
class LlmStream {
 public:
  virtual ~LlmStream() = default;
  virtual boost::asio::awaitable<absl::StatusOr<std::optional<std::string>>> Next() = 0;
  // Stops the upstream call (closes its connection). Idempotent.
  virtual void Cancel() = 0;
  virtual const LlmResponse& Final() const = 0;
};

class Provider {
 public:
  virtual ~Provider() = default;
  virtual std::string_view name() const = 0;
  virtual boost::asio::awaitable<absl::StatusOr<LlmResponse>> Complete(const LlmRequest& request) = 0;
  virtual boost::asio::awaitable<absl::StatusOr<std::unique_ptr<LlmStream>>> Stream(
      const LlmRequest& request) = 0;
};

}  // namespace mangaassist::llm
