// The one place where stage names map to factories. Adding a stage = its own files plus one
// line in stage_registry.cc.
#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "pipeline/services.h"
#include "pipeline/stage.h"

namespace mangaassist::pipeline {

using StageFactory = std::function<absl::StatusOr<std::unique_ptr<Stage>>(Services*)>;

// nullptr when no stage has that name.
const StageFactory* FindStageFactory(std::string_view name);

// Factories of the built-in stages (defined in their own files).
absl::StatusOr<std::unique_ptr<Stage>> MakeAdmitStage(Services* services);
absl::StatusOr<std::unique_ptr<Stage>> MakeNormalizeStage(Services* services);
// intent_stage.cc: US-02's session intent cache, rules and model.
absl::StatusOr<std::unique_ptr<Stage>> MakeIntentStage(Services* services);
absl::StatusOr<std::unique_ptr<Stage>> MakeRespondStage(Services* services);
absl::StatusOr<std::unique_ptr<Stage>> MakeCallStage(Services* services);
absl::StatusOr<std::unique_ptr<Stage>> MakeReserveStage(Services* services);
absl::StatusOr<std::unique_ptr<Stage>> MakeSettleStage(Services* services);
absl::StatusOr<std::unique_ptr<Stage>> MakeRecordStage(Services* services);
// cache_stage.cc: the exact response cache's lookup (before `call`) and fill (after it).
absl::StatusOr<std::unique_ptr<Stage>> MakeCacheStage(Services* services);
absl::StatusOr<std::unique_ptr<Stage>> MakeCacheFillStage(Services* services);

}  // namespace mangaassist::pipeline
