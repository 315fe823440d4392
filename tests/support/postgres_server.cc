#include "tests/support/postgres_server.h"

#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace mangaassist::testing {

namespace {

// Connects once; empty string on success, libpq's message otherwise.
std::string TryConnect(const std::string& conninfo) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  std::string err = PQstatus(conn) == CONNECTION_OK ? "" : PQerrorMessage(conn);
  PQfinish(conn);
  return err;
}

absl::Status Exec(const std::string& conninfo, const std::string& sql) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string err = PQerrorMessage(conn);
    PQfinish(conn);
    return absl::UnavailableError(absl::StrCat("connect: ", err));
  }
  PGresult* res = PQexec(conn, sql.c_str());
  absl::Status status;
  if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
    status = absl::InternalError(absl::StrCat(sql, ": ", PQerrorMessage(conn)));
  }
  PQclear(res);
  PQfinish(conn);
  return status;
}

// First line of postmaster.pid is the postmaster's PID.
pid_t ReadPostmasterPid(const std::string& data_dir) {
  std::ifstream in(data_dir + "/postmaster.pid");
  long pid = -1;
  if (!(in >> pid)) return -1;
  return static_cast<pid_t>(pid);
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresServer>> PostgresServer::Start(
    const PostgresServerOptions& options) {
  std::unique_ptr<PostgresServer> server(new PostgresServer(options));
  if (absl::Status s = server->Init(); !s.ok()) return s;
  return server;
}

absl::Status PostgresServer::Init() {
  const char* hint = "Install the Debian package postgresql (scripts/install-deps.sh).";
  std::vector<std::string> dirs;
  if (!options_.bin_dir.empty()) {
    dirs.push_back(options_.bin_dir);
  } else {
    if (const char* env = std::getenv("MANGAASSIST_PG_BINDIR"); env != nullptr && *env) {
      dirs.push_back(env);
    }
    for (const char* v : {"17", "16", "15"})
      dirs.push_back(absl::StrCat("/usr/lib/postgresql/", v, "/bin"));
  }
  std::vector<std::string> initdbs;
  for (const std::string& d : dirs) initdbs.push_back(d + "/initdb");
  absl::StatusOr<std::string> initdb = FindExecutable(initdbs, hint);
  if (!initdb.ok()) return initdb.status();
  bin_dir_ = initdb->substr(0, initdb->size() - std::string("/initdb").size());
  absl::StatusOr<std::string> postgres = FindExecutable({bin_dir_ + "/postgres"}, hint);
  if (!postgres.ok()) return postgres.status();

  // As root, the cluster belongs to the OS user and runs through runuser (initdb refuses root).
  std::vector<std::string> prefix;
  uid_t uid = 0;
  gid_t gid = 0;
  bool as_root = geteuid() == 0;
  if (as_root) {
    passwd* pw = getpwnam(options_.os_user.c_str());
    if (pw == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("OS user '", options_.os_user,
                       "' does not exist; PostgreSQL cannot run as root. ", hint));
    }
    uid = pw->pw_uid;
    gid = pw->pw_gid;
    absl::StatusOr<std::string> runuser = FindExecutable(
        {"/usr/sbin/runuser", "/sbin/runuser", "runuser"}, "Install util-linux (runuser).");
    if (!runuser.ok()) return runuser.status();
    prefix = {*runuser, "-u", options_.os_user, "--"};
  }

  absl::StatusOr<std::string> dir = MakeTempDir("ma-pg");
  if (!dir.ok()) return dir.status();
  dir_ = *dir;
  if (as_root && chown(dir_.c_str(), uid, gid) != 0) {
    return absl::InternalError(absl::StrCat("chown ", dir_, " to ", options_.os_user));
  }
  const std::string data = dir_ + "/data";
  const std::string log = dir_ + "/postgres.log";

  std::vector<std::string> argv = prefix;
  argv.insert(argv.end(), {*initdb, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E",
                           "UTF8", "--locale=C"});
  if (absl::Status s = RunToCompletion(argv, dir_ + "/initdb.log", std::chrono::seconds(60));
      !s.ok()) {
    return s;
  }

  absl::Status last;
  for (int attempt = 0; attempt < 3; ++attempt) {
    absl::StatusOr<uint16_t> port = PickFreeLoopbackPort();
    if (!port.ok()) return port.status();
    port_ = *port;
    argv = prefix;
    argv.insert(argv.end(), {*postgres, "-D", data, "-p", std::to_string(port_), "-k", dir_, "-c",
                             "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c",
                             "synchronous_commit=off", "-c", "full_page_writes=off"});
    // runuser forwards SIGTERM to postgres (smart shutdown, then SIGKILL after 2 s); postgres run
    // directly gets SIGQUIT (immediate shutdown) if the test process dies.
    if (absl::Status s = child_.Spawn(argv, log, as_root ? SIGTERM : SIGQUIT); !s.ok()) return s;
    const std::string probe = ConninfoFor("postgres");
    auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
    std::string err;
    last = absl::OkStatus();
    while (true) {
      if (!child_.Alive()) {
        last = absl::InternalError(absl::StrCat("postgres exited during start-up on port ", port_,
                                                "; log:\n", TailOfFile(log)));
        break;
      }
      err = TryConnect(probe);
      if (err.empty()) break;
      if (std::chrono::steady_clock::now() >= deadline) {
        child_.Stop(SIGKILL, std::chrono::milliseconds(0));
        last = absl::DeadlineExceededError(absl::StrCat(
            "postgres did not accept connections on port ", port_, " within ",
            options_.start_timeout.count(), " ms (", err, "); log:\n", TailOfFile(log)));
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (last.ok()) break;
  }
  if (!last.ok()) return last;
  postmaster_pid_ = as_root ? ReadPostmasterPid(data) : child_.pid();
  if (postmaster_pid_ <= 0) {
    return absl::InternalError(absl::StrCat("cannot read ", data, "/postmaster.pid"));
  }
  return Exec(ConninfoFor("postgres"), absl::StrCat("CREATE DATABASE ", options_.database));
}

PostgresServer::~PostgresServer() { Stop(); }

std::string PostgresServer::ConninfoFor(std::string_view database) const {
  return absl::StrCat("host=127.0.0.1 port=", port_,
                      " user=postgres dbname=", std::string(database), " connect_timeout=5");
}

absl::StatusOr<std::string> PostgresServer::CreateDatabase(std::string_view name) {
  if (absl::Status s =
          Exec(ConninfoFor("postgres"), absl::StrCat("CREATE DATABASE ", std::string(name)));
      !s.ok()) {
    return s;
  }
  return ConninfoFor(name);
}

void PostgresServer::Stop() {
  child_.Stop(postmaster_pid_ > 0 ? SIGINT : SIGTERM, std::chrono::seconds(10), postmaster_pid_);
  postmaster_pid_ = -1;
  RemoveTree(dir_);
  dir_.clear();
}

}  // namespace mangaassist::testing
