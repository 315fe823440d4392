// Kills a spool writer process (spool_crash_writer) with SIGKILL mid-stream, several times on
// the same directory, and checks that every record it acknowledged is read back exactly once,
// in order, with no torn or foreign record in between.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "gtest/gtest.h"
#include "telemetry/spool.h"

namespace mangaassist::telemetry {
namespace {

namespace fs = std::filesystem;

struct WriterRun {
  uint64_t first = 0;
  std::vector<uint64_t> acked;  // in the order printed
};

// Starts the writer, lets it ack `kill_after` records, SIGKILLs it and collects every ack it
// printed before dying.
WriterRun CrashOnce(const std::string& dir, uint64_t first, int kill_after) {
  WriterRun run{.first = first, .acked = {}};
  int out[2];
  EXPECT_EQ(::pipe(out), 0);
  const std::string first_arg = absl::StrCat(first);  // no allocation after fork
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    ::close(out[0]);
    ::close(out[1]);
    ::execl(SPOOL_CRASH_WRITER, SPOOL_CRASH_WRITER, dir.c_str(), first_arg.c_str(), "0",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out[1]);
  std::string pending;
  bool killed = false;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(out[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      uint64_t number = 0;
      if (line.rfind("ack ", 0) == 0 &&
          absl::SimpleAtoi(core::ToAbsl(std::string_view(line).substr(4)), &number)) {
        run.acked.push_back(number);
      }
    }
    if (!killed && static_cast<int>(run.acked.size()) >= kill_after) {
      ::kill(pid, SIGKILL);
      killed = true;  // keep reading: acks already in the pipe were printed while alive
    }
  }
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "writer exited on its own, status " << status;
  return run;
}

TEST(SpoolCrashTest, EveryAcknowledgedRecordSurvivesSigkillExactlyOnce) {
  std::string tmpl = (fs::temp_directory_path() / "spool_crash_XXXXXX").string();
  const std::string dir = ::mkdtemp(tmpl.data());
  std::mt19937 rng(std::random_device{}());
  std::vector<WriterRun> runs;
  for (int i = 0; i < 5; ++i) {
    const int kill_after = std::uniform_int_distribution<int>(50, 4000)(rng);
    // Each run numbers its records in its own range; the next run recovers the same directory
    // (cutting the torn tail this one left) before appending.
    runs.push_back(CrashOnce(dir, static_cast<uint64_t>(i + 1) * 1'000'000, kill_after));
    ASSERT_GE(static_cast<int>(runs.back().acked.size()), kill_after);
  }

  SpoolOptions options;
  options.dir = dir;
  absl::StatusOr<std::unique_ptr<Spool>> spool = Spool::Open(std::move(options));
  ASSERT_TRUE(spool.ok()) << spool.status();
  std::vector<uint64_t> numbers;
  SpoolCursor at;
  uint64_t expected_seq = 0;
  for (;;) {
    absl::StatusOr<std::vector<SpoolRecord>> batch = (*spool)->ReadFrom(at, 500);
    ASSERT_TRUE(batch.ok()) << batch.status();
    if (batch->empty()) break;
    for (const SpoolRecord& r : *batch) {
      if (expected_seq != 0) {
        EXPECT_EQ(r.seq, expected_seq);
      }
      expected_seq = r.seq + 1;
      // Every record must be a whole one the writer produced.
      const std::string prefix = R"({"schema_version":1,"n":)";
      ASSERT_EQ(r.payload.rfind(prefix, 0), 0u) << r.payload;
      const size_t comma = r.payload.find(',', prefix.size());
      ASSERT_NE(comma, std::string::npos);
      uint64_t n = 0;
      ASSERT_TRUE(absl::SimpleAtoi(
          core::ToAbsl(std::string_view(r.payload).substr(prefix.size(), comma - prefix.size())),
          &n));
      ASSERT_EQ(r.payload.back(), '}');
      numbers.push_back(n);
    }
    at = batch->back().next;
  }

  // Per run: the records present are a gap-free prefix first, first+1, ... that covers every
  // acked number, each exactly once.
  std::map<uint64_t, std::vector<uint64_t>> by_run;
  for (uint64_t n : numbers) by_run[n / 1'000'000].push_back(n);
  for (const WriterRun& run : runs) {
    const std::vector<uint64_t>& got = by_run[run.first / 1'000'000];
    for (size_t k = 0; k < got.size(); ++k) {
      ASSERT_EQ(got[k], run.first + k) << "gap or duplicate in run " << run.first;
    }
    ASSERT_FALSE(run.acked.empty());
    for (size_t k = 0; k < run.acked.size(); ++k) {
      ASSERT_EQ(run.acked[k], run.first + k) << "acks out of order";
    }
    EXPECT_GE(got.size(), run.acked.size()) << "run " << run.first << " lost acknowledged records";
  }
  // Runs appear in order (each recovered run appends after the previous one's records).
  for (size_t k = 1; k < numbers.size(); ++k) {
    ASSERT_LT(numbers[k - 1], numbers[k]);
  }
  (*spool)->Stop();
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace mangaassist::telemetry
