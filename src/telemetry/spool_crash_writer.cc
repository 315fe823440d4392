// spool_crash_writer DIR FIRST COUNT: opens the spool in DIR (recovering it), appends cost
// records numbered FIRST, FIRST+1, ... (COUNT of them, 0: until killed) with the kEveryBatch
// policy, and writes "ack N\n" to stdout for every record as soon as it is durable. Used by
// spool_crash_test, which SIGKILLs it mid-stream and checks that every acked number survived.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <random>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "telemetry/spool.h"

namespace {

using mangaassist::telemetry::FsyncPolicy;
using mangaassist::telemetry::RecordClass;
using mangaassist::telemetry::Spool;
using mangaassist::telemetry::SpoolOptions;

constexpr uint64_t kWindow = 2000;

absl::Mutex mu;
std::deque<std::pair<uint64_t, uint64_t>> pending ABSL_GUARDED_BY(mu);  // (seq, number)

void WriteOut(const std::string& text) {
  std::string_view rest = text;
  while (!rest.empty()) {
    ssize_t n = ::write(STDOUT_FILENO, rest.data(), rest.size());
    if (n <= 0) std::_Exit(3);  // the test went away
    rest.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s DIR FIRST COUNT\n", argv[0]);
    return 2;
  }
  const uint64_t first = std::strtoull(argv[2], nullptr, 10);
  const uint64_t count = std::strtoull(argv[3], nullptr, 10);

  SpoolOptions options;
  options.dir = argv[1];
  options.segment_bytes = 32 << 10;  // small: sealing happens under the kill too
  options.fsync_policy = FsyncPolicy::kEveryBatch;
  options.on_durable = [](uint64_t durable_seq) {
    std::string out;
    {
      absl::MutexLock lock(&mu);
      while (!pending.empty() && pending.front().first <= durable_seq) {
        absl::StrAppend(&out, "ack ", pending.front().second, "\n");
        pending.pop_front();
      }
    }
    if (!out.empty()) WriteOut(out);
  };
  absl::StatusOr<std::unique_ptr<Spool>> spool = Spool::Open(std::move(options));
  if (!spool.ok()) {
    std::fprintf(stderr, "open: %s\n", spool.status().ToString().c_str());
    return 1;
  }
  WriteOut("ready\n");

  std::mt19937_64 rng(first);
  for (uint64_t i = 0; count == 0 || i < count; ++i) {
    const uint64_t number = first + i;
    // A JSON-ish cost event of varying length, so records straddle pages and segment ends.
    std::string record = absl::StrCat(R"({"schema_version":1,"n":)", number, R"(,"pad":")",
                                      std::string(rng() % 400, 'x'), "\"}");
    uint64_t seq = 0;
    {
      // The mutex spans Append so the callback cannot see a durable seq before it is pending.
      absl::MutexLock lock(&mu);
      absl::Status status = (*spool)->Append(std::move(record), RecordClass::kCost, &seq);
      if (!status.ok()) {
        std::fprintf(stderr, "append: %s\n", status.ToString().c_str());
        return 1;
      }
      pending.emplace_back(seq, number);
    }
    // Keep a bounded window in flight, like a gateway whose load the disk can follow.
    if (seq > kWindow) {
      if (absl::Status s = (*spool)->WaitDurable(seq - kWindow); !s.ok()) {
        std::fprintf(stderr, "wait: %s\n", s.ToString().c_str());
        return 1;
      }
    }
  }
  (*spool)->Stop();
  return 0;
}
