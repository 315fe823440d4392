// The flag evaluator: the registry, the seed's precedence as a table, the safe defaults, and
// each source — config (in memory), a file (hot reload, corrupt file, atomic writes) and a real
// redis-server (outage and recovery) — with every change audited.
#include "control/flags.h"

#include <hiredis/hiredis.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "control/flag_sources.h"
#include "core/config.h"
#include "gtest/gtest.h"
#include "tests/support/redis_server.h"
#include "tests/support/server_process.h"

namespace mangaassist::control {
namespace {

// Polls `condition` until it holds or 10 s pass.
bool WaitFor(const std::function<bool()>& condition) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return condition();
}

void WriteFile(const std::string& path, const std::string& text) {
  // Through a rename, as editors and `flags set` do: a poll never sees half a file.
  const std::string tmp = path + ".test-tmp";
  std::ofstream(tmp, std::ios::binary | std::ios::trunc) << text;
  std::rename(tmp.c_str(), path.c_str());
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// --- registry ---------------------------------------------------------------------------------

TEST(FlagRegistryTest, MatchesTheNamesTheConfigAccepts) {
  std::vector<std::string> names;
  for (const FlagInfo& f : FlagRegistry()) names.emplace_back(f.name);
  EXPECT_EQ(names, core::KnownFlagNames());
}

TEST(FlagRegistryTest, EveryStoryHasItsFlagAndTechniquesNameTheirStory) {
  for (size_t i = 0; i < kStoryCount; ++i) {
    const FlagInfo* f = FindFlag(
        absl::StrCat(std::string(StoryPrefix(static_cast<Story>(i))), "_optimization_enabled"));
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->kind, FlagKind::kStory);
    EXPECT_EQ(f->story, static_cast<Story>(i));
    EXPECT_TRUE(f->default_value);
  }
  for (const FlagInfo& f : FlagRegistry()) {
    if (f.kind != FlagKind::kTechnique) continue;
    EXPECT_EQ(f.name.substr(0, 5), std::string(StoryPrefix(f.story)) + ".") << f.name;
  }
  EXPECT_EQ(FindFlag("us03.no_such_thing"), nullptr);
  EXPECT_FALSE(FindFlag("degradation_active")->default_value);
}

// --- precedence -------------------------------------------------------------------------------

// Every combination of the four levels, for a technique the degradation ladder keeps on
// (us06.rag_bypass_enabled) and one it does not (us03.response_cache_enabled); the breaker
// computes level 3 for the request.
struct PrecedenceRow {
  bool degradation_active, breaker_enabled, story_enabled, technique_enabled;
  int forced_level, effective_level;
  bool story, plain_technique, degraded_on_technique;
};

// clang-format off
constexpr PrecedenceRow kPrecedence[] = {
    // degr.  breaker story  tech    forced/effective level, then story, plain, degraded_on
    {false,  false,  false,  false,  0, 0, false,  false,  false},
    {false,  false,  false,  true,   0, 0, false,  false,  false},
    {false,  false,  true,   false,  0, 0, true,   false,  false},
    {false,  false,  true,   true,   0, 0, true,   true,   true},
    {false,  true,   false,  false,  0, 3, false,  false,  false},
    {false,  true,   false,  true,   0, 3, false,  false,  false},
    {false,  true,   true,   false,  0, 3, true,   false,  false},
    {false,  true,   true,   true,   0, 3, true,   true,   true},
    {true,   false,  false,  false,  2, 2, false,  false,  true},
    {true,   false,  false,  true,   2, 2, false,  false,  true},
    {true,   false,  true,   false,  2, 2, true,   false,  true},
    {true,   false,  true,   true,   2, 2, true,   true,   true},
    {true,   true,   false,  false,  2, 3, false,  false,  true},
    {true,   true,   false,  true,   2, 3, false,  false,  true},
    {true,   true,   true,   false,  2, 3, true,   false,  true},
    {true,   true,   true,   true,   2, 3, true,   true,   true},
};
// clang-format on

TEST(FlagPrecedenceTest, TableOfEveryCombination) {
  for (const PrecedenceRow& row : kPrecedence) {
    SCOPED_TRACE(absl::StrCat("degradation_active=", row.degradation_active,
                              " cost_circuit_breaker_enabled=", row.breaker_enabled,
                              " story=", row.story_enabled, " technique=", row.technique_enabled));
    FlagSnapshot s = SnapshotFromValues({
        {"degradation_active", row.degradation_active},
        {"cost_circuit_breaker_enabled", row.breaker_enabled},
        {"us03_optimization_enabled", row.story_enabled},
        {"us06_optimization_enabled", row.story_enabled},
        {"us03.response_cache_enabled", row.technique_enabled},
        {"us06.rag_bypass_enabled", row.technique_enabled},
    });
    EXPECT_EQ(s.ForcedDegradationLevel(), row.forced_level);
    EXPECT_EQ(s.EffectiveDegradationLevel(3), row.effective_level);
    EXPECT_EQ(s.BreakerEnabled(), row.breaker_enabled);
    EXPECT_EQ(s.StoryEnabled(Story::kUS03), row.story);
    EXPECT_EQ(s.TechniqueEnabled(Story::kUS03, "response_cache_enabled"), row.plain_technique);
    EXPECT_EQ(s.TechniqueEnabled(Story::kUS06, "rag_bypass_enabled"), row.degraded_on_technique);
    EXPECT_EQ(s.Resolved("us03.response_cache_enabled"), row.plain_technique);
    EXPECT_EQ(s.Value("us03.response_cache_enabled"), row.technique_enabled);
  }
}

TEST(FlagPrecedenceTest, DegradationIsAFloorTheBreakerCannotLower) {
  FlagSnapshot s = SnapshotFromValues({{"degradation_active", true}});
  EXPECT_EQ(s.EffectiveDegradationLevel(0), 2);
  EXPECT_EQ(s.EffectiveDegradationLevel(1), 2);
  EXPECT_EQ(s.EffectiveDegradationLevel(4), 4);
  FlagSnapshot normal = SnapshotFromValues({});
  EXPECT_EQ(normal.EffectiveDegradationLevel(1), 1);
  EXPECT_EQ(normal.EffectiveDegradationLevel(0), 0);
}

TEST(FlagPrecedenceTest, StoriesAreIndependentAndTheBreakerFlagTouchesOnlyTheBreaker) {
  FlagSnapshot s = SnapshotFromValues(
      {{"us03_optimization_enabled", false}, {"cost_circuit_breaker_enabled", false}});
  EXPECT_FALSE(s.TechniqueEnabled(Story::kUS03, "semantic_cache_enabled"));
  EXPECT_TRUE(s.TechniqueEnabled(Story::kUS06, "embedding_cache_enabled"));
  EXPECT_TRUE(s.TechniqueEnabled(Story::kUS08, "budget_enabled"));
  EXPECT_TRUE(s.TechniqueEnabled(Story::kUS01, "tier_routing_enabled"));
  EXPECT_EQ(s.EffectiveDegradationLevel(3), 0);
}

TEST(FlagPrecedenceTest, TechniqueNamesFullOrShortAndUnknownIsOff) {
  FlagSnapshot s = SnapshotFromValues({});
  EXPECT_TRUE(s.TechniqueEnabled(Story::kUS03, "us03.response_cache_enabled"));
  EXPECT_TRUE(s.TechniqueEnabled(Story::kUS03, "response_cache_enabled"));
  EXPECT_FALSE(s.TechniqueEnabled(Story::kUS06, "response_cache_enabled"));  // not US-06's
  EXPECT_FALSE(s.TechniqueEnabled(Story::kUS03, "us06.rag_bypass_enabled"));
  EXPECT_FALSE(s.TechniqueEnabled(Story::kUS03, "warp_drive_enabled"));
  EXPECT_FALSE(s.TechniqueEnabled(Story::kUS03, std::string(200, 'x')));
}

TEST(FlagPrecedenceTest, SafeDefaultsTurnEveryOptimizationOff) {
  FlagSnapshot s = SafeDefaultsSnapshot("redis down");
  EXPECT_FALSE(s.source_ok);
  EXPECT_EQ(s.source_error, "redis down");
  EXPECT_FALSE(s.degradation_active);
  EXPECT_TRUE(s.BreakerEnabled());
  EXPECT_EQ(s.ForcedDegradationLevel(), 0);
  for (const FlagInfo& f : FlagRegistry()) {
    if (f.kind == FlagKind::kStory) {
      EXPECT_FALSE(*s.Value(f.name)) << f.name;
    }
    if (f.kind == FlagKind::kTechnique) {
      EXPECT_FALSE(*s.Resolved(f.name)) << f.name;
    }
  }
}

// --- evaluator: config source -----------------------------------------------------------------

class RecordingAudit final : public AuditLog {
 public:
  absl::StatusOr<AuditEntry> Append(const AuditRecord& r) override {
    if (fail) return absl::UnavailableError("audit store down");
    AuditEntry e;
    e.seq = static_cast<int64_t>(records.size()) + 1;
    e.record = r;
    records.push_back(r);
    return e;
  }
  absl::StatusOr<std::vector<AuditEntry>> List(int64_t, int) override {
    return std::vector<AuditEntry>();
  }
  absl::StatusOr<VerifyResult> Verify() override { return VerifyResult{}; }
  std::vector<AuditRecord> records;
  bool fail = false;
};

TEST(FlagEvaluatorTest, ConfigSourceAppliesValuesAndSetsInMemoryWithAnAuditEntry) {
  core::FlagsConfig cfg;
  cfg.values = {{"us03.semantic_cache_enabled", false}};
  RecordingAudit audit;
  auto ev = MakeFlagEvaluator(cfg, &audit, nullptr);
  ASSERT_TRUE(ev.ok()) << ev.status();
  auto before = (*ev)->Current();
  EXPECT_TRUE(before->source_ok);
  EXPECT_FALSE(before->TechniqueEnabled(Story::kUS03, "semantic_cache_enabled"));
  EXPECT_TRUE(before->TechniqueEnabled(Story::kUS03, "response_cache_enabled"));
  EXPECT_EQ((*ev)->source(), "config");

  ASSERT_TRUE((*ev)->Set("degradation_active", true, {"alice", "incident 42", "req-1"}).ok());
  auto after = (*ev)->Current();
  EXPECT_TRUE(after->degradation_active);
  EXPECT_EQ(after->version, before->version + 1);
  EXPECT_FALSE(before->degradation_active);  // a snapshot never changes
  ASSERT_EQ(audit.records.size(), 1u);
  EXPECT_EQ(audit.records[0].action, "flag.set");
  EXPECT_EQ(audit.records[0].subject, "degradation_active");
  EXPECT_EQ(audit.records[0].before, "false");
  EXPECT_EQ(audit.records[0].after, "true");
  EXPECT_EQ(audit.records[0].who.actor, "alice");
  EXPECT_EQ(audit.records[0].who.reason, "incident 42");
  EXPECT_EQ(audit.records[0].who.request_id, "req-1");

  // Setting the same value again is still an audited action, but not a new version.
  ASSERT_TRUE((*ev)->Set("degradation_active", true, {"bob", "again", "req-2"}).ok());
  EXPECT_EQ((*ev)->Current()->version, after->version);
  ASSERT_EQ(audit.records.size(), 2u);
  EXPECT_EQ(audit.records[1].before, "true");
}

TEST(FlagEvaluatorTest, UnknownNamesAreRejectedAndNothingIsWritten) {
  RecordingAudit audit;
  auto ev = MakeFlagEvaluator(core::FlagsConfig{}, &audit, nullptr);
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ((*ev)->Set("us09_optimization_enabled", false, {}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*ev)->SetMany({{"us03_optimization_enabled", false}, {"bogus", true}}, {}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE((*ev)->Current()->StoryEnabled(Story::kUS03));
  EXPECT_TRUE(audit.records.empty());

  core::FlagsConfig bad;
  bad.values = {{"bogus", true}};
  EXPECT_EQ(MakeFlagEvaluator(bad, nullptr, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FlagEvaluatorTest, AnAuditFailureIsReportedNotSwallowed) {
  RecordingAudit audit;
  audit.fail = true;
  auto ev = MakeFlagEvaluator(core::FlagsConfig{}, &audit, nullptr);
  ASSERT_TRUE(ev.ok());
  absl::Status s = (*ev)->Set("us05_optimization_enabled", false, {"a", "r", "q"});
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_NE(s.message().find("audit"), absl::string_view::npos);
  EXPECT_FALSE((*ev)->Current()->StoryEnabled(Story::kUS05));  // the kill switch still flipped
}

TEST(FlagEvaluatorTest, MetricsShowSourceHealthAndValues) {
  core::Registry metrics;
  core::FlagsConfig cfg;
  cfg.values = {{"us04_optimization_enabled", false}};
  auto ev = MakeFlagEvaluator(cfg, nullptr, nullptr, &metrics);
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(metrics.GetGauge("mangaassist_flag_source_ok", "", {{"source", "config"}}).Value(), 1);
  EXPECT_EQ(metrics.GetGauge("mangaassist_flag_value", "", {{"flag", "us04_optimization_enabled"}})
                .Value(),
            0);
  EXPECT_EQ(metrics.GetGauge("mangaassist_flag_value", "", {{"flag", "us03_optimization_enabled"}})
                .Value(),
            1);
  ASSERT_TRUE((*ev)->Set("us04_optimization_enabled", true, {}).ok());
  EXPECT_EQ(metrics.GetGauge("mangaassist_flag_value", "", {{"flag", "us04_optimization_enabled"}})
                .Value(),
            1);
  EXPECT_NE(metrics.RenderText().find("mangaassist_flag_value{flag=\"us08.budget_enabled\"} 1"),
            std::string::npos);
}

// --- evaluator: file source -------------------------------------------------------------------

class FileFlagsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = testing::MakeTempDir("ma-flags-test");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = *dir;
    cfg_.source = "file";
    cfg_.file = dir_ + "/flags.yaml";
    cfg_.poll_interval = absl::Milliseconds(20);
  }
  void TearDown() override { testing::RemoveTree(dir_); }

  std::string dir_;
  core::FlagsConfig cfg_;
  core::Registry metrics_;
};

TEST_F(FileFlagsTest, HotReloadsOnChange) {
  WriteFile(cfg_.file, "us03_optimization_enabled: false\n");
  auto ev = MakeFlagEvaluator(cfg_, nullptr, nullptr, &metrics_);
  ASSERT_TRUE(ev.ok()) << ev.status();
  EXPECT_TRUE((*ev)->Current()->source_ok) << (*ev)->Current()->source_error;
  EXPECT_FALSE((*ev)->Current()->StoryEnabled(Story::kUS03));
  const uint64_t v1 = (*ev)->Current()->version;

  WriteFile(cfg_.file, "us03_optimization_enabled: true\ndegradation_active: yes\n");
  ASSERT_TRUE(WaitFor([&] { return (*ev)->Current()->degradation_active; }));
  EXPECT_TRUE((*ev)->Current()->StoryEnabled(Story::kUS03));
  EXPECT_GT((*ev)->Current()->version, v1);
}

TEST_F(FileFlagsTest, ConfigValuesAreTheDefaultsForNamesTheFileOmits) {
  cfg_.values = {{"us07_optimization_enabled", false}, {"us02_optimization_enabled", false}};
  WriteFile(cfg_.file, "us02_optimization_enabled: true\n");
  auto ev = MakeFlagEvaluator(cfg_, nullptr, nullptr);
  ASSERT_TRUE(ev.ok());
  EXPECT_FALSE((*ev)->Current()->StoryEnabled(Story::kUS07));
  EXPECT_TRUE((*ev)->Current()->StoryEnabled(Story::kUS02));
}

TEST_F(FileFlagsTest, CorruptFileMeansSafeDefaultsUntilFixed) {
  WriteFile(cfg_.file, "us03_optimization_enabled: true\n");
  auto ev = MakeFlagEvaluator(cfg_, nullptr, nullptr, &metrics_);
  ASSERT_TRUE(ev.ok());
  ASSERT_TRUE((*ev)->Current()->source_ok);
  ASSERT_TRUE((*ev)->Current()->StoryEnabled(Story::kUS01));

  WriteFile(cfg_.file, "us03_optimization_enabled: true\nus03.warp_drive: true\n");
  ASSERT_TRUE(WaitFor([&] { return !(*ev)->Current()->source_ok; }));
  auto safe = (*ev)->Current();
  EXPECT_NE(safe->source_error.find("flags.yaml:2: us03.warp_drive: unknown flag"),
            std::string::npos)
      << safe->source_error;
  for (size_t i = 0; i < kStoryCount; ++i) EXPECT_FALSE(safe->StoryEnabled(static_cast<Story>(i)));
  EXPECT_FALSE(safe->degradation_active);
  EXPECT_EQ(metrics_.GetGauge("mangaassist_flag_source_ok", "", {{"source", "file"}}).Value(), 0);
  EXPECT_GT(
      metrics_.GetCounter("mangaassist_flag_source_errors_total", "", {{"source", "file"}}).Value(),
      0);

  WriteFile(cfg_.file, "{ not yaml: [");
  ASSERT_TRUE(WaitFor([&] {
    return (*ev)->Current()->source_error.find("YAML syntax error") != std::string::npos;
  }));
  WriteFile(cfg_.file, "us03_optimization_enabled: maybe\n");
  ASSERT_TRUE(WaitFor([&] {
    return (*ev)->Current()->source_error.find("must be true or false") != std::string::npos;
  }));

  WriteFile(cfg_.file, "us03_optimization_enabled: false\n");
  ASSERT_TRUE(WaitFor([&] { return (*ev)->Current()->source_ok; }));
  EXPECT_TRUE((*ev)->Current()->StoryEnabled(Story::kUS01));
  EXPECT_FALSE((*ev)->Current()->StoryEnabled(Story::kUS03));
  EXPECT_EQ(metrics_.GetGauge("mangaassist_flag_source_ok", "", {{"source", "file"}}).Value(), 1);
}

TEST_F(FileFlagsTest, MissingFileIsUnreachableAndSetCreatesIt) {
  RecordingAudit audit;
  auto ev = MakeFlagEvaluator(cfg_, &audit, nullptr);
  ASSERT_TRUE(ev.ok());
  EXPECT_FALSE((*ev)->Current()->source_ok);
  EXPECT_FALSE((*ev)->Current()->StoryEnabled(Story::kUS01));

  ASSERT_TRUE((*ev)->Set("us06.embedding_cache_enabled", false, {"ops", "r", "q"}).ok());
  EXPECT_TRUE((*ev)->Current()->source_ok);  // visible at once, not at the next poll
  EXPECT_TRUE((*ev)->Current()->StoryEnabled(Story::kUS01));
  EXPECT_FALSE((*ev)->Current()->TechniqueEnabled(Story::kUS06, "embedding_cache_enabled"));
  auto parsed = internal::ParseFlagsYaml(ReadFile(cfg_.file), cfg_.file);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, (internal::FlagValues{{"us06.embedding_cache_enabled", false}}));
  ASSERT_EQ(audit.records.size(), 1u);
  EXPECT_EQ(audit.records[0].before, "true");  // the default, as the file did not name it
}

TEST_F(FileFlagsTest, SetKeepsOtherEntriesAndASecondEvaluatorSeesIt) {
  WriteFile(cfg_.file, "# hand-written\nus02_optimization_enabled: false\n");
  auto writer = MakeFlagEvaluator(cfg_, nullptr, nullptr);
  auto reader = MakeFlagEvaluator(cfg_, nullptr, nullptr);
  ASSERT_TRUE(writer.ok() && reader.ok());
  ASSERT_TRUE(
      (*writer)->SetMany({{"degradation_active", true}, {"us08.budget_enabled", true}}, {}).ok());
  ASSERT_TRUE(WaitFor([&] { return (*reader)->Current()->degradation_active; }));
  EXPECT_FALSE((*reader)->Current()->StoryEnabled(Story::kUS02));
  auto parsed = internal::ParseFlagsYaml(ReadFile(cfg_.file), cfg_.file);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->size(), 3u);
}

TEST_F(FileFlagsTest, SetRefusesToOverwriteAnInvalidFile) {
  WriteFile(cfg_.file, "bogus_flag: true\n");
  auto ev = MakeFlagEvaluator(cfg_, nullptr, nullptr);
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ((*ev)->Set("degradation_active", true, {}).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReadFile(cfg_.file), "bogus_flag: true\n");
}

// --- evaluator: Redis source ------------------------------------------------------------------

class RedisFlagsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto redis = testing::RedisServer::Start();
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_ = *std::move(redis);
    cfg_.source = "redis";
    cfg_.redis_url = absl::StrCat("redis://127.0.0.1:", redis_->port());
    cfg_.redis_key = "flags";
    cfg_.poll_interval = absl::Milliseconds(20);
  }

  // A raw command on the test's own connection (what an operator's redis-cli does).
  std::string Cmd(const std::vector<std::string>& args) {
    redisContext* c = redisConnect("127.0.0.1", redis_->port());
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
    std::string out = r != nullptr && r->str != nullptr ? std::string(r->str, r->len) : "";
    if (r != nullptr) freeReplyObject(r);
    redisFree(c);
    return out;
  }

  std::unique_ptr<testing::RedisServer> redis_;
  core::FlagsConfig cfg_;
};

