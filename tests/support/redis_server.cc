#include "tests/support/redis_server.h"

#include <hiredis/hiredis.h>
#include <signal.h>

#include <cstdlib>
#include <cstring>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace mangaassist::testing {

namespace {

// True when the server on `port` answers PING with PONG within 200 ms.
bool Pings(uint16_t port) {
  timeval tv{0, 200'000};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
  if (c == nullptr) return false;
  bool ok = false;
  if (c->err == 0 && redisSetTimeout(c, tv) == REDIS_OK) {
    auto* reply = static_cast<redisReply*>(redisCommand(c, "PING"));
    ok = reply != nullptr && reply->type == REDIS_REPLY_STATUS &&
         std::strcmp(reply->str, "PONG") == 0;
    if (reply != nullptr) freeReplyObject(reply);
  }
  redisFree(c);
  return ok;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisServer>> RedisServer::Start(const RedisServerOptions& options) {
  std::vector<std::string> candidates;
  if (!options.binary.empty()) {
    candidates.push_back(options.binary);
  } else {
    if (const char* env = std::getenv("MANGAASSIST_REDIS_SERVER"); env != nullptr && *env) {
      candidates.push_back(env);
    }
    candidates.push_back("/usr/bin/redis-server");
    candidates.push_back("redis-server");
  }
  absl::StatusOr<std::string> binary = FindExecutable(
      candidates, "Install the Debian package redis-server (scripts/install-deps.sh).");
  if (!binary.ok()) return binary.status();
  absl::StatusOr<std::string> dir = MakeTempDir("ma-redis");
  if (!dir.ok()) return dir.status();
  std::unique_ptr<RedisServer> server(new RedisServer(*binary, *dir, options));
  // A port picked free can be taken before redis binds it: retry on a fresh one.
  absl::Status last;
  for (int attempt = 0; attempt < 3; ++attempt) {
    absl::StatusOr<uint16_t> port = PickFreeLoopbackPort();
    if (!port.ok()) return port.status();
    server->port_ = *port;
    last = server->Launch();
    if (last.ok()) return server;
  }
  return last;
}

RedisServer::~RedisServer() { Stop(); }

absl::Status RedisServer::Launch() {
  std::string log = dir_ + "/redis.log";
  std::vector<std::string> argv = {binary_,  "--port",       std::to_string(port_),
                                   "--bind", "127.0.0.1",    "--save",
                                   "",       "--appendonly", "no",
                                   "--dir",  dir_,           "--daemonize",
                                   "no"};
  if (absl::Status s = child_.Spawn(argv, log); !s.ok()) return s;
  auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!child_.Alive()) {
      return absl::InternalError(absl::StrCat("redis-server exited during start-up on port ", port_,
                                              "; log:\n", TailOfFile(log)));
    }
    if (Pings(port_)) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  child_.Stop(SIGKILL, std::chrono::milliseconds(0));
  return absl::DeadlineExceededError(absl::StrCat("redis-server did not answer PING on port ",
                                                  port_, " within ", options_.start_timeout.count(),
                                                  " ms; log:\n", TailOfFile(log)));
}

void RedisServer::Stop() {
  child_.Stop(SIGTERM, std::chrono::seconds(5));
  RemoveTree(dir_);
  dir_.clear();
}

void RedisServer::Kill() { child_.Stop(SIGKILL, std::chrono::milliseconds(0)); }

absl::Status RedisServer::Restart() {
  if (child_.running()) return absl::FailedPreconditionError("redis-server is still running");
  if (dir_.empty()) return absl::FailedPreconditionError("redis-server was stopped");
  return Launch();
}

}  // namespace mangaassist::testing
