// The `respond` stage: answers with the offline extractive responder (no network, zero LLM
// cost). It is the embedded default and the last rung of the degradation ladder.
#include "llm/extractive/extractive_responder.h"
#include "pipeline/stage_registry.h"

namespace mangaassist::pipeline {
namespace {

class RespondStage final : public SyncStage {
 public:
  explicit RespondStage(const llm::ExtractiveResponder* responder) : responder_(responder) {}
  std::string_view name() const override { return "respond"; }

  absl::Status RunSync(core::RequestContext& ctx) override {
    llm::ExtractiveAnswer answer = responder_->Answer(ctx.message, ctx.lang);
    ctx.answer = std::move(answer.text);
    ctx.route = core::Route::kExtractive;
    ctx.answered = true;
    return absl::OkStatus();
  }

 private:
  const llm::ExtractiveResponder* responder_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Stage>> MakeRespondStage(Services* services) {
  if (services->responder == nullptr) {
    return absl::FailedPreconditionError("no extractive responder is configured");
  }
  return std::make_unique<RespondStage>(services->responder.get());
}

}  // namespace mangaassist::pipeline
