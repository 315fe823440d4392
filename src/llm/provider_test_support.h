// Test-only helpers for the provider tests: a fixture with a FakeUpstream, an io_context run on
// the test thread, a shared UpstreamClient, a metrics registry and a ManualClock, plus configs
// for each provider type pointed at the fake. Not thread-safe (one fixture per test).
#pragma once

// clang-format off
#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).
// clang-format on

#include <stdlib.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/clock.h"
#include "core/llm_config.h"
#include "core/metrics.h"
#include "gtest/gtest.h"
#include "http/upstream_client.h"
#include "http/upstream_test_support.h"
#include "llm/provider.h"
#include "llm/provider_deps.h"
#include "llm/provider_registry.h"
#include "tests/support/fake_upstream.h"

namespace mangaassist::llm::test_support {

inline constexpr char kRegion[] = "ap-northeast-1";
inline constexpr char kAccessKeyId[] = "AKIDEXAMPLE";

// What a whole stream delivered.
struct Drained {
  std::vector<std::string> deltas;
  std::string text;
  absl::Status status;  // OK when it ended normally
};

class ProviderFixture {
 public:
  ProviderFixture() {
    // Fake credentials for the bedrock provider (read at each call).
    ::setenv("AWS_ACCESS_KEY_ID", kAccessKeyId, 1);
    ::setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1);
    ::unsetenv("AWS_SESSION_TOKEN");
    fake_ = testing::FakeUpstream::Start();
    http::UpstreamClientOptions options;
    options.name = "providers-test";
    absl::StatusOr<std::unique_ptr<http::UpstreamClient>> client =
        http::NewUpstreamClient(options, &registry_);
    if (client.ok()) client_ = *std::move(client);
  }

  bool ready() const { return fake_ != nullptr && client_ != nullptr; }

  // A config of `type` pointed at the fake, with quick retries and generous timeouts.
  core::ProviderConfig Config(const std::string& type) const {
    core::ProviderConfig config;
    config.name = type + "-test";
    config.type = type;
    config.base_url = fake_->base_url();
    config.api_key = type == "bedrock" ? "" : "sk-test";
    config.region = type == "bedrock" ? kRegion : "";
    config.connect_timeout = absl::Seconds(5);
    config.first_byte_timeout = absl::Seconds(20);
    config.timeout = absl::Seconds(30);
    config.retry.max_attempts = 3;
    config.retry.base_backoff = absl::Milliseconds(5);
    config.retry.max_backoff = absl::Milliseconds(20);
    return config;
  }

  // The manual clock unless told otherwise (e.g. the system clock, for wall-time signatures).
  ProviderDeps Deps(const core::Clock* clock = nullptr) {
    return {client_.get(), &registry_, clock != nullptr ? clock : &clock_, nullptr};
  }

  std::unique_ptr<Provider> Create(const core::ProviderConfig& config,
                                   const core::Clock* clock = nullptr) {
    absl::StatusOr<std::unique_ptr<Provider>> provider = CreateProvider(config, Deps(clock));
    EXPECT_TRUE(provider.ok()) << provider.status();
    return provider.ok() ? *std::move(provider) : nullptr;
  }

  static LlmRequest Request(const std::string& model, const std::string& text = "hello") {
    LlmRequest request;
    request.model = model;
    request.messages = {{Role::kUser, text}};
    request.max_tokens = 256;
    request.request_id = "req-test-1";
    request.timeout = absl::Seconds(30);
    return request;
  }

  absl::StatusOr<LlmResponse> Complete(Provider& provider, const LlmRequest& request) {
    return http::test_support::RunTask(ioc_, provider.Complete(request));
  }

  absl::StatusOr<std::unique_ptr<LlmStream>> Stream(Provider& provider, const LlmRequest& request) {
    return http::test_support::RunTask(ioc_, provider.Stream(request));
  }

  absl::StatusOr<std::optional<std::string>> Next(LlmStream& stream) {
    return http::test_support::RunTask(ioc_, stream.Next());
  }

  Drained Drain(LlmStream& stream) {
    Drained out;
    for (int i = 0; i < 100000; ++i) {
      absl::StatusOr<std::optional<std::string>> next = Next(stream);
      if (!next.ok()) {
        out.status = next.status();
        break;
      }
      if (!next->has_value()) break;
      out.text += **next;
      out.deltas.push_back(**std::move(next));
    }
    return out;
  }

  int64_t Counter(const std::string& name, const core::Labels& labels) {
    return registry_.GetCounter(name, "", labels).Value();
  }
  int64_t BreakerState(const std::string& provider) {
    return registry_.GetGauge("mangaassist_circuit_breaker_state", "", {{"breaker", provider}})
        .Value();
  }

  testing::FakeUpstream& fake() { return *fake_; }
  core::ManualClock& clock() { return clock_; }
  core::Registry& registry() { return registry_; }

 private:
  core::Registry registry_;
  core::ManualClock clock_;
  std::unique_ptr<testing::FakeUpstream> fake_;
  boost::asio::io_context ioc_;
  std::unique_ptr<http::UpstreamClient> client_;
};

}  // namespace mangaassist::llm::test_support
