// Pipeline: an ordered list of stages built from config (pipeline.stages) over shared
// Services. The same object runs the live server and offline replay; it knows nothing of HTTP.
// Immutable after Build(); Run() is safe to call concurrently.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pipeline/services.h"
#include "pipeline/stage.h"

namespace mangaassist::pipeline {

class Pipeline {
 public:
  // Builds the stages named in services.config->pipeline.stages, in order. Unknown or
  // duplicated stage names are an InvalidArgument error naming the stage.
  static absl::StatusOr<std::unique_ptr<Pipeline>> Build(Services* services);

  // Like Build(), but a stage named in `overrides` is made by that factory instead of the
  // registered one (offline replay keeps `record`'s events in memory instead of the spool).
  using StageOverrides = std::map<
      std::string, std::function<absl::StatusOr<std::unique_ptr<Stage>>(Services*)>, std::less<>>;
  static absl::StatusOr<std::unique_ptr<Pipeline>> Build(Services* services,
                                                         const StageOverrides& overrides);

  // Builds from explicit stages (tests, replay variants).
  explicit Pipeline(std::vector<std::unique_ptr<Stage>> stages);

  // Runs every applicable stage in order. Returns the first failure (after running the
  // kAlways stages), or OK. An OK result with ctx.answered false is an Internal error: a
  // pipeline must end in an answering stage.
  boost::asio::awaitable<absl::Status> Run(core::RequestContext& ctx) const;

  std::vector<std::string> StageNames() const;

 private:
  std::vector<std::unique_ptr<Stage>> stages_;
  std::vector<SyncStage*> sync_;  // per stage: itself when it is a SyncStage, else null
};

// The names of all registered stages.
std::vector<std::string> RegisteredStageNames();

}  // namespace mangaassist::pipeline
