// Runs the real `mangaassist serve` binary: port 0 prints the bound port, it answers, and
// SIGTERM drains and exits 0. A bad config stops start-up with the file, line and key.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <utility>
#include <string>

#include "gtest/gtest.h"
#include "telemetry/sqlite_sink.h"
#include "tests/support/http_test_client.h"

namespace mangaassist {
namespace {

const std::string kBinary = std::string(MANGAASSIST_BINARY_DIR) + "/src/cli/mangaassist";

// Starts the binary with stdout to a pipe; returns pid and the read end.
pid_t Spawn(const std::vector<std::string>& args, int* out_fd) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    close(fds[0]);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  *out_fd = fds[0];
  return pid;
}

std::string ReadLine(int fd) {
  std::string line;
  char c;
  while (read(fd, &c, 1) == 1 && c != '\n') line += c;
  return line;
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

TEST(ServeProcessTest, ServesOnAFreePortAndDrainsOnSigterm) {
  // The shipped config records cost events under $MANGAASSIST_VAR: keep them out of the tree.
  const std::string var = ::testing::TempDir() + "/ma-serve-var-" + std::to_string(::getpid());
  std::filesystem::remove_all(var);
  ::setenv("MANGAASSIST_VAR", var.c_str(), 1);
  int fd;
  pid_t pid = Spawn({kBinary, "serve", "--config",
                     std::string(MANGAASSIST_SOURCE_DIR) + "/config/mangaassist.yaml", "--listen",
                     "127.0.0.1:0", "--threads", "2"},
                    &fd);
  ASSERT_GT(pid, 0);
  std::string line = ReadLine(fd);
  size_t at = line.find("http://127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << line;
  int port = std::stoi(line.substr(at + 17));
  ASSERT_GT(port, 0);
  {
    testing::HttpTestClient client(static_cast<uint16_t>(port));
    auto res = client.Post("/v1/chat", R"({"session_id":"s1","user_id":"u1","message":"こんにちは"})");
    ASSERT_TRUE(res.ok()) << res.status();
    EXPECT_EQ(res->status, 200);
  }
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  close(fd);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  // The drain on SIGTERM shipped the request's cost event into the embedded sink.
  telemetry::SqliteSinkOptions o;
  o.path = var + "/telemetry/events.db";
  auto sink = telemetry::NewSqliteSink(o);
  ASSERT_TRUE(sink.ok()) << sink.status();
  auto count = (*sink)->CountEvents();
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(*count, 1);
  std::filesystem::remove_all(var);
}

TEST(ServeProcessTest, BadConfigStopsStartupNamingFileLineAndKey) {
  std::string path = ::testing::TempDir() + "/bad_config.yaml";
  {
    std::ofstream f(path);
    f << "server:\n  threads: 2\n  listn: \"127.0.0.1:1\"\n";
  }
  int fd;
  pid_t pid = Spawn({kBinary, "serve", "--config", path}, &fd);
  std::string out = ReadAll(fd);
  int status = 0;
  waitpid(pid, &status, 0);
  close(fd);
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_NE(out.find(path + ":3"), std::string::npos) << out;
  EXPECT_NE(out.find("server.listn"), std::string::npos) << out;
}

TEST(ServeProcessTest, ConfigCheckAcceptsTheShippedConfig) {
  int fd;
  pid_t pid = Spawn({kBinary, "config", "check",
                     std::string(MANGAASSIST_SOURCE_DIR) + "/config/mangaassist.yaml"},
                    &fd);
  std::string out = ReadAll(fd);
  int status = 0;
  waitpid(pid, &status, 0);
  close(fd);
  EXPECT_EQ(WEXITSTATUS(status), 0) << out;
}

// Runs `mangaassist config check FILE`; returns (exit status, output).
std::pair<int, std::string> ConfigCheck(const std::string& file) {
  int fd;
  pid_t pid = Spawn({kBinary, "config", "check", file}, &fd);
  std::string out = ReadAll(fd);
  int status = 0;
  waitpid(pid, &status, 0);
  close(fd);
  return {WEXITSTATUS(status), out};
}

TEST(ServeProcessTest, ConfigCheckAcceptsTheExampleProviderConfigs) {
  ::setenv("ANTHROPIC_API_KEY", "sk-ant-example", 1);
  for (const char* name : {"bedrock-tokyo", "anthropic", "openai-compatible"}) {
    auto [status, out] =
        ConfigCheck(std::string(MANGAASSIST_SOURCE_DIR) + "/config/examples/" + name + ".yaml");
    EXPECT_EQ(status, 0) << name << ": " << out;
  }
}

TEST(ServeProcessTest, ConfigCheckRefusesACrossRegionBedrockEndpoint) {
  std::string path = std::string(MANGAASSIST_BINARY_DIR) + "/cross-region.yaml";
  {
    std::ofstream f(path);
    f << "data_dir: " << MANGAASSIST_DATA_DIR_FOR_TESTS << "\n"
      << "providers:\n  bedrock:\n    type: bedrock\n    region: ap-northeast-1\n"
      << "    base_url: https://bedrock-runtime.us-east-1.amazonaws.com\n"
      << "models:\n  haiku: {provider: bedrock, model: anthropic.claude-3-haiku-20240307-v1:0}\n"
      << "  sonnet: {provider: bedrock, model: anthropic.claude-3-haiku-20240307-v1:0}\n";
  }
  auto [status, out] = ConfigCheck(path);
  EXPECT_EQ(status, 2) << out;
  EXPECT_NE(out.find("us-east-1"), std::string::npos) << out;
  std::remove(path.c_str());
}

}  // namespace
}  // namespace mangaassist