TEST_F(RedisFlagsTest, ReadsTheHashAndSeesChangesAfterAPoll) {
  Cmd({"HSET", "flags", "us03_optimization_enabled", "false"});
  auto ev = MakeFlagEvaluator(cfg_, nullptr, nullptr);
  ASSERT_TRUE(ev.ok()) << ev.status();
  EXPECT_TRUE((*ev)->Current()->source_ok) << (*ev)->Current()->source_error;
  EXPECT_FALSE((*ev)->Current()->StoryEnabled(Story::kUS03));
  Cmd({"HSET", "flags", "degradation_active", "1"});
  ASSERT_TRUE(WaitFor([&] { return (*ev)->Current()->degradation_active; }));
}

TEST_F(RedisFlagsTest, SetWritesTheHashAndAudits) {
  RecordingAudit audit;
  Cmd({"HSET", "flags", "us08.rate_limits_enabled", "true"});
  auto ev = MakeFlagEvaluator(cfg_, &audit, nullptr);
  ASSERT_TRUE(ev.ok());
  ASSERT_TRUE((*ev)
                  ->SetMany({{"us08.rate_limits_enabled", false}, {"degradation_active", true}},
                            {"finops", "runaway", "req-9"})
                  .ok());
  EXPECT_EQ(Cmd({"HGET", "flags", "us08.rate_limits_enabled"}), "false");
  EXPECT_EQ(Cmd({"HGET", "flags", "degradation_active"}), "true");
  EXPECT_TRUE((*ev)->Current()->degradation_active);
  ASSERT_EQ(audit.records.size(), 2u);
  EXPECT_EQ(audit.records[0].subject, "degradation_active");
  EXPECT_EQ(audit.records[0].before, "false");
  EXPECT_EQ(audit.records[1].subject, "us08.rate_limits_enabled");
  EXPECT_EQ(audit.records[1].before, "true");
  EXPECT_EQ(audit.records[1].after, "false");
}

