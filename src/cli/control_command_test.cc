// `mangaassist flags` and `mangaassist audit` end to end on a config with a file flag source and
// an SQLite audit trail in a temporary directory: exit codes, output, and tamper detection.
#include "cli/control_command.h"

#include <sqlite3.h>

#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/server_process.h"

namespace mangaassist::cli {
namespace {

class ControlCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = testing::MakeTempDir("ma-control-cli");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = *dir;
    config_ = dir_ + "/c.yaml";
    std::ofstream(config_) << "data_dir: " << MANGAASSIST_DATA_DIR_FOR_TESTS << "\n"
                           << "flags:\n  source: file\n  file: " << dir_ << "/flags.yaml\n"
                           << "audit:\n  sqlite_path: " << dir_ << "/audit.db\n";
  }
  void TearDown() override { testing::RemoveTree(dir_); }

  int Flags(int (*run)(const FlagsOptions&, std::ostream&, std::ostream&), FlagsOptions o) {
    o.config_path = config_;
    out_.str("");
    err_.str("");
    return run(o, out_, err_);
  }
  int Audit(int (*run)(const AuditOptions&, std::ostream&, std::ostream&), AuditOptions o) {
    o.config_path = config_;
    out_.str("");
    err_.str("");
    return run(o, out_, err_);
  }
  void Sql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ + "/audit.db").c_str(), &db), SQLITE_OK);
    char* e = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &e);
    std::string msg = e != nullptr ? e : "";
    sqlite3_free(e);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK) << msg;
  }

  std::string dir_, config_;
  std::ostringstream out_, err_;
};

TEST_F(ControlCommandTest, SetGetListAndVerify) {
  FlagsOptions set;
  set.name = "us03_optimization_enabled";
  set.value = "false";
  set.reason = "false hits";
  set.actor = "carol";
  ASSERT_EQ(Flags(RunFlagsSet, set), 0) << err_.str();
  EXPECT_NE(out_.str().find("audited as carol"), std::string::npos) << out_.str();

  FlagsOptions get;
  get.name = "us03.response_cache_enabled";
  get.json = true;
  ASSERT_EQ(Flags(RunFlagsGet, get), 0) << err_.str();
  nlohmann::json j = nlohmann::json::parse(out_.str());
  EXPECT_EQ(j["value"], true);
  EXPECT_EQ(j["resolved"], false);
  EXPECT_EQ(j["source"], "file");

  FlagsOptions list;
  ASSERT_EQ(Flags(RunFlagsList, list), 0);
  EXPECT_NE(out_.str().find("us03_optimization_enabled"), std::string::npos);
  EXPECT_NE(out_.str().find("source: file (ok)"), std::string::npos) << out_.str();

  AuditOptions verify;
  ASSERT_EQ(Audit(RunAuditVerify, verify), 0) << out_.str() << err_.str();
  EXPECT_NE(out_.str().find("intact: 1 entries"), std::string::npos) << out_.str();

  AuditOptions list_audit;
  list_audit.json = true;
  ASSERT_EQ(Audit(RunAuditList, list_audit), 0);
  nlohmann::json entries = nlohmann::json::parse(out_.str());
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0]["actor"], "carol");
  EXPECT_EQ(entries[0]["reason"], "false hits");
  EXPECT_EQ(entries[0]["subject"], "us03_optimization_enabled");
  EXPECT_EQ(entries[0]["request_id"].get<std::string>().size(), 36u);  // a fresh UUIDv7
}

TEST_F(ControlCommandTest, UsageErrorsExitTwo) {
  FlagsOptions unknown;
  unknown.name = "us09_optimization_enabled";
  unknown.value = "true";
  unknown.reason = "r";
  EXPECT_EQ(Flags(RunFlagsSet, unknown), 2);
  FlagsOptions bad_value;
  bad_value.name = "degradation_active";
  bad_value.value = "maybe";
  bad_value.reason = "r";
  EXPECT_EQ(Flags(RunFlagsSet, bad_value), 2);
  FlagsOptions no_reason;
  no_reason.name = "degradation_active";
  no_reason.value = "true";
  EXPECT_EQ(Flags(RunFlagsSet, no_reason), 2);
  FlagsOptions get;
  get.name = "nope";
  EXPECT_EQ(Flags(RunFlagsGet, get), 2);

  // source: config cannot be changed from outside the gateway.
  std::ofstream(config_) << "data_dir: " << MANGAASSIST_DATA_DIR_FOR_TESTS << "\n"
                         << "audit:\n  sqlite_path: " << dir_ << "/audit.db\n";
  FlagsOptions set;
  set.name = "degradation_active";
  set.value = "true";
  set.reason = "r";
  EXPECT_EQ(Flags(RunFlagsSet, set), 2);
  EXPECT_NE(err_.str().find("PUT /admin/flags"), std::string::npos) << err_.str();
}

TEST_F(ControlCommandTest, VerifyExitsOneAndNamesTheFirstBadSeq) {
  for (const char* v : {"true", "false", "true"}) {
    FlagsOptions set;
    set.name = "degradation_active";
    set.value = v;
    set.reason = "drill";
    ASSERT_EQ(Flags(RunFlagsSet, set), 0) << err_.str();
  }
  AuditOptions verify;
  verify.json = true;
  ASSERT_EQ(Audit(RunAuditVerify, verify), 0);
  const std::string head = nlohmann::json::parse(out_.str())["head_hash"];

  // Every open re-creates dropped triggers, so each tampering drops them again first.
  // A consistent cut of the tail with a rewritten head: only the anchor catches it.
  Sql("DROP TRIGGER audit_log_no_delete; DROP TRIGGER audit_head_forward_only; "
      "DELETE FROM audit_log WHERE seq = 3; "
      "UPDATE audit_head SET seq = 2, hash = (SELECT hash FROM audit_log WHERE seq = 2);");
  verify.json = false;
  EXPECT_EQ(Audit(RunAuditVerify, verify), 0) << out_.str();
  verify.expect_head = head;
  EXPECT_EQ(Audit(RunAuditVerify, verify), 1);
  EXPECT_NE(out_.str().find(head), std::string::npos) << out_.str();

  verify.expect_head.clear();
  Sql("DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = 1;");
  EXPECT_EQ(Audit(RunAuditVerify, verify), 1);
  EXPECT_NE(out_.str().find("BROKEN at seq 1"), std::string::npos) << out_.str();
}

}  // namespace
}  // namespace mangaassist::cli
