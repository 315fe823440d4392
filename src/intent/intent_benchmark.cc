// Classification throughput on one core (US-02 target: ≥ 200k classifications/s): the default
// model (data/intent/model.bin, built with the gateway) over the dev messages, rules included,
// and the feature extraction alone. Run: build/release/src/intent/intent_benchmark
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "intent/classifier.h"
#include "intent/dataset.h"

namespace mangaassist::intent {
namespace {

const std::string& DataDir() {
  static const std::string* d = new std::string(MANGAASSIST_DATA_DIR_FOR_TESTS);
  return *d;
}

const std::vector<Example>& Messages() {
  static const auto* ex = [] {
    auto r = ReadExamples(DataDir() + "/intent/dev.jsonl", true);
    return new std::vector<Example>(r.ok() ? *r : std::vector<Example>{});
  }();
  return *ex;
}

const Classifier* Default() {
  static const Classifier* c = [] {
    auto r = Classifier::Load(DataDir() + "/intent/model.bin", {});
    return r.ok() ? r->release() : nullptr;
  }();
  return c;
}

void BM_Classify(benchmark::State& state) {
  const Classifier* c = Default();
  if (c == nullptr || Messages().empty()) {
    state.SkipWithError("no default model or dev set (build the intent_model target)");
    return;
  }
  size_t i = 0, bytes = 0;
  for (auto _ : state) {
    const Example& e = Messages()[i++ % Messages().size()];
    bytes += e.text.size();
    benchmark::DoNotOptimize(c->Classify(e.text));
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_Classify);

void BM_Features(benchmark::State& state) {
  std::vector<uint32_t> f;
  size_t i = 0;
  for (auto _ : state) {
    const Example& e = Messages()[i++ % Messages().size()];
    benchmark::DoNotOptimize(ExtractFeatures(e.text, FeatureOptions(), &f));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Features);

void BM_ClassifyHuge(benchmark::State& state) {
  const Classifier* c = Default();
  if (c == nullptr) {
    state.SkipWithError("no default model");
    return;
  }
  std::string huge;
  while (huge.size() < 50'000) huge += "is there a sale on One Piece? セールはありますか ";
  huge.resize(50'000);
  for (auto _ : state) benchmark::DoNotOptimize(c->Classify(huge));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ClassifyHuge);

}  // namespace
}  // namespace mangaassist::intent

BENCHMARK_MAIN();
