// The in-process cache's hot path (issue 8 target: Get ≤ 1 µs): a hit on a warm cache of 100k
// response-sized entries, a miss, a Set, and hits from several threads at once.
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "cache/memory_cache.h"
#include "cache/response_key.h"
#include "core/clock.h"

namespace mangaassist::cache {
namespace {

constexpr int kEntries = 100'000;

std::vector<std::string> Keys() {
  std::vector<std::string> keys;
  keys.reserve(kEntries);
  for (int i = 0; i < kEntries; ++i) {
    ResponseKeyInputs in;
    in.model = "anthropic.claude-3-5-haiku-20241022-v1:0";
    const std::string message = "Is One Piece vol " + std::to_string(i) + " in stock?";
    in.message = message;
    keys.push_back(ResponseCacheKey(in));
  }
  return keys;
}

MemoryCache& Warm() {
  static MemoryCache* cache = [] {
    MemoryCacheOptions o;
    o.max_bytes.fill(256u << 20);
    auto* c = new MemoryCache(o);
    const std::string value(400, 'a');  // a short answer with its usage and cost
    for (const std::string& k : Keys()) (void)c->Set(Keyspace::kLlmResp, k, value, absl::Hours(1));
    return c;
  }();
  return *cache;
}

const std::vector<std::string>& WarmKeys() {
  static const auto* keys = new std::vector<std::string>(Keys());
  return *keys;
}

void BM_MemoryGetHit(benchmark::State& state) {
  MemoryCache& cache = Warm();
  const auto& keys = WarmKeys();
  size_t i = static_cast<size_t>(state.thread_index()) * 7919;
  for (auto _ : state) {
    auto r = cache.Get(Keyspace::kLlmResp, keys[i++ % keys.size()]);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_MemoryGetHit);
BENCHMARK(BM_MemoryGetHit)->Threads(2);

// Hits on a hot set of 1,000 keys of the same warm cache (the popular questions): what a hit
// costs when its entry is in the CPU cache, as opposed to the DRAM-bound uniform case above.
void BM_MemoryGetHotHit(benchmark::State& state) {
  MemoryCache& cache = Warm();
  const auto& keys = WarmKeys();
  size_t i = 0;
  for (auto _ : state) {
    auto r = cache.Get(Keyspace::kLlmResp, keys[i++ % 1000]);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_MemoryGetHotHit);

void BM_MemoryGetMiss(benchmark::State& state) {
  MemoryCache& cache = Warm();
  const std::string key = "0123456789abcdef:00000000000000000000000000000000";
  for (auto _ : state) {
    auto r = cache.Get(Keyspace::kLlmResp, key);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_MemoryGetMiss);

void BM_MemorySet(benchmark::State& state) {
  MemoryCache& cache = Warm();
  const auto& keys = WarmKeys();
  const std::string value(400, 'b');
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        cache.Set(Keyspace::kLlmResp, keys[i++ % keys.size()], value, absl::Hours(1)));
  }
}
BENCHMARK(BM_MemorySet);

void BM_ResponseCacheKey(benchmark::State& state) {
  std::vector<core::ChatTurn> history = {{false, "hi"}, {true, "Hello! How can I help?"}};
  ResponseKeyInputs in;
  in.tenant = "default";
  in.model = "anthropic.claude-3-5-haiku-20241022-v1:0";
  in.system_prompt = "You are MangaAssist, the assistant of a manga web store.";
  in.history = &history;
  in.message = "ワンピース 105巻 在庫ある？";
  for (auto _ : state) benchmark::DoNotOptimize(ResponseCacheKey(in));
}
BENCHMARK(BM_ResponseCacheKey);

}  // namespace
}  // namespace mangaassist::cache

BENCHMARK_MAIN();
