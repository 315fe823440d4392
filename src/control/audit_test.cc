// The one suite every AuditLog passes: SQLite on a temporary file and PostgreSQL started by the
// test harness (a fresh database per test). Tampering goes through a raw connection of each
// store, as an attacker with database access would: the triggers refuse it, and once they are
// dropped Verify() names the first bad entry.
#include "control/audit.h"

#include <libpq-fe.h>
#include <sqlite3.h>

#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/clock.h"
#include "gtest/gtest.h"
#include "tests/support/postgres_server.h"
#include "tests/support/server_process.h"

namespace mangaassist::control {
namespace {

enum class Backend { kSqlite, kPostgres };

std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "Sqlite" : "Postgres";
}

AuditRecord Record(int i) {
  AuditRecord r;
  r.action = "flag.set";
  r.subject = absl::StrCat("us0", 1 + i % 8, "_optimization_enabled");
  r.before = i % 2 ? "true" : "false";
  r.after = i % 2 ? "false" : "true";
  r.who = {"alice", absl::StrCat("change ", i), absl::StrCat("req-", i)};
  return r;
}

class AuditLogTest : public ::testing::TestWithParam<Backend> {
 protected:
  static void TearDownTestSuite() { postgres_.reset(); }

  void SetUp() override {
    if (GetParam() == Backend::kSqlite) {
      auto dir = testing::MakeTempDir("ma-audit-test");
      ASSERT_TRUE(dir.ok()) << dir.status();
      dir_ = *dir;
    } else {
      if (postgres_ == nullptr) {
        auto pg = testing::PostgresServer::Start();
        ASSERT_TRUE(pg.ok()) << pg.status();
        postgres_ = *std::move(pg);
      }
      static int counter = 0;
      auto conninfo = postgres_->CreateDatabase(absl::StrCat("audit_test_", ++counter));
      ASSERT_TRUE(conninfo.ok()) << conninfo.status();
      conninfo_ = *conninfo;
    }
    auto log = Open();
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = *std::move(log);
  }

  void TearDown() override {
    log_.reset();
    if (!dir_.empty()) testing::RemoveTree(dir_);
  }

  // Another AuditLog on the same store: its own connection (another process, or a restart).
  absl::StatusOr<std::unique_ptr<AuditLog>> Open() {
    if (GetParam() == Backend::kSqlite) return OpenSqliteAuditLog(dir_ + "/audit.db", &clock_);
    return OpenPostgresAuditLog(conninfo_, &clock_);
  }

  // Raw SQL on the store, outside the AuditLog: OK or the database's error message.
  absl::Status Raw(const std::string& sql) {
    if (GetParam() == Backend::kSqlite) {
      sqlite3* db = nullptr;
      sqlite3_open((dir_ + "/audit.db").c_str(), &db);
      char* err = nullptr;
      int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
      std::string msg = err ? err : "";
      sqlite3_free(err);
      sqlite3_close(db);
      return rc == SQLITE_OK ? absl::OkStatus() : absl::InternalError(msg);
    }
    PGconn* c = PQconnectdb(conninfo_.c_str());
    PGresult* r = PQexec(c, sql.c_str());
    ExecStatusType st = PQresultStatus(r);
    std::string msg = PQresultErrorMessage(r);
    PQclear(r);
    PQfinish(c);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? absl::OkStatus()
                                                           : absl::InternalError(msg);
  }

  // What an attacker with database-owner rights does first.
  void DropTriggers() {
    if (GetParam() == Backend::kSqlite) {
      ASSERT_TRUE(Raw("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete; "
                      "DROP TRIGGER audit_head_forward_only; DROP TRIGGER audit_head_no_delete;")
                      .ok());
    } else {
      ASSERT_TRUE(Raw("ALTER TABLE audit_log DISABLE TRIGGER USER; "
                      "ALTER TABLE audit_head DISABLE TRIGGER USER;")
                      .ok());
    }
  }

  std::vector<AuditEntry> AppendN(int n) {
    std::vector<AuditEntry> out;
    for (int i = 0; i < n; ++i) {
      auto e = log_->Append(Record(i));
      EXPECT_TRUE(e.ok()) << e.status();
      if (e.ok()) out.push_back(*e);
      clock_.Advance(absl::Seconds(1));
    }
    return out;
  }

  VerifyResult MustVerify() {
    auto v = log_->Verify();
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *v : VerifyResult{};
  }

  static inline std::unique_ptr<testing::PostgresServer> postgres_;
  std::string dir_;
  std::string conninfo_;
  core::ManualClock clock_;
  std::unique_ptr<AuditLog> log_;
};

TEST_P(AuditLogTest, EmptyLogVerifies) {
  VerifyResult v = MustVerify();
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.entries, 0);
  EXPECT_EQ(v.head_hash, kGenesisHash);
}

