#include "core/config.h"

#include <cstdlib>

#include "gtest/gtest.h"

namespace mangaassist::core {
namespace {

TEST(ConfigTest, EmptyFileMeansDefaults) {
  auto cfg = LoadConfigString("", "empty.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->server.port, 8080);
  EXPECT_EQ(cfg->server.max_body_bytes, 256u * 1024);
}

TEST(ConfigTest, ReadsTypedValues) {
  auto cfg = LoadConfigString(R"(
server:
  listen: "0.0.0.0:9090"
  threads: 2
  max_body_bytes: 64KiB
  read_timeout: 250ms
log:
  level: warn
pipeline:
  stages: [admit, respond]
)", "x.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->server.host, "0.0.0.0");
  EXPECT_EQ(cfg->server.port, 9090);
  EXPECT_EQ(cfg->server.threads, 2);
  EXPECT_EQ(cfg->server.max_body_bytes, 64u * 1024);
  EXPECT_EQ(cfg->server.read_timeout, absl::Milliseconds(250));
  EXPECT_EQ(cfg->log.level, "warn");
}

TEST(ConfigTest, ReadsAndValidatesTheIntentSection) {
  auto cfg = LoadConfigString(R"(
intent:
  model: intent/other.bin
  threshold: 0.75
  session_cache: false
  cpu_ns_per_classification: 2500
  drift: {window: 30m, min_requests: 50, reference: previous_window}
)",
                              "i.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->intent.model, "intent/other.bin");
  EXPECT_DOUBLE_EQ(cfg->intent.threshold, 0.75);
  EXPECT_FALSE(cfg->intent.session_cache);
  EXPECT_EQ(cfg->intent.cpu_ns_per_classification, 2500);
  EXPECT_EQ(cfg->intent.drift_window, absl::Minutes(30));
  EXPECT_EQ(cfg->intent.drift_min_requests, 50);
  EXPECT_EQ(cfg->intent.drift_reference, "previous_window");
  for (const char* bad : {"intent:\n  threshold: 1\n", "intent:\n  threshold: abc\n",
                          "intent:\n  model: \"\"\n", "intent:\n  drift: {reference: last}\n",
                          "intent:\n  drift: {window: 1s}\n", "intent:\n  treshold: 0.5\n"}) {
    EXPECT_FALSE(LoadConfigString(bad, "bad.yaml").ok()) << bad;
  }
}

TEST(ConfigTest, UnknownKeyNamesFileLineAndKey) {
  auto cfg = LoadConfigString("server:\n  threads: 2\n  listn: \"x:1\"\n", "conf/g.yaml");
  ASSERT_FALSE(cfg.ok());
  std::string msg(cfg.status().message());
  EXPECT_NE(msg.find("conf/g.yaml:3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("server.listn"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unknown key"), std::string::npos) << msg;
}

TEST(ConfigTest, BadValuesAreRefusedWithTheirLine) {
  auto a = LoadConfigString("server:\n  threads: lots\n", "a.yaml");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("a.yaml:2: server.threads"), std::string::npos)
      << a.status();
  EXPECT_FALSE(LoadConfigString("server:\n  listen: nohost\n", "b.yaml").ok());
  EXPECT_FALSE(LoadConfigString("server:\n  listen: \"h:70000\"\n", "b.yaml").ok());
  EXPECT_FALSE(LoadConfigString("server:\n  read_timeout: soon\n", "c.yaml").ok());
  EXPECT_FALSE(LoadConfigString("log:\n  level: loud\n", "d.yaml").ok());
  EXPECT_FALSE(LoadConfigString("pipeline:\n  stages: []\n", "e.yaml").ok());
  EXPECT_FALSE(LoadConfigString("server: [1, 2]\n", "f.yaml").ok());
  auto syntax = LoadConfigString("server:\n  threads: [1\n", "g.yaml");
  ASSERT_FALSE(syntax.ok());
  EXPECT_NE(syntax.status().message().find("g.yaml:"), std::string::npos);
}

TEST(ConfigTest, PersonalCuesAreCheckedRE2PatternsAndCanBeReplaced) {
  EXPECT_FALSE(Config{}.cache.response.personal_cues.empty());
  auto bad = LoadConfigString(
      "cache:\n  response:\n    personal_cues:\n      - 'my order'\n      - '(unclosed'\n", "p.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("p.yaml:5: cache.response.personal_cues[1]"),
            std::string::npos)
      << bad.status();
  auto mine = LoadConfigString("cache:\n  response:\n    personal_cues: ['my order']\n", "q.yaml");
  ASSERT_TRUE(mine.ok()) << mine.status();
  EXPECT_EQ(mine->cache.response.personal_cues, std::vector<std::string>{"my order"});
  auto none = LoadConfigString("cache:\n  response:\n    personal_cues: []\n", "r.yaml");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->cache.response.personal_cues.empty());
}

