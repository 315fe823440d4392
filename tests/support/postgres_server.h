// PostgresServer: a real PostgreSQL for tests: initdb into a temporary directory, postgres on a
// free 127.0.0.1 port (fsync off, socket in the temporary directory), stopped by PID with a fast
// shutdown (SIGINT). initdb refuses root, so under root both run as the `postgres` user through
// runuser. A missing binary is an error, never a skip. Not thread-safe: one owner.
//
//   ASSERT_OK_AND_ASSIGN(auto pg, PostgresServer::Start());
//   PQconnectdb(pg->conninfo().c_str());
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/support/server_process.h"

namespace mangaassist::testing {

struct PostgresServerOptions {
  // Directory of initdb and postgres. Empty: $MANGAASSIST_PG_BINDIR, else the first of
  // /usr/lib/postgresql/{17,16,15}/bin holding both.
  std::string bin_dir;
  // Database created after start-up; conninfo() points at it.
  std::string database = "mangaassist_test";
  // The OS user that runs the server when the test runs as root.
  std::string os_user = "postgres";
  std::chrono::milliseconds start_timeout{20'000};
};

class PostgresServer {
 public:
  // initdb, start, wait until a libpq connection succeeds, CREATE DATABASE. FailedPrecondition
  // when binaries or the OS user are missing; Internal (with the log) when start-up fails.
  static absl::StatusOr<std::unique_ptr<PostgresServer>> Start(
      const PostgresServerOptions& options = {});

  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;
  ~PostgresServer();  // Stop()s.

  uint16_t port() const { return port_; }
  // "host=127.0.0.1 port=P user=postgres dbname=<database> connect_timeout=5".
  std::string conninfo() const { return ConninfoFor(options_.database); }
  std::string ConninfoFor(std::string_view database) const;
  // The postmaster's PID (not runuser's).
  pid_t pid() const { return postmaster_pid_; }
  bool running() const { return child_.running(); }

  // A fresh empty database (per-test isolation, ~tens of ms); returns its conninfo.
  absl::StatusOr<std::string> CreateDatabase(std::string_view name);

  // SIGINT (fast shutdown) to the postmaster, wait (up to 10 s), SIGKILL fallback; removes the
  // temporary directory. Idempotent.
  void Stop();

 private:
  explicit PostgresServer(PostgresServerOptions options) : options_(std::move(options)) {}
  absl::Status Init();

  PostgresServerOptions options_;
  std::string bin_dir_;
  std::string dir_;
  uint16_t port_ = 0;
  pid_t postmaster_pid_ = -1;
  ChildProcess child_;  // runuser (as root) or postgres itself
};

}  // namespace mangaassist::testing
