// PriceTable: list prices from config/pricing.yaml as integer nano-USD, and the LLM cost of a
// provider-reported usage. Immutable after load; safe to share across threads.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/money.h"

namespace mangaassist::core {

// Token counts as a provider reports them. `input_tokens` excludes cached tokens (Anthropic's
// convention: input, cache_creation_input, cache_read_input are disjoint).
struct TokenUsage {
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t cache_read_tokens = 0;
  int64_t cache_write_tokens = 0;
};

struct ModelPrice {
  std::string name;              // e.g. "claude-3-5-sonnet"
  std::vector<std::string> ids;  // provider model ids that bill at this price
  Money input, output, cache_write, cache_read;  // per million tokens
  std::string source;
};

struct LlmCost {
  Money input, output, cache_read, cache_write;
  Money Total() const { return input + output + cache_read + cache_write; }
};

class PriceTable {
 public:
  static absl::StatusOr<PriceTable> LoadFile(const std::string& path);
  static absl::StatusOr<PriceTable> LoadString(const std::string& yaml, const std::string& source);

  // By price name ("claude-3-5-sonnet") or any listed provider id. nullptr when unknown.
  const ModelPrice* FindModel(std::string_view name_or_id) const;

  // A service price such as ("dynamodb_on_demand", "per_million_write_request_units").
  absl::StatusOr<Money> Service(std::string_view service, std::string_view key) const;

  // Percent uplift of `family` ("bedrock", "compute", ...) in `region`; 0 when not listed.
  int UpliftPercent(std::string_view region, std::string_view family) const;

  const std::string& as_of() const { return as_of_; }

 private:
  std::vector<ModelPrice> models_;
  std::map<std::string, std::map<std::string, Money>, std::less<>> services_;
  std::map<std::string, std::map<std::string, int>, std::less<>> uplift_;
  std::string as_of_;
};

// The cost of `usage` at `price`, each line rounded half-up to the nano-USD.
LlmCost CostOf(const ModelPrice& price, const TokenUsage& usage);

// `amount` plus `percent` percent, rounded half-up (integer arithmetic).
Money WithUplift(Money amount, int percent);

}  // namespace mangaassist::core
