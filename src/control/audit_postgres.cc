// The distributed audit trail: PostgreSQL tables shared by every replica. An append takes a
// transaction-scoped advisory lock, reads the head, inserts the entry and moves the head, so
// appenders on any number of connections keep one linear chain. UPDATE, DELETE and TRUNCATE
// are refused by triggers (a superuser can still drop them; Verify() catches what follows).
#include <libpq-fe.h>

#include <optional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "control/audit.h"
#include "control/audit_chain.h"

namespace mangaassist::control {
namespace {

// Any fixed 64-bit numbers: the advisory locks for schema creation and for appends.
constexpr const char* kSchemaLock = "SELECT pg_advisory_xact_lock(5558212434001)";
constexpr const char* kAppendLock = "SELECT pg_advisory_xact_lock(5558212434002)";

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS audit_log (
  seq BIGINT PRIMARY KEY,
  ts_ms BIGINT NOT NULL,
  action TEXT NOT NULL,
  subject TEXT NOT NULL,
  before_value TEXT NOT NULL,
  after_value TEXT NOT NULL,
  actor TEXT NOT NULL,
  reason TEXT NOT NULL,
  request_id TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit_head (
  id INT PRIMARY KEY CHECK (id = 1),
  seq BIGINT NOT NULL,
  hash TEXT NOT NULL);
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP;
END $$;
CREATE OR REPLACE FUNCTION audit_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'UPDATE' OR NEW.seq <= OLD.seq THEN
    RAISE EXCEPTION 'audit_head only moves forward (% refused)', TG_OP;
  END IF;
  RETURN NEW;
END $$;
CREATE OR REPLACE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE OR REPLACE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
CREATE OR REPLACE TRIGGER audit_head_forward_only BEFORE UPDATE OR DELETE ON audit_head
  FOR EACH ROW EXECUTE FUNCTION audit_head_forward_only();
CREATE OR REPLACE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
)sql";

constexpr const char* kColumns =
    "seq, ts_ms, action, subject, before_value, after_value, actor, reason, request_id, "
    "prev_hash, hash";

struct Result {
  explicit Result(PGresult* r) : res(r) {}
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;
  ~Result() { PQclear(res); }
  PGresult* res;
};

int64_t Int(PGresult* r, int row, int col) {
  int64_t v = 0;
  (void)absl::SimpleAtoi(PQgetvalue(r, row, col), &v);
  return v;
}

std::string Str(PGresult* r, int row, int col) {
  return std::string(PQgetvalue(r, row, col), static_cast<size_t>(PQgetlength(r, row, col)));
}

AuditEntry ReadEntry(PGresult* r, int row) {
  AuditEntry e;
  e.seq = Int(r, row, 0);
  e.ts_ms = Int(r, row, 1);
  e.record.action = Str(r, row, 2);
  e.record.subject = Str(r, row, 3);
  e.record.before = Str(r, row, 4);
  e.record.after = Str(r, row, 5);
  e.record.who.actor = Str(r, row, 6);
  e.record.who.reason = Str(r, row, 7);
  e.record.who.request_id = Str(r, row, 8);
  e.prev_hash = Str(r, row, 9);
  e.hash = Str(r, row, 10);
  return e;
}

class PostgresAuditLog final : public AuditLog {
 public:
  PostgresAuditLog(std::string conninfo, const core::Clock* clock)
      : conninfo_(std::move(conninfo)), clock_(clock != nullptr ? clock : &core::SystemClock()) {}
  ~PostgresAuditLog() override {
    if (conn_ != nullptr) PQfinish(conn_);
  }

  absl::Status Open() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (absl::Status s = EnsureConnected(); !s.ok()) return s;
    return InTransaction([&]() -> absl::Status {
      if (absl::Status s = Exec(kSchemaLock); !s.ok()) return s;
      return Exec(kSchema);
    });
  }