TEST_F(RedisFlagsTest, OutageMeansSafeDefaultsAndRecoveryBringsValuesBack) {
  Cmd({"HSET", "flags", "us06_optimization_enabled", "true"});
  auto ev = MakeFlagEvaluator(cfg_, nullptr, nullptr);
  ASSERT_TRUE(ev.ok());
  ASSERT_TRUE((*ev)->Current()->StoryEnabled(Story::kUS06));

  redis_->Kill();
  ASSERT_TRUE(WaitFor([&] { return !(*ev)->Current()->source_ok; }));
  EXPECT_FALSE((*ev)->Current()->StoryEnabled(Story::kUS06));
  EXPECT_FALSE((*ev)->Current()->degradation_active);
  EXPECT_EQ((*ev)->Set("degradation_active", true, {}).code(), absl::StatusCode::kUnavailable);

  ASSERT_TRUE(redis_->Restart().ok());
  ASSERT_TRUE(WaitFor([&] { return (*ev)->Current()->source_ok; }));
  EXPECT_TRUE((*ev)->Current()->StoryEnabled(Story::kUS06));     // back to the defaults
  Cmd({"HSET", "flags", "us06_optimization_enabled", "false"});  // repopulated (empty restart)
  ASSERT_TRUE(WaitFor([&] { return !(*ev)->Current()->StoryEnabled(Story::kUS06); }));
}

