// The embedded audit trail: one SQLite file (WAL), appends serialized across processes by
// BEGIN IMMEDIATE (the database write lock), append-only by triggers.
#include <sqlite3.h>

#include <optional>
#include <string_view>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "control/audit.h"
#include "control/audit_chain.h"

namespace mangaassist::control {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS audit_log (
  seq INTEGER PRIMARY KEY,
  ts_ms INTEGER NOT NULL,
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
  id INTEGER PRIMARY KEY CHECK (id = 1),
  seq INTEGER NOT NULL,
  hash TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_head_forward_only BEFORE UPDATE ON audit_head
  WHEN NEW.seq <= OLD.seq BEGIN SELECT RAISE(ABORT, 'audit_head only moves forward'); END;
CREATE TRIGGER IF NOT EXISTS audit_head_no_delete BEFORE DELETE ON audit_head
  BEGIN SELECT RAISE(ABORT, 'audit_head cannot be deleted'); END;
)sql";

constexpr const char* kColumns =
    "seq, ts_ms, action, subject, before_value, after_value, actor, reason, request_id, "
    "prev_hash, hash";

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() { sqlite3_finalize(stmt_); }
  sqlite3_stmt* get() const { return stmt_; }
  bool ok() const { return stmt_ != nullptr; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

std::string Text(sqlite3_stmt* s, int i) {
  const unsigned char* t = sqlite3_column_text(s, i);
  return std::string(t ? reinterpret_cast<const char*>(t) : "",
                     static_cast<size_t>(sqlite3_column_bytes(s, i)));
}

void BindText(sqlite3_stmt* s, int i, std::string_view v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

AuditEntry ReadEntry(sqlite3_stmt* s) {
  AuditEntry e;
  e.seq = sqlite3_column_int64(s, 0);
  e.ts_ms = sqlite3_column_int64(s, 1);
  e.record.action = Text(s, 2);
  e.record.subject = Text(s, 3);
  e.record.before = Text(s, 4);
  e.record.after = Text(s, 5);
  e.record.who.actor = Text(s, 6);
  e.record.who.reason = Text(s, 7);
  e.record.who.request_id = Text(s, 8);
  e.prev_hash = Text(s, 9);
  e.hash = Text(s, 10);
  return e;
}

class SqliteAuditLog final : public AuditLog {
 public:
  SqliteAuditLog(std::string path, const core::Clock* clock)
      : path_(std::move(path)), clock_(clock != nullptr ? clock : &core::SystemClock()) {}
  ~SqliteAuditLog() override { sqlite3_close(db_); }

  absl::Status Open() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (sqlite3_open_v2(path_.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot open audit log ", path_, ": ", db_ ? sqlite3_errmsg(db_) : "out of memory"));
    }
    sqlite3_busy_timeout(db_, 10'000);
    // WAL: Verify() reads one consistent snapshot while others append. FULL: an entry that was
    // acknowledged survives a power cut.
    if (path_ != ":memory:") {
      if (absl::Status s = Exec("PRAGMA journal_mode=WAL"); !s.ok()) return s;
    }
    if (absl::Status s = Exec("PRAGMA synchronous=FULL"); !s.ok()) return s;
    // Several processes may create the schema at once: do it under the write lock.
    if (absl::Status s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
    absl::Status s = Exec(kSchema);
    if (s.ok()) return Exec("COMMIT");
    (void)Exec("ROLLBACK");
    return s;
  }

  absl::StatusOr<AuditEntry> Append(const AuditRecord& r) override ABSL_LOCKS_EXCLUDED(mu_) {
    if (absl::Status s = internal::ValidateRecord(r); !s.ok()) return s;
    absl::MutexLock lock(&mu_);
    if (absl::Status s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
    absl::StatusOr<AuditEntry> entry = AppendInTransaction(r);
    absl::Status s = entry.ok() ? Exec("COMMIT") : entry.status();
    if (!s.ok()) {
      if (!sqlite3_get_autocommit(db_)) (void)Exec("ROLLBACK");
      return s;
    }
    return entry;
  }

  absl::StatusOr<std::vector<AuditEntry>> List(int64_t after_seq, int limit) override
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    Stmt q(db_,
           absl::StrCat("SELECT ", kColumns, " FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?")
               .c_str());
    if (!q.ok()) return Error("list");
    sqlite3_bind_int64(q.get(), 1, after_seq);
    sqlite3_bind_int64(q.get(), 2, limit < 0 ? 0 : limit);
    std::vector<AuditEntry> out;
    int rc;
    while ((rc = sqlite3_step(q.get())) == SQLITE_ROW) out.push_back(ReadEntry(q.get()));
    if (rc != SQLITE_DONE) return Error("list");
    return out;
  }

  absl::StatusOr<VerifyResult> Verify() override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    // One read transaction: entries and head from the same snapshot.
    if (absl::Status s = Exec("BEGIN"); !s.ok()) return s;
    absl::StatusOr<VerifyResult> result = VerifyInTransaction();
    (void)Exec(result.ok() ? "COMMIT" : "ROLLBACK");
    return result;
  }

 private:
  absl::StatusOr<AuditEntry> AppendInTransaction(const AuditRecord& r)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto head = ReadHead();
    if (!head.ok()) return head.status();
    AuditEntry e;
    e.record = r;
    if (head->has_value()) {
      e.seq = (*head)->seq + 1;
      e.prev_hash = (*head)->hash;
    } else {
      // No head record: continue after the last row (none: the genesis).
      Stmt last(db_, "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1");
      if (!last.ok()) return Error("read last entry");
      int rc = sqlite3_step(last.get());
      if (rc == SQLITE_ROW) {
        e.seq = sqlite3_column_int64(last.get(), 0) + 1;
        e.prev_hash = Text(last.get(), 1);
      } else if (rc == SQLITE_DONE) {
        e.seq = 1;
        e.prev_hash = std::string(kGenesisHash);
      } else {
        return Error("read last entry");
      }
    }
    e.ts_ms = absl::ToUnixMillis(clock_->Now());
    e.hash = AuditEntryHash(e.prev_hash, e.seq, e.ts_ms, e.record);
    Stmt ins(db_, absl::StrCat("INSERT INTO audit_log (", kColumns,
                               ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
                      .c_str());
    if (!ins.ok()) return Error("prepare insert");
    int i = 1;
    sqlite3_bind_int64(ins.get(), i++, e.seq);
    sqlite3_bind_int64(ins.get(), i++, e.ts_ms);
    for (const std::string* f : std::initializer_list<const std::string*>{
             &r.action, &r.subject, &r.before, &r.after, &r.who.actor, &r.who.reason,
             &r.who.request_id, &e.prev_hash, &e.hash}) {
      BindText(ins.get(), i++, *f);
    }
    if (sqlite3_step(ins.get()) != SQLITE_DONE) return Error("insert entry");
    Stmt up(db_,
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash");
    if (!up.ok()) return Error("prepare head update");
    sqlite3_bind_int64(up.get(), 1, e.seq);
    BindText(up.get(), 2, e.hash);
    if (sqlite3_step(up.get()) != SQLITE_DONE) return Error("update head");
    return e;
  }

  absl::StatusOr<std::optional<internal::AuditHead>> ReadHead() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Stmt q(db_, "SELECT seq, hash FROM audit_head WHERE id = 1");
    if (!q.ok()) return Error("read head");
    int rc = sqlite3_step(q.get());
    if (rc == SQLITE_DONE) return std::optional<internal::AuditHead>();
    if (rc != SQLITE_ROW) return Error("read head");
    return std::optional<internal::AuditHead>(
        internal::AuditHead{sqlite3_column_int64(q.get(), 0), Text(q.get(), 1)});
  }

  absl::StatusOr<VerifyResult> VerifyInTransaction() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    internal::ChainVerifier verifier;
    Stmt q(db_, absl::StrCat("SELECT ", kColumns, " FROM audit_log ORDER BY seq").c_str());
    if (!q.ok()) return Error("verify");
    int rc;
    while ((rc = sqlite3_step(q.get())) == SQLITE_ROW) verifier.Add(ReadEntry(q.get()));
    if (rc != SQLITE_DONE) return Error("verify");
    auto head = ReadHead();
    if (!head.ok()) return head.status();
    return verifier.Finish(*head);
  }

  absl::Status Exec(const char* sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err != nullptr ? err : sqlite3_errmsg(db_);
      sqlite3_free(err);
      return absl::UnavailableError(absl::StrCat("audit log ", path_, ": ", msg));
    }
    return absl::OkStatus();
  }

  absl::Status Error(std::string_view what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return absl::UnavailableError(
        absl::StrCat("audit log ", path_, ": ", std::string(what), ": ", sqlite3_errmsg(db_)));
  }

  const std::string path_;
  const core::Clock* const clock_;
  absl::Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace

absl::StatusOr<std::unique_ptr<AuditLog>> OpenSqliteAuditLog(const std::string& path,
                                                             const core::Clock* clock) {
  auto log = std::make_unique<SqliteAuditLog>(path, clock);
  if (absl::Status s = log->Open(); !s.ok()) return s;
  return log;
}

}  // namespace mangaassist::control
