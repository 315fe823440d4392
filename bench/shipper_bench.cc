// shipper_bench: throughput of the distributed US-07 path on this box, with real servers
// started like the tests do (redis-server, PostgreSQL 15 via runuser): N cost events XADDed to
// the stream, then WORKERS PgShippers of one consumer group draining them into PostgreSQL (binary
// COPY + rollup upsert). Prints events/s for the producer and for the shipper.
//   shipper_bench [EVENTS] [SHIPPER_BATCH] [WORKERS]
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "core/ids.h"
#include "telemetry/pg_shipper.h"
#include "telemetry/pg_sink.h"
#include "telemetry/redis_stream_sink.h"
#include "telemetry/sink_test_util.h"
#include "tests/support/postgres_server.h"
#include "tests/support/redis_server.h"

using namespace mangaassist;  // NOLINT: a benchmark's main

namespace {

// utime + stime of one process, in clock ticks (/proc/PID/stat fields 14 and 15); -1 if gone.
// Also its parent's pid.
int64_t ProcessTicks(pid_t pid, pid_t* parent) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return -1;
  // The command name is in parentheses and may hold spaces: fields start after the last ')'.
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  std::vector<std::string> f;
  while (rest >> field) f.push_back(field);
  if (f.size() < 13) return -1;
  if (parent != nullptr) *parent = static_cast<pid_t>(std::atoi(f[1].c_str()));
  return std::atoll(f[11].c_str()) + std::atoll(f[12].c_str());  // fields 14, 15
}

// CPU ticks used so far by `root` and its children (the postmaster and its backends; runuser
// starts the postmaster, whose children are the backends).
int64_t TreeTicks(pid_t root) {
  int64_t total = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = static_cast<pid_t>(std::atoi(name.c_str()));
    pid_t parent = 0;
    int64_t ticks = ProcessTicks(pid, &parent);
    if (ticks > 0 && (pid == root || parent == root)) total += ticks;
  }
  return total;
}

double SelfCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  const int events = argc > 1 ? std::atoi(argv[1]) : 200'000;
  const int batch = argc > 2 ? std::atoi(argv[2]) : 5'000;
  const int workers = argc > 3 ? std::max(1, std::atoi(argv[3])) : 1;
  auto redis = testing::RedisServer::Start();
  auto pg = testing::PostgresServer::Start();
  if (!redis.ok() || !pg.ok()) {
    std::fprintf(stderr, "cannot start servers: %s %s\n", redis.status().ToString().c_str(),
                 pg.status().ToString().c_str());
    return 1;
  }
  std::mt19937_64 rng(42);
  telemetry::RedisStreamSinkOptions p;
  p.port = (*redis)->port();
  p.max_len = events * 2;
  auto producer = telemetry::NewRedisStreamSink(p);
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  // Events as a live stream has them: in time order at 50,000 events/s, give or take 50 ms of
  // interleaving between gateway replicas, each with a UUIDv7 request id as the gateway makes
  // them (time-ordered too). A 5,000-event batch then covers a tenth of a second of traffic and
  // touches tens of rollup cells; random hours would make it thousands, and random timestamps
  // and ids would insert into random index pages, which no live stream does.
  constexpr int64_t kStartMs = 1'793'000'000'000;
  for (int done = 0; done < events; done += 1000) {
    auto chunk = telemetry::RandomEvents(rng, std::min(1000, events - done), kStartMs, 1, "");
    for (size_t i = 0; i < chunk.size(); ++i) {
      const int64_t k = done + static_cast<int64_t>(i);
      chunk[i].ts_unix_ms = kStartMs + k / 50 + static_cast<int64_t>(rng() % 50);
      chunk[i].request_id = core::NewRequestId();
      // The fields a gateway event has beyond the random ones: hashes, classifier, stages.
      telemetry::CostEvent& e = chunk[i];
      e.user_hash = absl::StrFormat("%016x%016x", rng(), rng());
      e.session_hash = absl::StrFormat("%016x%016x", rng(), rng());
      e.intent_confidence = static_cast<float>(rng() % 1000) / 1000.0f;
      e.intent_version = "i1-0123456789ab";
      e.provider = "bedrock";
      e.flags_hash = "f1-89abcdef0123";
      for (const char* stage : {"admit", "normalize", "intent", "budget", "rate_limit", "template",
                                "cache", "rag", "compress", "call", "cache_fill"}) {
        e.stage_latency_us.emplace_back(stage, static_cast<int64_t>(rng() % 400));
      }
      e.latency_us = static_cast<int64_t>(rng() % 900'000);
    }
    if (absl::Status s = producer->Write(chunk); !s.ok()) {
      std::fprintf(stderr, "produce: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  const double produce_s = std::chrono::duration<double>(Clock::now() - t0).count();

  // `workers` shippers of one consumer group (distinct consumer names), one thread each, as
  // `mangaassist ship --workers N` runs them.
  std::vector<std::unique_ptr<telemetry::PgShipper>> shippers;
  for (int w = 0; w < workers; ++w) {
    telemetry::PgShipperOptions o;
    o.redis_port = (*redis)->port();
    o.pg_conninfo = (*pg)->conninfo();
    o.batch_size = batch;
    o.block = std::chrono::milliseconds(10);
    o.consumer = "bench-" + std::to_string(w);
    auto shipper = telemetry::PgShipper::Create(o);
    if (!shipper.ok()) {
      std::fprintf(stderr, "shipper: %s\n", shipper.status().ToString().c_str());
      return 1;
    }
    shippers.push_back(*std::move(shipper));
  }
  const double tick = 1.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
  const int64_t pg_ticks0 = TreeTicks((*pg)->pid());
  const int64_t redis_ticks0 = ProcessTicks((*redis)->pid(), nullptr);
  const double self0 = SelfCpuSeconds();
  t0 = Clock::now();
  std::atomic<int64_t> shipped{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (auto& shipper : shippers) {
    threads.emplace_back([&, s = shipper.get()] {
      while (shipped.load() < events && !failed.load()) {
        auto n = s->ShipOnce();
        if (!n.ok()) {
          std::fprintf(stderr, "ship: %s\n", n.status().ToString().c_str());
          failed = true;
          return;
        }
        shipped += *n;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  if (failed.load()) return 1;
  const double ship_s = std::chrono::duration<double>(Clock::now() - t0).count();
  // CPU per event of each party: steadier than events/s on a shared machine, and what bounds
  // the throughput on this box (2 cores: at most 2 s of CPU per second).
  const double per_event_us = 1e6 / events;
  const double shipper_us = (SelfCpuSeconds() - self0) * per_event_us;
  const double pg_us =
      static_cast<double>(TreeTicks((*pg)->pid()) - pg_ticks0) * tick * per_event_us;
  const double redis_us =
      static_cast<double>(ProcessTicks((*redis)->pid(), nullptr) - redis_ticks0) * tick *
      per_event_us;
  int64_t inserted = 0;
  for (auto& shipper : shippers) inserted += shipper->inserted();
  std::printf("shipper_bench: %d events, shipper batch %d, %d worker(s)\n", events, batch, workers);
  std::printf("  producer (XADD, pipelined 1000)  %.0f events/s\n", events / produce_s);
  std::printf("  shipper (XREADGROUP → COPY → XACK) %.0f events/s (%.2f s, %lld inserted)\n",
              events / ship_s, ship_s, static_cast<long long>(inserted));
  std::printf(
      "  CPU per shipped event: shipper %.1f µs, postgres %.1f µs, redis %.1f µs, "
      "total %.1f µs (2 cores: at most %.0f events/s)\n",
      shipper_us, pg_us, redis_us, shipper_us + pg_us + redis_us,
      2e6 / (shipper_us + pg_us + redis_us));
  return 0;
}
