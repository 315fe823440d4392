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

}  // namespace
}  // namespace mangaassist::core