TEST_P(AuditLogTest, AppendsFormOneChain) {
  std::vector<AuditEntry> appended = AppendN(3);
  ASSERT_EQ(appended.size(), 3u);
  auto listed = log_->List(0, 100);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 3u);
  std::string prev(kGenesisHash);
  for (int i = 0; i < 3; ++i) {
    const AuditEntry& e = (*listed)[i];
    EXPECT_EQ(e.seq, i + 1);
    EXPECT_EQ(e.prev_hash, prev);
    EXPECT_EQ(e.hash, AuditEntryHash(e.prev_hash, e.seq, e.ts_ms, e.record));
    EXPECT_EQ(e.hash, appended[i].hash);
    EXPECT_EQ(e.ts_ms, appended[i].ts_ms);
    EXPECT_EQ(e.record.who.reason, absl::StrCat("change ", i));
    EXPECT_EQ(e.record.who.request_id, absl::StrCat("req-", i));
    EXPECT_EQ(e.record.who.actor, "alice");
    EXPECT_EQ(e.hash.size(), 64u);
    prev = e.hash;
  }
  EXPECT_EQ((*listed)[1].ts_ms - (*listed)[0].ts_ms, 1000);  // the injected clock stamps entries
  VerifyResult v = MustVerify();
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.entries, 3);
  EXPECT_EQ(v.head_hash, appended.back().hash);
}

TEST_P(AuditLogTest, ListPagesBySeq) {
  AppendN(5);
  auto page = log_->List(2, 2);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].seq, 3);
  EXPECT_EQ((*page)[1].seq, 4);
  auto rest = log_->List(4, 100);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ((*rest)[0].seq, 5);
  auto none = log_->List(5, 100);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_P(AuditLogTest, ReopenedLogContinuesTheChain) {
  std::vector<AuditEntry> first = AppendN(2);
  log_.reset();
  auto reopened = Open();
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  log_ = *std::move(reopened);
  auto e = log_->Append(Record(7));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->seq, 3);
  EXPECT_EQ(e->prev_hash, first.back().hash);
  EXPECT_TRUE(MustVerify().ok);
}

TEST_P(AuditLogTest, StoreRefusesUpdateAndDelete) {
  AppendN(2);
  EXPECT_FALSE(Raw("UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 1").ok());
  EXPECT_FALSE(Raw("DELETE FROM audit_log WHERE seq = 2").ok());
  EXPECT_FALSE(Raw("UPDATE audit_head SET seq = 1").ok());  // the head only moves forward
  EXPECT_FALSE(Raw("DELETE FROM audit_head").ok());
  if (GetParam() == Backend::kPostgres) {
    EXPECT_FALSE(Raw("TRUNCATE audit_log").ok());
  }
  VerifyResult v = MustVerify();
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.entries, 2);
}

TEST_P(AuditLogTest, VerifyDetectsAnEditedEntry) {
  AppendN(4);
  DropTriggers();
  ASSERT_TRUE(Raw("UPDATE audit_log SET after_value = 'true' WHERE seq = 2").ok());
  VerifyResult v = MustVerify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq, 2);
  EXPECT_NE(v.problem.find("edited"), std::string::npos) << v.problem;
  EXPECT_EQ(v.entries, 4);
}

TEST_P(AuditLogTest, VerifyDetectsAnEditedAndRehashedEntry) {
  std::vector<AuditEntry> entries = AppendN(4);
  DropTriggers();
  AuditEntry forged = entries[1];
  forged.record.who.actor = "mallory";
  forged.hash = AuditEntryHash(forged.prev_hash, forged.seq, forged.ts_ms, forged.record);
  ASSERT_TRUE(Raw(absl::StrCat("UPDATE audit_log SET actor = 'mallory', hash = '", forged.hash,
                               "' WHERE seq = 2"))
                  .ok());
  VerifyResult v = MustVerify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq, 3);  // entry 3 still points at the genuine entry 2
  EXPECT_NE(v.problem.find("prev_hash"), std::string::npos) << v.problem;
}

TEST_P(AuditLogTest, VerifyDetectsADeletedMiddleEntry) {
  AppendN(5);
  DropTriggers();
  ASSERT_TRUE(Raw("DELETE FROM audit_log WHERE seq = 3").ok());
  VerifyResult v = MustVerify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq, 3);
  EXPECT_NE(v.problem.find("missing"), std::string::npos) << v.problem;
  EXPECT_EQ(v.entries, 4);
}

