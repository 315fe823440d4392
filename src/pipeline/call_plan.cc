#include "pipeline/call_plan.h"

#include <algorithm>

namespace mangaassist::pipeline {

std::string_view CallAlias(const core::CallConfig& call, const core::RequestContext& ctx) {
  if (!ctx.traffic.alias.empty()) return ctx.traffic.alias;
  return call.AliasFor(ctx.tier, ctx.requested_model);
}

llm::LlmRequest BuildLlmRequest(const core::CallConfig& call, const core::RequestContext& ctx,
                                const llm::ModelEntry& entry) {
  llm::LlmRequest r;
  r.model = entry.model;
  if (ctx.compat) {
    r.system = ctx.system;
    r.cache_system = ctx.cache_system;
  } else {
    // The stable system prompt is the cacheable prefix of every native call (SPEC §2.8).
    r.system = call.system_prompt;
    r.cache_system = true;
  }
  r.messages.reserve(ctx.history.size() + 1);
  for (const core::ChatTurn& turn : ctx.history) {
    r.messages.push_back(
        llm::Message{turn.assistant ? llm::Role::kAssistant : llm::Role::kUser, turn.content});
  }
  r.messages.push_back(llm::Message{llm::Role::kUser, ctx.message});
  r.max_tokens = ctx.max_tokens > 0 ? ctx.max_tokens : call.max_tokens;
  r.temperature = ctx.temperature;
  r.top_p = ctx.top_p;
  r.stop = ctx.stop;
  r.request_id = ctx.request_id;
  r.timeout = call.timeout;
  return r;
}

core::Money MaxCallCost(const core::Config& config, const llm::Models& models,
                        std::string_view alias, int64_t input_tokens, int64_t max_tokens) {
  // The prompt priced as plain input and as a provider cache write (dearer), whichever is more.
  core::TokenUsage plain, written;
  plain.input_tokens = input_tokens;
  plain.output_tokens = max_tokens;
  written.cache_write_tokens = input_tokens;
  written.output_tokens = max_tokens;
  auto most_of = [&](const std::string& model) {
    return std::max(models.Price(model, plain).cost.Total(),
                    models.Price(model, written).cost.Total());
  };
  const llm::ModelEntry* entry = models.Find(alias);
  if (entry == nullptr) return core::Money::Zero();
  core::Money most = most_of(entry->model);
  if (const core::ModelAliasConfig* a = config.FindModel(entry->name); a != nullptr) {
    for (const std::string& f : a->fallback) {
      if (const llm::ModelEntry* fe = models.Find(f); fe != nullptr) {
        most = std::max(most, most_of(fe->model));
      }
    }
  }
  return most;
}

}  // namespace mangaassist::pipeline
