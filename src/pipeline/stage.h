// Stage: one step of the request pipeline (SPEC §2). A stage annotates the RequestContext,
// answers it (sets ctx.answered, ctx.route, ctx.answer), or fails it with a Status. Stages are
// created once at start-up and shared by every request: Run() must be safe to call
// concurrently from many threads (keep per-request state in the context).
#pragma once

#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).

#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "absl/status/status.h"
#include "core/request_context.h"

namespace mangaassist::pipeline {

// When a stage runs relative to earlier outcomes.
enum class RunPolicy {
  kUntilAnswered,  // skipped once a stage has answered or failed (most stages)
  kAfterAnswer,    // runs after an answer too (cache fill, session update), not after a failure
  kAlways,         // runs even after a failure (cost recording: nothing may be lost)
};

class Stage {
 public:
  virtual ~Stage() = default;
  virtual std::string_view name() const = 0;
  virtual RunPolicy policy() const { return RunPolicy::kUntilAnswered; }
  // `status` is the request's outcome so far (OK unless an earlier stage failed).
  virtual boost::asio::awaitable<absl::Status> Run(core::RequestContext& ctx) = 0;
};

// A stage that never waits (no I/O it would suspend on): it implements RunSync(), Run() is that
// in a coroutine, and the pipeline calls RunSync() directly — no coroutine frame allocated and
// resumed per stage and request.
class SyncStage : public Stage {
 public:
  virtual absl::Status RunSync(core::RequestContext& ctx) = 0;
  boost::asio::awaitable<absl::Status> Run(core::RequestContext& ctx) final {
    co_return RunSync(ctx);
  }
};

}  // namespace mangaassist::pipeline