TEST_P(AuditLogTest, VerifyDetectsATruncatedTail) {
  AppendN(5);
  DropTriggers();
  ASSERT_TRUE(Raw("DELETE FROM audit_log WHERE seq >= 4").ok());
  VerifyResult v = MustVerify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq, 4);
  EXPECT_NE(v.problem.find("truncated"), std::string::npos) << v.problem;
}

TEST_P(AuditLogTest, AnAnchorCatchesATailCutWithARewrittenHead) {
  std::vector<AuditEntry> entries = AppendN(5);
  const std::string anchor = entries.back().hash;  // recorded outside the store
  auto intact = VerifyWithAnchor(*log_, anchor);
  ASSERT_TRUE(intact.ok()) << intact.status();
  EXPECT_TRUE(intact->ok) << intact->problem;

  DropTriggers();
  ASSERT_TRUE(Raw("DELETE FROM audit_log WHERE seq = 5").ok());
  ASSERT_TRUE(
      Raw(absl::StrCat("UPDATE audit_head SET seq = 4, hash = '", entries[3].hash, "'")).ok());
  // The store alone cannot tell: the cut is consistent.
  EXPECT_TRUE(MustVerify().ok);
  auto anchored = VerifyWithAnchor(*log_, anchor);
  ASSERT_TRUE(anchored.ok()) << anchored.status();
  EXPECT_FALSE(anchored->ok);
  EXPECT_EQ(anchored->first_bad_seq, 5);
  EXPECT_NE(anchored->problem.find(anchor), std::string::npos) << anchored->problem;
  // An older anchor is still in the chain.
  auto older = VerifyWithAnchor(*log_, entries[2].hash);
  ASSERT_TRUE(older.ok());
  EXPECT_TRUE(older->ok) << older->problem;
}

TEST_P(AuditLogTest, ConcurrentAppendersOnSeparateConnectionsKeepOneChain) {
  constexpr int kPerThread = 40;
  auto second = Open();  // its own connection, as another replica would have
  ASSERT_TRUE(second.ok()) << second.status();
  std::vector<AuditLog*> logs = {log_.get(), second->get()};
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (!logs[t]->Append(Record(t * 1000 + i)).ok()) failures.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  VerifyResult v = MustVerify();
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.entries, 2 * kPerThread);
  auto all = log_->List(0, 1000);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u * kPerThread);
  std::set<std::string> reasons;
  for (size_t i = 0; i < all->size(); ++i) {
    EXPECT_EQ((*all)[i].seq, static_cast<int64_t>(i + 1));
    reasons.insert((*all)[i].record.who.reason);
  }
  EXPECT_EQ(reasons.size(), 2u * kPerThread);  // nothing lost or written twice
}

TEST_P(AuditLogTest, RejectsRecordsTheStoreCannotHoldVerbatim) {
  AuditRecord r = Record(1);
  r.action.clear();
  EXPECT_EQ(log_->Append(r).status().code(), absl::StatusCode::kInvalidArgument);
  r = Record(1);
  r.who.reason = std::string("a\0b", 3);
  EXPECT_EQ(log_->Append(r).status().code(), absl::StatusCode::kInvalidArgument);
  r = Record(1);
  r.before = "\xff\xfe";
  EXPECT_EQ(log_->Append(r).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MustVerify().entries, 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, AuditLogTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres), BackendName);

TEST(AuditEntryHashTest, FieldBoundariesChangeTheHash) {
  AuditRecord a = Record(1), b = Record(1);
  a.before = "ab";
  a.after = "c";
  b.before = "a";
  b.after = "bc";
  EXPECT_NE(AuditEntryHash(kGenesisHash, 1, 5, a), AuditEntryHash(kGenesisHash, 1, 5, b));
  EXPECT_NE(AuditEntryHash(kGenesisHash, 1, 5, a), AuditEntryHash(kGenesisHash, 2, 5, a));
  EXPECT_NE(AuditEntryHash(kGenesisHash, 1, 5, a), AuditEntryHash(kGenesisHash, 1, 6, a));
  EXPECT_EQ(AuditEntryHash(kGenesisHash, 1, 5, a), AuditEntryHash(kGenesisHash, 1, 5, a));
}

TEST(AuditLogMemoryTest, InMemorySqliteKeepsAChain) {
  auto log = OpenSqliteAuditLog(":memory:", nullptr);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_TRUE((*log)->Append(Record(1)).ok());
  ASSERT_TRUE((*log)->Append(Record(2)).ok());
  auto v = (*log)->Verify();
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok);
  EXPECT_EQ(v->entries, 2);
}

}  // namespace
}  // namespace mangaassist::control
