#include "pipeline/stage_registry.h"

#include <string>
#include <utility>
#include <vector>

#include "pipeline/pipeline.h"

namespace mangaassist::pipeline {
namespace {

const std::vector<std::pair<std::string, StageFactory>>& Registry() {
  static const auto* registry = new std::vector<std::pair<std::string, StageFactory>>{
      {"admit", MakeAdmitStage},
      {"normalize", MakeNormalizeStage},
      {"intent", MakeIntentStage},
      {"respond", MakeRespondStage},
      {"reserve", MakeReserveStage},
      {"cache", MakeCacheStage},
      {"call", MakeCallStage},
      {"cache_fill", MakeCacheFillStage},
      {"settle", MakeSettleStage},
      {"record", MakeRecordStage},
  };
  return *registry;
}

}  // namespace

const StageFactory* FindStageFactory(std::string_view name) {
  for (const auto& [n, f] : Registry()) {
    if (n == name) return &f;
  }
  return nullptr;
}

std::vector<std::string> RegisteredStageNames() {
  std::vector<std::string> names;
  for (const auto& [n, f] : Registry()) names.push_back(n);
  return names;
}

}  // namespace mangaassist::pipeline
