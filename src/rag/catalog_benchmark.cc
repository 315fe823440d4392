// Catalog::Find on ~100-byte messages, over the shipped 300-row catalog and (when present) the
// 26k-row shared MADB catalog; plus the load time of each.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "rag/catalog.h"

namespace mangaassist::rag {
namespace {

const std::string kShipped = std::string(MANGAASSIST_DATA_DIR_FOR_TESTS) + "/catalog/catalog.jsonl";
const std::string kShared =
    std::string(MANGAASSIST_SHARED_DIR) + "/data/catalog/manga_catalog.jsonl";

const Catalog* Load(const std::string& path) {
  if (!std::filesystem::exists(path)) return nullptr;
  auto catalog = Catalog::LoadJsonl(path, nullptr);
  return catalog.ok() ? catalog->release() : nullptr;
}

const Catalog* ShippedCatalog() {
  static const Catalog* const c = Load(kShipped);
  return c;
}
const Catalog* SharedCatalog() {
  static const Catalog* const c = Load(kShared);
  return c;
}

// Each about 100 bytes.
const std::vector<std::string>& Messages() {
  static const auto* const m = new std::vector<std::string>{
      "Hi there! Is One Piece vol 105 in stock, and how long would shipping to Osaka take for it?",
      "鬼滅の刃の最新刊は在庫ありますか？できれば今週中に届けてほしいです。",  // JA, ~100 bytes
      "Can you recommend anything by Naoki Urasawa? I loved the one about the surgeon in Germany.",
      "I ordered two books last week and the tracking number still says pending, what's going on?",
      "SPY×FAMILYの13巻とONE PIECEの最新刊を一緒に注文したいのですが",
  };
  return *m;
}

void RunFind(benchmark::State& state, const Catalog* catalog) {
  if (catalog == nullptr) {
    state.SkipWithError("catalog file not available");
    return;
  }
  const std::string& msg = Messages()[static_cast<size_t>(state.range(0))];
  size_t found = 0;
  for (auto _ : state) {
    auto matches = catalog->Find(msg, 5);
    found += matches.size();
    benchmark::DoNotOptimize(matches);
  }
  state.counters["matches"] = static_cast<double>(found) / static_cast<double>(state.iterations());
  state.SetLabel(std::to_string(msg.size()) + " bytes");
}

void BM_Find300(benchmark::State& state) { RunFind(state, ShippedCatalog()); }
void BM_Find26k(benchmark::State& state) { RunFind(state, SharedCatalog()); }
BENCHMARK(BM_Find300)->DenseRange(0, 4);
BENCHMARK(BM_Find26k)->DenseRange(0, 4);

void BM_Load(benchmark::State& state, const std::string& path) {
  if (!std::filesystem::exists(path)) {
    state.SkipWithError("catalog file not available");
    return;
  }
  for (auto _ : state) {
    auto catalog = Catalog::LoadJsonl(path, nullptr);
    benchmark::DoNotOptimize(catalog);
  }
}
BENCHMARK_CAPTURE(BM_Load, shipped300, kShipped)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Load, shared26k, kShared)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
}  // namespace mangaassist::rag

BENCHMARK_MAIN();