  absl::StatusOr<AuditEntry> Append(const AuditRecord& r) override ABSL_LOCKS_EXCLUDED(mu_) {
    if (absl::Status s = internal::ValidateRecord(r); !s.ok()) return s;
    absl::MutexLock lock(&mu_);
    if (absl::Status s = EnsureConnected(); !s.ok()) return s;
    AuditEntry e;
    absl::Status s = InTransaction([&]() -> absl::Status {
      if (absl::Status l = Exec(kAppendLock); !l.ok()) return l;
      Result head(PQexec(conn_, "SELECT seq, hash FROM audit_head WHERE id = 1"));
      if (PQresultStatus(head.res) != PGRES_TUPLES_OK) return Error("read head", head.res);
      if (PQntuples(head.res) == 1) {
        e.seq = Int(head.res, 0, 0) + 1;
        e.prev_hash = Str(head.res, 0, 1);
      } else {
        Result last(PQexec(conn_, "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"));
        if (PQresultStatus(last.res) != PGRES_TUPLES_OK) return Error("read last", last.res);
        if (PQntuples(last.res) == 1) {
          e.seq = Int(last.res, 0, 0) + 1;
          e.prev_hash = Str(last.res, 0, 1);
        } else {
          e.seq = 1;
          e.prev_hash = std::string(kGenesisHash);
        }
      }
      e.record = r;
      e.ts_ms = absl::ToUnixMillis(clock_->Now());
      e.hash = AuditEntryHash(e.prev_hash, e.seq, e.ts_ms, e.record);
      const std::string seq = absl::StrCat(e.seq), ts = absl::StrCat(e.ts_ms);
      const char* values[] = {seq.c_str(),         ts.c_str(),           r.action.c_str(),
                              r.subject.c_str(),   r.before.c_str(),     r.after.c_str(),
                              r.who.actor.c_str(), r.who.reason.c_str(), r.who.request_id.c_str(),
                              e.prev_hash.c_str(), e.hash.c_str()};
      const std::string insert =
          absl::StrCat("INSERT INTO audit_log (", kColumns,
                       ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)");
      Result ins(PQexecParams(conn_, insert.c_str(), 11, nullptr, values, nullptr, nullptr, 0));
      if (PQresultStatus(ins.res) != PGRES_COMMAND_OK) return Error("insert entry", ins.res);
      const char* head_values[] = {seq.c_str(), e.hash.c_str()};
      Result up(
          PQexecParams(conn_,
                       "INSERT INTO audit_head (id, seq, hash) VALUES (1, $1, $2) "
                       "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                       2, nullptr, head_values, nullptr, nullptr, 0));
      if (PQresultStatus(up.res) != PGRES_COMMAND_OK) return Error("update head", up.res);
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    return e;
  }

  absl::StatusOr<std::vector<AuditEntry>> List(int64_t after_seq, int limit) override
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (absl::Status s = EnsureConnected(); !s.ok()) return s;
    const std::string after = absl::StrCat(after_seq), lim = absl::StrCat(limit < 0 ? 0 : limit);
    const char* values[] = {after.c_str(), lim.c_str()};
    const std::string sql =
        absl::StrCat("SELECT ", kColumns, " FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2");
    Result r(PQexecParams(conn_, sql.c_str(), 2, nullptr, values, nullptr, nullptr, 0));
    if (PQresultStatus(r.res) != PGRES_TUPLES_OK) return Error("list", r.res);
    std::vector<AuditEntry> out;
    out.reserve(static_cast<size_t>(PQntuples(r.res)));
    for (int i = 0; i < PQntuples(r.res); ++i) out.push_back(ReadEntry(r.res, i));
    return out;
  }

  absl::StatusOr<VerifyResult> Verify() override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (absl::Status s = EnsureConnected(); !s.ok()) return s;
    VerifyResult result;
    // REPEATABLE READ: entries and head from one snapshot, whatever others append meanwhile.
    absl::Status s = InTransaction(
        [&]() -> absl::Status {
          internal::ChainVerifier verifier;
          const std::string sql = absl::StrCat("SELECT ", kColumns, " FROM audit_log ORDER BY seq");
          Result rows(PQexec(conn_, sql.c_str()));
          if (PQresultStatus(rows.res) != PGRES_TUPLES_OK) return Error("verify", rows.res);
          for (int i = 0; i < PQntuples(rows.res); ++i) verifier.Add(ReadEntry(rows.res, i));
          Result head(PQexec(conn_, "SELECT seq, hash FROM audit_head WHERE id = 1"));
          if (PQresultStatus(head.res) != PGRES_TUPLES_OK) return Error("read head", head.res);
          std::optional<internal::AuditHead> h;
          if (PQntuples(head.res) == 1) {
            h = internal::AuditHead{Int(head.res, 0, 0), Str(head.res, 0, 1)};
          }
          result = verifier.Finish(h);
          return absl::OkStatus();
        },
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (!s.ok()) return s;
    return result;
  }

 private:
  absl::Status EnsureConnected() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK) return absl::OkStatus();
    if (conn_ != nullptr) PQfinish(conn_);
    conn_ = PQconnectdb(conninfo_.c_str());
    if (PQstatus(conn_) != CONNECTION_OK) {
      std::string msg = PQerrorMessage(conn_);
      PQfinish(conn_);
      conn_ = nullptr;
      return absl::UnavailableError(absl::StrCat("PostgreSQL audit log: connect: ", msg));
    }
    // IF NOT EXISTS notices are expected, not news.
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
    return absl::OkStatus();
  }

  template <typename Body>
  absl::Status InTransaction(Body body, const char* begin = "BEGIN")
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (absl::Status s = Exec(begin); !s.ok()) return s;
    absl::Status s = body();
    if (s.ok()) s = Exec("COMMIT");
    if (!s.ok()) {
      Result r(PQexec(conn_, "ROLLBACK"));  // best effort; a broken connection reconnects next time
    }
    return s;
  }

  absl::Status Exec(const char* sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Result r(PQexec(conn_, sql));
    ExecStatusType st = PQresultStatus(r.res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return Error("exec", r.res);
    return absl::OkStatus();
  }

  absl::Status Error(const char* what, PGresult* r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::string msg = r != nullptr ? PQresultErrorMessage(r) : PQerrorMessage(conn_);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    if (PQstatus(conn_) != CONNECTION_OK) {
      return absl::UnavailableError(absl::StrCat("PostgreSQL audit log: ", what, ": ", msg));
    }
    return absl::InternalError(absl::StrCat("PostgreSQL audit log: ", what, ": ", msg));
  }

  const std::string conninfo_;
  const core::Clock* const clock_;
  absl::Mutex mu_;
  PGconn* conn_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace

absl::StatusOr<std::unique_ptr<AuditLog>> OpenPostgresAuditLog(const std::string& conninfo,
                                                               const core::Clock* clock) {
  if (conninfo.empty()) return absl::InvalidArgumentError("audit.postgres: empty conninfo");
  auto log = std::make_unique<PostgresAuditLog>(conninfo, clock);
  if (absl::Status s = log->Open(); !s.ok()) return s;
  return log;
}

}  // namespace mangaassist::control