TEST(ConfigTest, SubstitutesEnvironmentVariables) {
  setenv("MA_TEST_LISTEN", "127.0.0.1:7070", 1);
  unsetenv("MA_TEST_MISSING");
  auto cfg = LoadConfigString("server:\n  listen: ${MA_TEST_LISTEN}\n", "env.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->server.port, 7070);
  auto fallback = LoadConfigString("log:\n  level: ${MA_TEST_MISSING:-debug}\n", "env.yaml");
  ASSERT_TRUE(fallback.ok()) << fallback.status();
  EXPECT_EQ(fallback->log.level, "debug");
  auto missing = LoadConfigString("log:\n  level: ${MA_TEST_MISSING}\n", "env.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("MA_TEST_MISSING"), std::string::npos);
}

TEST(ConfigTest, ParsesSizesAndDurations) {
  EXPECT_EQ(ParseByteSize("1MiB").value(), 1u << 20);
  EXPECT_EQ(ParseByteSize("10 KB").value(), 10000u);
  EXPECT_FALSE(ParseByteSize("ten").ok());
  EXPECT_FALSE(ParseByteSize("5 parsecs").ok());
  EXPECT_EQ(ParseDurationText("1m").value(), absl::Minutes(1));
  EXPECT_FALSE(ParseDurationText("-1s").ok());
}

TEST(ConfigTest, MissingFileIsNotFound) {
  auto cfg = LoadConfigFile("/nonexistent/mangaassist.yaml");
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.status().code(), absl::StatusCode::kNotFound);
}

TEST(ConfigTest, DefaultsHaveAnOfflineProviderAndThreeAliases) {
  Config cfg = DefaultConfig();
  ASSERT_EQ(cfg.providers.size(), 1u);
  EXPECT_EQ(cfg.providers[0].type, "extractive");
  ASSERT_NE(cfg.FindModel("auto"), nullptr);
  ASSERT_NE(cfg.FindModel("haiku"), nullptr);
  ASSERT_NE(cfg.FindModel("sonnet"), nullptr);
  EXPECT_EQ(cfg.FindModel("haiku")->provider, "offline");
  EXPECT_EQ(cfg.FindModel("opus"), nullptr);
}

TEST(ConfigTest, ReadsProvidersModelsAndCall) {
  auto cfg = LoadConfigString(R"(
providers:
  tokyo:
    type: bedrock
    region: ap-northeast-1
    timeout: 20s
    retry: {max_attempts: 2, base_backoff: 50ms}
    breaker: {consecutive_failures: 3, cooldown: 2s}
  local:
    type: openai
    base_url: http://127.0.0.1:8000
models:
  sonnet:
    provider: tokyo
    model: anthropic.claude-3-5-sonnet-20240620-v1:0
    fallback: [haiku]
  haiku:
    provider: tokyo
    model: anthropic.claude-3-haiku-20240307-v1:0
    route: haiku
  auto: {provider: local, model: llama3}
call:
  premium_model: sonnet
  max_tokens: 300
compat:
  default_max_tokens: 777
)", "p.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  ASSERT_EQ(cfg->providers.size(), 2u);
  const ProviderConfig* tokyo = cfg->FindProvider("tokyo");
  ASSERT_NE(tokyo, nullptr);
  EXPECT_EQ(tokyo->region, "ap-northeast-1");
  EXPECT_EQ(tokyo->timeout, absl::Seconds(20));
  EXPECT_EQ(tokyo->retry.max_attempts, 2);
  EXPECT_EQ(tokyo->retry.base_backoff, absl::Milliseconds(50));
  EXPECT_EQ(tokyo->breaker.consecutive_failures, 3);
  EXPECT_EQ(tokyo->breaker.cooldown, absl::Seconds(2));
  ASSERT_EQ(cfg->models.size(), 3u);
  EXPECT_EQ(cfg->models[0].name, "sonnet");  // file order is kept
  EXPECT_EQ(cfg->FindModel("sonnet")->fallback, std::vector<std::string>{"haiku"});
  EXPECT_EQ(cfg->FindModel("haiku")->route, "haiku");
  EXPECT_EQ(cfg->call.max_tokens, 300);
  EXPECT_EQ(cfg->compat.default_max_tokens, 777);
}

TEST(ConfigTest, RefusesInconsistentModelConfig) {
  struct Case {
    const char* yaml;
    const char* expect;
  } cases[] = {
      {"providers:\n  a: {type: gemini}\n", "providers.a.type"},
      {"providers:\n  a: {type: bedrock}\n", "providers.a.region"},
      {"providers:\n  a: {type: anthropic}\n", "providers.a.base_url"},
      {"providers:\n  a: {type: extractive, colour: red}\n", "providers.a.colour: unknown key"},
      {"providers:\n  a: {type: extractive}\n", "default aliases need provider 'offline'"},
      {"models:\n  x: {provider: nowhere, model: m}\n", "models.x.provider"},
      {"models:\n  x: {provider: offline}\n", "needs both provider and model"},
      {"models:\n  x: {provider: offline, model: m, fallback: [y]}\n", "models.x.fallback"},
      {"models:\n  x: {provider: offline, model: m, route: opus}\n", "models.x.route"},
      {"call:\n  guest_model: opus\n", "call.guest_model"},
      {"providers:\n  a: {type: extractive, retry: {max_attempts: 0}}\n",
       "providers.a.retry.max_attempts"},
  };
  for (const Case& c : cases) {
    auto cfg = LoadConfigString(c.yaml, "m.yaml");
    ASSERT_FALSE(cfg.ok()) << c.yaml;
    EXPECT_NE(cfg.status().message().find(c.expect), std::string::npos)
        << c.yaml << " -> " << cfg.status().message();
    EXPECT_NE(cfg.status().message().find("m.yaml:"), std::string::npos) << cfg.status().message();
  }
}

// --- control (issue 7) ----------------------------------------------------------------------

TEST(ConfigTest, ReadsFlagsAndAudit) {
  auto cfg = LoadConfigString(R"(
cache:
  redis_url: redis://10.0.0.5:6379
flags:
  source: redis
  poll_interval: 250ms
  values:
    degradation_active: false
    us03.semantic_cache_enabled: off
audit:
  store: postgres
  postgres: "host=db dbname=ma"
)", "c.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->flags.source, "redis");
  EXPECT_EQ(cfg->flags.redis_url, "redis://10.0.0.5:6379");  // cache.redis_url by default
  EXPECT_EQ(cfg->flags.redis_key, "flags");
  EXPECT_EQ(cfg->flags.poll_interval, absl::Milliseconds(250));
  EXPECT_EQ(cfg->flags.values.at("us03.semantic_cache_enabled"), false);
  EXPECT_EQ(cfg->flags.values.size(), 2u);
  EXPECT_EQ(cfg->audit.store, "postgres");
  EXPECT_EQ(cfg->audit.postgres, "host=db dbname=ma");
}

