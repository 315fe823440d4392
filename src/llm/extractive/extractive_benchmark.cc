// ExtractiveResponder::Answer on typical ~100-byte messages (product, volume, author, topic,
// fallback) over the shipped 300-row catalog.
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "core/language.h"
#include "llm/extractive/extractive_responder.h"
#include "rag/catalog.h"

namespace mangaassist::llm {
namespace {

const std::string kDataDir = MANGAASSIST_DATA_DIR_FOR_TESTS;

struct Fixture {
  std::unique_ptr<rag::Catalog> catalog;
  std::unique_ptr<ExtractiveResponder> responder;
};

const Fixture* Get() {
  static const Fixture* const f = [] {
    auto* fx = new Fixture;
    auto catalog = rag::Catalog::LoadJsonl(kDataDir + "/catalog/catalog.jsonl", nullptr);
    if (!catalog.ok()) return static_cast<Fixture*>(nullptr);
    fx->catalog = *std::move(catalog);
    auto responder =
        ExtractiveResponder::Create(fx->catalog.get(), kDataDir + "/templates/extractive.yaml");
    if (!responder.ok()) return static_cast<Fixture*>(nullptr);
    fx->responder = *std::move(responder);
    return fx;
  }();
  return f;
}

const std::vector<std::string>& Messages() {
  static const auto* const m = new std::vector<std::string>{
      "Hi there! Is One Piece vol 105 in stock? I would like to buy it for my brother this week.",
      "鬼滅の刃の最新刊は在庫ありますか？できれば今週中に届けてほしいです。",
      "Can you recommend anything by Naoki Urasawa? I loved the one about the surgeon in Germany.",
      "I ordered two books last week and the tracking number still says pending, what's going on?",
      "What kinds of things can you help me with today? I am just browsing around the store, "
      "really.",
  };
  return *m;
}

void BM_Answer(benchmark::State& state) {
  const Fixture* f = Get();
  if (f == nullptr) {
    state.SkipWithError("catalog or templates not available");
    return;
  }
  const std::string& msg = Messages()[static_cast<size_t>(state.range(0))];
  const core::Lang lang = core::DetectLanguage(msg);
  std::string id;
  for (auto _ : state) {
    ExtractiveAnswer a = f->responder->Answer(msg, lang);
    benchmark::DoNotOptimize(a);
    id = a.template_id;
  }
  state.SetLabel(id);
}
BENCHMARK(BM_Answer)->DenseRange(0, 4);

}  // namespace
}  // namespace mangaassist::llm

BENCHMARK_MAIN();
