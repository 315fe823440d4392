// Cost of emitting one event: encode (budget ≤ 2 µs), decode, build from a RequestContext
// (hashing + baseline + savings), and the keyed id hash alone.
#include <string>

#include "benchmark/benchmark.h"
#include "telemetry/event_builder.h"
#include "telemetry/event_codec.h"

namespace mangaassist::telemetry {
namespace {

core::RequestContext Context() {
  core::RequestContext ctx;
  ctx.request_id = "3f2a7c1e-9b4d-4e8a-a1c2-7d9e0f1b2c3d";
  ctx.tenant = "default";
  ctx.tier = core::Tier::kMember;
  ctx.session_id = "sess-8c1f0a9e2b7d";
  ctx.user_id = "user-4417";
  ctx.message = "Is One Piece volume 105 in stock, and when does 106 come out?";
  ctx.lang = core::Lang::kEn;
  ctx.intent = "product_info";
  ctx.intent_confidence = 0.94f;
  ctx.route = core::Route::kHaiku;
  ctx.model = "anthropic.claude-3-5-haiku-20241022-v1:0";
  ctx.provider = "bedrock";
  ctx.usage = {1'450, 210, 1'200, 0};
  ctx.history.resize(4);
  ctx.cost.Add(core::CostComponent::kLlmInput, core::Money::FromNanos(1'160'000));
  ctx.cost.Add(core::CostComponent::kLlmOutput, core::Money::FromNanos(840'000));
  ctx.cost.Add(core::CostComponent::kLlmCacheRead, core::Money::FromNanos(96'000));
  ctx.cost.Add(core::CostComponent::kSessionStore, core::Money::FromNanos(1'800));
  return ctx;
}

struct Fixture {
  core::PriceTable prices;
  std::unique_ptr<Baseline> baseline;
  std::unique_ptr<IdHasher> hasher;
  EventBuilderOptions options;
  Fixture() {
    std::string root = MANGAASSIST_SOURCE_DIR;
    prices = *core::PriceTable::LoadFile(root + "/config/pricing.yaml");
    baseline = std::make_unique<Baseline>(*LoadBaseline(root + "/config/baseline.yaml", prices));
    hasher = IdHasher::Create("benchmark-secret-key-0123456789abcdef");
    options.hasher = hasher.get();
    options.baseline = baseline.get();
  }
};

Fixture& F() {
  static Fixture f;
  return f;
}

CostEvent Event() {
  CostEvent e = BuildCostEvent(Context(), F().options);
  e.stage_latency_us = {{"admit", 4},   {"normalize", 18}, {"intent", 35},
                        {"route", 2},   {"cache", 9},      {"rag", 140},
                        {"prompt", 12}, {"call", 412000},  {"settle", 6}};
  e.latency_us = 412'300;
  return e;
}

void BM_EncodeCostEvent(benchmark::State& state) {
  CostEvent e = Event();
  size_t bytes = 0;
  for (auto _ : state) {
    std::string json = EncodeCostEventJson(e);
    bytes += json.size();
    benchmark::DoNotOptimize(json);
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_EncodeCostEvent);

void BM_DecodeCostEvent(benchmark::State& state) {
  std::string json = EncodeCostEventJson(Event());
  for (auto _ : state) {
    auto e = DecodeCostEventJson(json);
    benchmark::DoNotOptimize(e);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * json.size()));
}
BENCHMARK(BM_DecodeCostEvent);

void BM_BuildCostEvent(benchmark::State& state) {
  core::RequestContext ctx = Context();
  for (auto _ : state) {
    CostEvent e = BuildCostEvent(ctx, F().options);
    benchmark::DoNotOptimize(e);
  }
}
BENCHMARK(BM_BuildCostEvent);

void BM_BuildAndEncode(benchmark::State& state) {
  core::RequestContext ctx = Context();
  for (auto _ : state) {
    std::string json = EncodeCostEventJson(BuildCostEvent(ctx, F().options));
    benchmark::DoNotOptimize(json);
  }
}
BENCHMARK(BM_BuildAndEncode);

void BM_IdHash(benchmark::State& state) {
  for (auto _ : state) {
    std::string h = F().hasher->Hash("user-4417");
    benchmark::DoNotOptimize(h);
  }
}
BENCHMARK(BM_IdHash);

}  // namespace
}  // namespace mangaassist::telemetry

BENCHMARK_MAIN();