TEST(ConfigTest, ControlDefaultsNeedNoSetup) {
  setenv("MANGAASSIST_VAR", "/srv/ma-var", 1);
  Config with_var = DefaultConfig();
  unsetenv("MANGAASSIST_VAR");
  Config plain = DefaultConfig();
  EXPECT_EQ(plain.flags.source, "config");
  EXPECT_EQ(plain.audit.store, "sqlite");
  EXPECT_EQ(plain.audit.sqlite_path, "../var/control/audit.db");
  EXPECT_EQ(with_var.audit.sqlite_path, "/srv/ma-var/control/audit.db");
}

TEST(ConfigTest, UnknownFlagNamesAndBadControlValuesAreRefused) {
  auto unknown = LoadConfigString("flags:\n  values:\n    us03_optimization_enabled: true\n"
                                  "    us03.warp_drive: true\n",
                                  "f.yaml");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("f.yaml:4: flags.values.us03.warp_drive: unknown flag"),
            std::string::npos)
      << unknown.status();
  auto not_bool = LoadConfigString("flags:\n  values:\n    degradation_active: maybe\n", "f.yaml");
  ASSERT_FALSE(not_bool.ok());
  EXPECT_NE(not_bool.status().message().find("f.yaml:3"), std::string::npos) << not_bool.status();
  EXPECT_FALSE(LoadConfigString("flags:\n  source: ssm\n", "f.yaml").ok());
  EXPECT_FALSE(LoadConfigString("flags:\n  source: file\n", "f.yaml").ok());  // no file
  EXPECT_FALSE(LoadConfigString("flags:\n  source: redis\n", "f.yaml").ok());  // no URL at all
  EXPECT_FALSE(LoadConfigString("flags:\n  redis_url: http://x\n", "f.yaml").ok());
  EXPECT_FALSE(LoadConfigString("flags:\n  poll_interval: 1ms\n", "f.yaml").ok());
  EXPECT_FALSE(LoadConfigString("flags:\n  colour: red\n", "f.yaml").ok());
  EXPECT_FALSE(LoadConfigString("audit:\n  store: dynamodb\n", "f.yaml").ok());
  EXPECT_FALSE(LoadConfigString("audit:\n  store: postgres\n", "f.yaml").ok());  // no conninfo
  EXPECT_TRUE(LoadConfigString("flags:\n  source: file\n  file: flags.yaml\n", "f.yaml").ok());
}

}  // namespace
}  // namespace mangaassist::core
