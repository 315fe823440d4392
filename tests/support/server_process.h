// Building blocks of the real-server test harness (redis_server.h, postgres_server.h): a child
// process started with fork/exec and stopped by PID, a free loopback port, a temporary directory.
// Not thread-safe: one owner drives a ChildProcess.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mangaassist::testing {

// The first of `candidates` that is an executable file; a bare name is also searched on $PATH.
// FailedPrecondition naming every place looked at and `install_hint` when none is found.
absl::StatusOr<std::string> FindExecutable(const std::vector<std::string>& candidates,
                                           std::string_view install_hint);

// A port that was free on 127.0.0.1 a moment ago (bound to port 0 and released). Another process
// may take it before the server binds it, so server starts retry on a fresh port.
absl::StatusOr<uint16_t> PickFreeLoopbackPort();

// mkdtemp under $TMPDIR (or /tmp); the caller removes it with RemoveTree().
absl::StatusOr<std::string> MakeTempDir(std::string_view prefix);
void RemoveTree(const std::string& path);

// The last `max_bytes` of a file (a server log, quoted in start-up errors).
std::string TailOfFile(const std::string& path, size_t max_bytes = 2000);

class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();  // Kills (SIGKILL) and reaps a child that is still running.

  // fork + execv(argv[0], argv); stdout and stderr go to `log_path` (appended). The child gets
  // `parent_death_signal` when the test process dies, so a crashed test leaves no server behind.
  absl::Status Spawn(const std::vector<std::string>& argv, const std::string& log_path,
                     int parent_death_signal = 9 /*SIGKILL*/);

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  // Reaps the child if it has exited (non-blocking); true while it still runs.
  bool Alive();
  // Exit status of the last reaped child, waitpid() encoding.
  int wait_status() const { return wait_status_; }
  // Blocks up to `timeout` for the child to exit; true if it did (and was reaped).
  bool WaitExit(std::chrono::milliseconds timeout);
  // Sends `sig` to `target` (default: the child), waits up to `grace`, then SIGKILLs `target` and
  // the child and reaps it. No-op when the child is not running.
  void Stop(int sig, std::chrono::milliseconds grace, pid_t target = 0);

 private:
  pid_t pid_ = -1;
  int wait_status_ = 0;
};

// Runs argv to completion (fork/exec, output to `log_path`), up to `timeout`. Internal on
// non-zero exit or timeout, quoting the log's tail.
absl::Status RunToCompletion(const std::vector<std::string>& argv, const std::string& log_path,
                             std::chrono::milliseconds timeout);

}  // namespace mangaassist::testing