TEST_F(RedisFlagsTest, UnknownNamesOrNonBooleansInTheHashMeanSafeDefaults) {
  Cmd({"HSET", "flags", "us06_optimization_enabled", "perhaps"});
  auto ev = MakeFlagEvaluator(cfg_, nullptr, nullptr);
  ASSERT_TRUE(ev.ok());
  EXPECT_FALSE((*ev)->Current()->source_ok);
  EXPECT_NE((*ev)->Current()->source_error.find("not a boolean"), std::string::npos);
  Cmd({"HSET", "flags", "us06_optimization_enabled", "off"});
  ASSERT_TRUE(WaitFor([&] { return (*ev)->Current()->source_ok; }));
  Cmd({"HSET", "flags", "us09_optimization_enabled", "true"});
  ASSERT_TRUE(WaitFor([&] { return !(*ev)->Current()->source_ok; }));
  EXPECT_NE((*ev)->Current()->source_error.find("unknown flag"), std::string::npos);
}

TEST(FlagsYamlTest, FormatRoundTripsInRegistryOrder) {
  internal::FlagValues v = {{"us08.budget_enabled", false}, {"degradation_active", true}};
  std::string text = internal::FormatFlagsYaml(v);
  EXPECT_LT(text.find("degradation_active: true"), text.find("us08.budget_enabled: false"));
  auto parsed = internal::ParseFlagsYaml(text, "f");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, v);
  EXPECT_TRUE(internal::ParseFlagsYaml("", "f")->empty());
  EXPECT_FALSE(internal::ParseFlagsYaml("- a\n- b\n", "f").ok());
}

}  // namespace
}  // namespace mangaassist::control
