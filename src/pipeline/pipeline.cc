#include "pipeline/pipeline.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "pipeline/stage_registry.h"

namespace mangaassist::pipeline {

absl::StatusOr<std::unique_ptr<Pipeline>> Pipeline::Build(Services* services) {
  return Build(services, StageOverrides{});
}

absl::StatusOr<std::unique_ptr<Pipeline>> Pipeline::Build(Services* services,
                                                         const StageOverrides& overrides) {
  std::vector<std::unique_ptr<Stage>> stages;
  std::set<std::string> seen;
  for (const std::string& name : services->config->pipeline.stages) {
    if (!seen.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat("pipeline.stages: '", name, "' appears twice"));
    }
    const StageFactory* factory = FindStageFactory(name);
    if (auto it = overrides.find(name); it != overrides.end()) factory = &it->second;
    if (factory == nullptr) {
      std::string known;
      for (const auto& n : RegisteredStageNames()) absl::StrAppend(&known, known.empty() ? "" : ", ", n);
      return absl::InvalidArgumentError(
          absl::StrCat("pipeline.stages: unknown stage '", name, "' (known: ", known, ")"));
    }
    auto stage = (*factory)(services);
    if (!stage.ok()) {
      return absl::Status(stage.status().code(),
                          absl::StrCat("stage '", name, "': ", stage.status().message()));
    }
    stages.push_back(std::move(*stage));
  }
  return std::make_unique<Pipeline>(std::move(stages));
}

Pipeline::Pipeline(std::vector<std::unique_ptr<Stage>> stages) : stages_(std::move(stages)) {
  for (const auto& stage : stages_) sync_.push_back(dynamic_cast<SyncStage*>(stage.get()));
}

boost::asio::awaitable<absl::Status> Pipeline::Run(core::RequestContext& ctx) const {
  absl::Status result;
  ctx.stage_latency_us.reserve(ctx.stage_latency_us.size() + stages_.size());
  for (size_t i = 0; i < stages_.size(); ++i) {
    Stage* stage = stages_[i].get();
    RunPolicy policy = stage->policy();
    bool run = policy == RunPolicy::kAlways ||
               (result.ok() && (policy == RunPolicy::kAfterAnswer || !ctx.answered));
    if (!run) continue;
    ctx.outcome_code = static_cast<int>(result.code());
    const int64_t start = ctx.clock->MonotonicNanos();
    absl::Status st;
    if (sync_[i] != nullptr) {
      st = sync_[i]->RunSync(ctx);
    } else {
      st = co_await stage->Run(ctx);
    }
    ctx.stage_latency_us.emplace_back(stage->name(), (ctx.clock->MonotonicNanos() - start) / 1000);
    if (!st.ok() && result.ok()) result = std::move(st);
  }
  ctx.outcome_code = static_cast<int>(result.code());
  if (result.ok() && !ctx.answered) {
    result = absl::InternalError("the pipeline ended without an answer (no answering stage)");
  }
  co_return result;
}

std::vector<std::string> Pipeline::StageNames() const {
  std::vector<std::string> names;
  for (const auto& s : stages_) names.emplace_back(s->name());
  return names;
}

}  // namespace mangaassist::pipeline
