// RedisServer: a real redis-server for tests, started on a free 127.0.0.1 port in a temporary
// directory (no persistence), stopped by PID. A missing binary is an error, never a skip: the
// test fails with a message that says what to install. Not thread-safe: one owner.
//
//   ASSERT_OK_AND_ASSIGN(auto redis, RedisServer::Start());
//   redisConnect("127.0.0.1", redis->port());
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/support/server_process.h"

namespace mangaassist::testing {

struct RedisServerOptions {
  // Empty: $MANGAASSIST_REDIS_SERVER, then /usr/bin/redis-server, then redis-server on $PATH.
  std::string binary;
  std::chrono::milliseconds start_timeout{10'000};
};

class RedisServer {
 public:
  // Launches `redis-server --port P --bind 127.0.0.1 --save "" --appendonly no --dir TMP` and
  // waits until it answers PING. FailedPrecondition when the binary is missing; Internal (with
  // the server's log) when it does not come up.
  static absl::StatusOr<std::unique_ptr<RedisServer>> Start(const RedisServerOptions& options = {});

  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;
  ~RedisServer();  // Stop()s.

  std::string host() const { return "127.0.0.1"; }
  uint16_t port() const { return port_; }
  pid_t pid() const { return child_.pid(); }
  bool running() const { return child_.running(); }
  const std::string& dir() const { return dir_; }

  // SIGTERM by PID, wait (up to 5 s), SIGKILL fallback; removes the temporary directory.
  // Idempotent.
  void Stop();
  // SIGKILL now, for outage tests; the directory and the port are kept for Restart().
  void Kill();
  // Starts a fresh (empty) server on the same port after Kill(); it may fail if another process
  // took the port meanwhile.
  absl::Status Restart();

 private:
  RedisServer(std::string binary, std::string dir, RedisServerOptions options)
      : binary_(std::move(binary)), dir_(std::move(dir)), options_(std::move(options)) {}
  absl::Status Launch();

  std::string binary_;
  std::string dir_;
  RedisServerOptions options_;
  uint16_t port_ = 0;
  ChildProcess child_;
};

}  // namespace mangaassist::testing
