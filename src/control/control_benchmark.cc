// US-08's request-path cost (issue 7 target: an in-process limiter decision ≤ 2 µs; the Redis
// path one round trip for limits + hold, counted by store_test's RoundTrip test). GCRA
// arithmetic alone; the in-process store deciding a request's three limits (user requests, user
// tokens, IP) over 10,000 users; the same plus a budget hold and its settle; and the
// TrafficControl facade as the reserve and settle stages call it (key building, breaker).
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include "benchmark/benchmark.h"
#include "control/store.h"
#include "control/traffic.h"
#include "core/config.h"

namespace mangaassist::control {
namespace {

constexpr int64_t kSecond = 1'000'000'000;
constexpr int kUsers = 10'000;

void BM_GcraDecide(benchmark::State& state) {
  const GcraLimit l{60, 60 * kSecond, 20};
  int64_t tat = 0, now = 0;
  for (auto _ : state) {
    GcraResult r = GcraDecide(l, tat, now, 1);
    tat = r.allowed ? r.tat_ns : tat;
    now += kSecond;
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_GcraDecide);

std::vector<std::vector<LimitCheck>> UserLimits() {
  std::vector<std::vector<LimitCheck>> all(kUsers);
  for (int u = 0; u < kUsers; ++u) {
    const std::string id = std::to_string(u);
    all[u] = {{"rate:per_user:user:default:u" + id + ":req", {60, 60 * kSecond, 20}, 1},
              {"rate:per_user:user:default:u" + id + ":tok", {200'000, 60 * kSecond, 200'000}, 800},
              {"rate:per_ip:ip:10.0." + std::to_string(u % 250) + ":req",
               {6000, 60 * kSecond, 2000}, 1}};
  }
  return all;
}

// One decision: three GCRA limits of one request, all-or-nothing.
void BM_MemoryStoreLimits(benchmark::State& state) {
  auto store = NewMemoryStore();
  const auto limits = UserLimits();
  AcquireRequest req;
  req.hold_id = "r";
  int64_t now = 1'795'000'000 * kSecond;
  size_t i = 0;
  for (auto _ : state) {
    req.limits = limits[i++ % kUsers];
    req.now_ns = (now += 1000);
    benchmark::DoNotOptimize(store->Acquire(req));
  }
}
BENCHMARK(BM_MemoryStoreLimits)->ThreadRange(1, 4);

// Limits + a hold on two caps, then the settle that turns it into spend.
void BM_MemoryStoreHoldAndSettle(benchmark::State& state) {
  auto store = NewMemoryStore();
  const auto limits = UserLimits();
  const std::vector<CapCheck> caps = {
      {"cost:2026-11-27:deploy", core::Money::FromNanos(int64_t{1} << 60)},
      {"cost:2026-11-27:tenant:default", core::Money::FromNanos(int64_t{1} << 60)}};
  AcquireRequest req;
  req.caps = caps;
  req.amount = core::Money::FromNanos(15'000'000);
  req.hold_ttl_ns = 600 * kSecond;
  req.velocity_minutes = 10;
  SettleRequest settle;
  settle.caps = caps;
  settle.held = req.amount;
  settle.actual = core::Money::FromNanos(9'000'000);
  int64_t now = 1'795'000'000 * kSecond;
  size_t i = 0;
  for (auto _ : state) {
    req.hold_id = settle.hold_id = "req-" + std::to_string(i);
    req.limits = limits[i++ % kUsers];
    req.now_ns = settle.now_ns = (now += 1000);
    benchmark::DoNotOptimize(store->Acquire(req));
    benchmark::DoNotOptimize(store->Settle(settle));
  }
}
BENCHMARK(BM_MemoryStoreHoldAndSettle);

// What the reserve and settle stages do per request, embedded: degrade, build keys, acquire,
// observe the breaker; settle (and queue the ledger row).
void BM_TrafficReserveSettle(benchmark::State& state) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("control-bench-" + std::to_string(getpid()));
  core::Config config = core::DefaultConfig();
  config.budget.ledger_sqlite_path = (dir / "ledger.db").string();
  config.budget.daily_cap = core::Money::FromNanos(int64_t{1} << 60);
  config.rate_limits.rules = {
      core::RateRuleConfig{"per_user", core::RateScope::kUser, {}, 1'000'000, 1'000'000,
                           100'000'000, 100'000'000, absl::Minutes(1)},
      core::RateRuleConfig{"per_ip", core::RateScope::kIp, {}, 1'000'000, 1'000'000, 0, 0,
                           absl::Minutes(1)}};
  auto traffic = TrafficControl::Create(config, &core::SystemClock(), nullptr, nullptr);
  if (!traffic.ok()) {
    state.SkipWithError(std::string(traffic.status().message()).c_str());
    return;
  }
  size_t i = 0;
  for (auto _ : state) {
    core::RequestContext ctx;
    ctx.request_id = "bench-" + std::to_string(i);
    ctx.user_id = "u" + std::to_string(i++ % kUsers);
    ctx.client_ip = "10.0.0.1";
    (*traffic)->Degrade(ctx, {});
    benchmark::DoNotOptimize((*traffic)->Acquire(ctx, {}, core::Money::FromNanos(15'000'000), 900));
    ctx.cost.Add(core::CostComponent::kLlmOutput, core::Money::FromNanos(9'000'000));
    (*traffic)->Settle(ctx);
  }
  traffic->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_TrafficReserveSettle);

}  // namespace
}  // namespace mangaassist::control

BENCHMARK_MAIN();
