// A stream that delivers a whole, already known answer as one delta: for providers that answer
// at once (the offline extractive responder, replay's simulated provider).
#pragma once

// clang-format off
#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).
// clang-format on

#include <optional>
#include <string>

#include "llm/provider.h"

namespace mangaassist::llm {

class OneShotStream final : public LlmStream {
 public:
  explicit OneShotStream(LlmResponse response) : final_(std::move(response)) {}

  boost::asio::awaitable<absl::StatusOr<std::optional<std::string>>> Next() override {
    if (delivered_ || cancelled_) co_return std::optional<std::string>();
    delivered_ = true;
    co_return std::optional<std::string>(final_.text);
  }
  void Cancel() override { cancelled_ = true; }
  const LlmResponse& Final() const override { return final_; }

 private:
  LlmResponse final_;
  bool delivered_ = false;
  bool cancelled_ = false;
};

}  // namespace mangaassist::llm
