// TokenEstimator on ~300-byte English, Japanese and mixed messages (target: < 1 µs each), a
// four-part prompt, Observe, and RoughTokenCount for comparison; plus throughput over the whole
// calibration set (data/tokens/calibration_set.jsonl).
#include <fstream>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "llm/token_count.h"
#include "llm/token_estimator.h"
#include "nlohmann/json.hpp"

namespace mangaassist::llm {
namespace {

// Repeats `sentence` until the text is at least 300 bytes.
std::string About300Bytes(const std::string& sentence) {
  std::string s;
  while (s.size() < 300) s += sentence;
  return s;
}

const std::string kEnglish = About300Bytes(
    "Hi! I pre-ordered Jujutsu Kaisen vol 26 (order MA-2024-118734) but it hasn't shipped yet. ");
const std::string kJapanese =
    About300Bytes("呪術廻戦の最新刊を予約したのですが、まだ発送されていません。いつ届きますか？");
const std::string kMixed =
    About300Bytes("予約したSPY×FAMILY 15巻、tracking numberが届かない。order MA-2025-004512です。");

void BM_Estimate(benchmark::State& state, const std::string* text) {
  TokenEstimator estimator;
  for (auto _ : state) benchmark::DoNotOptimize(estimator.Estimate(*text, core::Lang::kMixed));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text->size()));
}
BENCHMARK_CAPTURE(BM_Estimate, en_300B, &kEnglish);
BENCHMARK_CAPTURE(BM_Estimate, ja_300B, &kJapanese);
BENCHMARK_CAPTURE(BM_Estimate, mixed_300B, &kMixed);

void BM_RoughTokenCount(benchmark::State& state, const std::string* text) {
  for (auto _ : state) benchmark::DoNotOptimize(RoughTokenCount(*text));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text->size()));
}
BENCHMARK_CAPTURE(BM_RoughTokenCount, en_300B, &kEnglish);
BENCHMARK_CAPTURE(BM_RoughTokenCount, ja_300B, &kJapanese);

void BM_EstimatePrompt(benchmark::State& state) {
  TokenEstimator estimator;
  LlmRequest r;
  r.system = kEnglish;
  r.messages = {{Role::kUser, kJapanese}, {Role::kAssistant, kMixed}, {Role::kUser, kEnglish}};
  for (auto _ : state) benchmark::DoNotOptimize(estimator.EstimatePrompt(r, core::Lang::kJa));
}
BENCHMARK(BM_EstimatePrompt);

void BM_Observe(benchmark::State& state) {
  TokenEstimator estimator;
  int64_t i = 0;
  for (auto _ : state) estimator.Observe(core::Lang::kEn, 1000, 900 + (++i & 255));
}
BENCHMARK(BM_Observe)->Threads(1)->Threads(2);

void BM_CalibrationSet(benchmark::State& state) {
  std::vector<std::string> texts;
  std::ifstream in(std::string(MANGAASSIST_DATA_DIR_FOR_TESTS) + "/tokens/calibration_set.jsonl");
  std::string line;
  size_t bytes = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    texts.push_back(nlohmann::json::parse(line).at("text").get<std::string>());
    bytes += texts.back().size();
  }
  if (texts.empty()) {
    state.SkipWithError("data/tokens/calibration_set.jsonl not found");
    return;
  }
  TokenEstimator estimator;
  for (auto _ : state) {
    int64_t total = 0;
    for (const std::string& t : texts) total += estimator.Estimate(t);
    benchmark::DoNotOptimize(total);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * texts.size()));
}
BENCHMARK(BM_CalibrationSet);

}  // namespace
}  // namespace mangaassist::llm

BENCHMARK_MAIN();
