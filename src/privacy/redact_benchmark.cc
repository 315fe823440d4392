// Normalize + language + redact (privacy::Sanitize, the `normalize` stage's work) on chat-sized
// messages, and on 1 KB / 10 KB / 100 KB inputs to show linear scaling. Target (issue 3):
// ≤ 5 µs for a 300-byte message.
#include <algorithm>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "privacy/sanitize.h"

namespace mangaassist::privacy {
namespace {

// About 300 bytes each.
const char* const kEnglish =
    "Hi! I pre-ordered Frieren vol 12 and One Piece vol 108 last week (order MA-2025-004512) "
    "but the tracking page still says 'preparing'. Can you tell me when it ships? Also, is the "
    "deluxe edition of Chainsaw Man still in stock at $24.99, and does the coupon SPRING25 "
    "work on box sets? Thanks a lot for the help!";
const char* const kJapanese =
    "こんにちは。先週ワンピース１０８巻と葬送のフリーレン１２巻を予約したのですが、"
    "注文番号ＭＡ－２０２５－００４５１２の発送状況がまだ準備中のままです。いつ頃発送され"
    "ますか？あと、特装版の在庫はありますか。";
const char* const kWithPii =
    "注文MA-2025-004512の配送先を変更したいです。新しい住所は〒150-0002 東京都渋谷区渋谷2-21-1、"
    "電話は０９０－１２３４－５６７８、メールは taro.yamada@example.co.jp です。"
    "Card on file ends 1111, please don't charge 4111 1111 1111 1111 again. Thanks!";

void Run(benchmark::State& state, const std::string& text) {
  const Redactor& redactor = Redactor::Default();
  SanitizeOptions opts;
  for (auto _ : state) {
    auto r = Sanitize(text, opts, redactor);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(text.size()));
  state.counters["bytes"] = static_cast<double>(text.size());
}

void BM_Sanitize300_English(benchmark::State& state) { Run(state, kEnglish); }
void BM_Sanitize300_Japanese(benchmark::State& state) { Run(state, kJapanese); }
void BM_Sanitize300_WithPii(benchmark::State& state) { Run(state, kWithPii); }
// On a shared machine the minimum over repetitions is the least disturbed figure.
double Min(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }
BENCHMARK(BM_Sanitize300_English)->ComputeStatistics("min", Min);
BENCHMARK(BM_Sanitize300_Japanese)->ComputeStatistics("min", Min);
BENCHMARK(BM_Sanitize300_WithPii)->ComputeStatistics("min", Min);

// A mixture of the three messages, repeated up to the requested size.
void BM_SanitizeScaling(benchmark::State& state) {
  std::string text;
  const char* parts[] = {kEnglish, kJapanese, kWithPii};
  size_t i = 0;
  while (text.size() < static_cast<size_t>(state.range(0))) {
    text += parts[i++ % 3];
    text += ' ';
  }
  Run(state, text);
}
BENCHMARK(BM_SanitizeScaling)
    ->Arg(1 << 10)
    ->Arg(10 << 10)
    ->Arg(100 << 10)
    ->ComputeStatistics("min", Min);

// Normalization alone, for comparison.
void BM_NormalizeOnly300_Japanese(benchmark::State& state) {
  std::string text = kJapanese;
  for (auto _ : state) {
    auto r = core::Normalize(text);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_NormalizeOnly300_Japanese)->ComputeStatistics("min", Min);

void BM_RedactOnly300_English(benchmark::State& state) {
  std::string text = kEnglish;
  const Redactor& redactor = Redactor::Default();
  for (auto _ : state) {
    auto r = redactor.Redact(text);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_RedactOnly300_English)->ComputeStatistics("min", Min);

// The dense-PII message split into its parts: normalization, redaction of the normalized text,
// and redaction of the redacted text (what a second detection pass over the output costs).
void BM_NormalizeOnly300_WithPii(benchmark::State& state) {
  std::string text = kWithPii;
  for (auto _ : state) {
    auto r = core::Normalize(text);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_NormalizeOnly300_WithPii)->ComputeStatistics("min", Min);

void BM_RedactOnly300_WithPii(benchmark::State& state) {
  std::string text = core::Normalize(kWithPii)->text;
  const Redactor& redactor = Redactor::Default();
  for (auto _ : state) {
    auto r = redactor.Redact(text);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_RedactOnly300_WithPii)->ComputeStatistics("min", Min);

void BM_RedactOnly300_Redacted(benchmark::State& state) {
  const Redactor& redactor = Redactor::Default();
  std::string text = redactor.Redact(core::Normalize(kWithPii)->text).text;
  for (auto _ : state) {
    auto r = redactor.Redact(text);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_RedactOnly300_Redacted)->ComputeStatistics("min", Min);

}  // namespace
}  // namespace mangaassist::privacy

BENCHMARK_MAIN();
