// Pipeline: an ordered list of stages built from config (pipeline.stages) over shared
// Services. The same object runs the live server and offline replay; it knows nothing of HTTP.
// Immutable after Build(); Run() is safe to call concurrently.
#pragma once

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

  // Builds from explicit stages (tests, replay variants).
  explicit Pipeline(std::vector<std::unique_ptr<Stage>> stages);

  // Runs every applicable stage in order. Returns the first failure (after running the
  // kAlways stages), or OK. An OK result with ctx.answered false is an Internal error: a
  // pipeline must end in an answering stage.
  boost::asio::awaitable<absl::Status> Run(core::RequestContext& ctx) const;

  std::vector<std::string> StageNames() const;

 private:
  std::vector<std::unique_ptr<Stage>> stages_;
};

// The names of all registered stages.
std::vector<std::string> RegisteredStageNames();

}  // namespace mangaassist::pipeline
