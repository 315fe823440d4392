// Typed configuration of LLM providers and model aliases (the `providers:` and `models:`
// sections of the gateway config). Plain data, loaded and validated by core/config.cc.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace mangaassist::core {

struct RetryConfig {
  int max_attempts = 3;                              // attempts in total, first one included
  absl::Duration base_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(5);
  absl::Duration max_retry_after = absl::Seconds(20);  // a longer Retry-After ends the retries
};

struct BreakerConfig {
  int consecutive_failures = 5;
  int error_rate_percent = 50;
  int min_calls = 20;                                // in the window, before the rate counts
  absl::Duration window = absl::Seconds(30);
  absl::Duration cooldown = absl::Seconds(10);
  int half_open_probes = 1;
};

struct ProviderConfig {
  std::string name;      // the key under `providers:`
  std::string type;      // anthropic | bedrock | openai | extractive | simulated
  std::string base_url;  // anthropic, openai; bedrock: optional endpoint override (same region)
  std::string api_key;   // anthropic (x-api-key), openai (Authorization: Bearer)
  std::string region;    // bedrock: the pinned region, e.g. ap-northeast-1
  std::string ca_file;   // extra CA bundle (tests, private endpoints)
  std::string anthropic_version = "2023-06-01";
  absl::Duration connect_timeout = absl::Seconds(3);
  absl::Duration first_byte_timeout = absl::Seconds(30);
  absl::Duration timeout = absl::Seconds(60);
  RetryConfig retry;
  BreakerConfig breaker;
};

// A model alias clients may name (`auto`, `haiku`, `sonnet`, or anything configured).
struct ModelAliasConfig {
  std::string name;
  std::string provider;               // a key of `providers:`
  std::string model;                  // the provider's model id
  std::string price;                  // price entry in pricing.yaml (default: looked up by id)
  std::string route;                  // haiku | sonnet: the native route label (default: guessed
                                      // from the model id; extractive providers are `extractive`)
  std::vector<std::string> fallback;  // other aliases, tried in order when this one fails
};

}  // namespace mangaassist::core
