#include "core/request_context.h"

namespace mangaassist::core {

std::string_view TierName(Tier tier) {
  switch (tier) {
    case Tier::kMember: return "member";
    case Tier::kPremium: return "premium";
    case Tier::kGuest: break;
  }
  return "guest";
}

bool ParseTier(std::string_view name, Tier* out) {
  if (name == "guest") { *out = Tier::kGuest; return true; }
  if (name == "member") { *out = Tier::kMember; return true; }
  if (name == "premium") { *out = Tier::kPremium; return true; }
  return false;
}

std::string_view RouteName(Route route) {
  switch (route) {
    case Route::kTemplate: return "template";
    case Route::kCache: return "cache";
    case Route::kSemanticCache: return "semantic_cache";
    case Route::kExtractive: return "extractive";
    case Route::kHaiku: return "haiku";
    case Route::kSonnet: return "sonnet";
    case Route::kNone: break;
  }
  return "none";
}

std::string_view CostComponentName(CostComponent c) {
  switch (c) {
    case CostComponent::kLlmInput: return "llm_input";
    case CostComponent::kLlmOutput: return "llm_output";
    case CostComponent::kLlmCacheRead: return "llm_cache_read";
    case CostComponent::kLlmCacheWrite: return "llm_cache_write";
    case CostComponent::kEmbedding: return "embedding";
    case CostComponent::kVectorSearch: return "vector_search";
    case CostComponent::kSessionStore: return "session_store";
    case CostComponent::kCacheOps: return "cache_ops";
    case CostComponent::kAnalytics: return "analytics";
    case CostComponent::kCompute: return "compute";
    case CostComponent::kCount: break;
  }
  return "unknown";
}

}  // namespace mangaassist::core
