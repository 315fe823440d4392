// Spool::Append as the request path sees it: the writer thread runs (writing, fsyncing,
// sealing) while the producer appends. Budget (US-07): <= 3 µs per emitted event.
// BM_AppendLatency also reports the p50 / p99 / max of single Append calls.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "telemetry/spool.h"

namespace mangaassist::telemetry {
namespace {

namespace fs = std::filesystem;

// A cost event's JSON is ~600-900 bytes (event_codec.h).
const std::string& Payload() {
  static const std::string payload =
      R"({"schema_version":1,"request_id":"req-0123456789abcdef","tenant":"default",)" +
      std::string(650, 'x') + "}";
  return payload;
}

struct Fixture {
  explicit Fixture(FsyncPolicy policy) {
    std::string tmpl = (fs::temp_directory_path() / "spool_bench_XXXXXX").string();
    dir = ::mkdtemp(tmpl.data());
    SpoolOptions o;
    o.dir = dir;
    o.fsync_policy = policy;
    o.fsync_interval = absl::Milliseconds(50);
    o.quota_bytes = 8ull << 30;
    spool = std::move(*Spool::Open(o));
  }
  ~Fixture() {
    spool->Stop();
    spool.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string dir;
  std::unique_ptr<Spool> spool;
};

// Pauses every so often to let the writer drain, so the queue (and the disk) stays bounded and
// Append is measured against a live writer rather than an ever-growing vector.
constexpr int64_t kDrainEvery = 4096;

void BM_Append(benchmark::State& state) {
  Fixture f(static_cast<FsyncPolicy>(state.range(0)));
  int64_t n = 0;
  for (auto _ : state) {
    std::string record = Payload();  // the caller's encoded event, moved into the spool
    benchmark::DoNotOptimize(f.spool->Append(std::move(record), RecordClass::kCost));
    if (++n % kDrainEvery == 0) {
      state.PauseTiming();
      (void)f.spool->Flush();
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Append)
    ->Arg(static_cast<int>(FsyncPolicy::kEveryBatch))
    ->Arg(static_cast<int>(FsyncPolicy::kInterval))
    ->Iterations(200'000);

void BM_AppendLatency(benchmark::State& state) {
  Fixture f(FsyncPolicy::kEveryBatch);
  std::vector<int64_t> ns;
  ns.reserve(static_cast<size_t>(state.max_iterations));
  int64_t n = 0;
  for (auto _ : state) {
    std::string record = Payload();
    const auto t0 = std::chrono::steady_clock::now();
    absl::Status s = f.spool->Append(std::move(record), RecordClass::kCost);
    const auto t1 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(s);
    ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
    if (++n % kDrainEvery == 0) {
      state.PauseTiming();
      (void)f.spool->Flush();
      state.ResumeTiming();
    }
  }
  std::sort(ns.begin(), ns.end());
  auto pct = [&ns](double p) {
    return static_cast<double>(ns[std::min(ns.size() - 1, static_cast<size_t>(p * ns.size()))]);
  };
  state.counters["p50_ns"] = pct(0.50);
  state.counters["p99_ns"] = pct(0.99);
  state.counters["p999_ns"] = pct(0.999);
  state.counters["max_ns"] = static_cast<double>(ns.back());
}
BENCHMARK(BM_AppendLatency)->Iterations(200'000);

// Two producer threads contending for the hand-off, as two gateway workers would.
void BM_AppendContended(benchmark::State& state) {
  static Fixture* f = nullptr;
  if (state.thread_index() == 0) f = new Fixture(FsyncPolicy::kInterval);
  for (auto _ : state) {
    std::string record = Payload();
    benchmark::DoNotOptimize(f->spool->Append(std::move(record), RecordClass::kCost));
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    delete f;
    f = nullptr;
  }
}
BENCHMARK(BM_AppendContended)->Threads(2)->Iterations(100'000);

}  // namespace
}  // namespace mangaassist::telemetry

BENCHMARK_MAIN();
