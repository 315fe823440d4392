// The US-08 admin endpoints over real HTTP: GET/PUT /admin/flags and GET /admin/audit on a
// gateway on a free port (offline provider), behind the admin key, with the audit trail in a
// temporary SQLite file and a file flag source that the PUT writes.
#include <openssl/evp.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "api/gateway.h"
#include "control/flags.h"
#include "gtest/gtest.h"
#include "http/server.h"
#include "nlohmann/json.hpp"
#include "tests/support/http_test_client.h"
#include "tests/support/server_process.h"

namespace mangaassist {
namespace {

using testing::HttpTestClient;

constexpr char kAdminKey[] = "flags-admin-key-for-tests";

std::string Sha256Hex(std::string_view s) {
  unsigned char d[32];
  unsigned int n = 0;
  EVP_Digest(s.data(), s.size(), d, &n, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : d) {
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
  }
  return out;
}

const testing::HttpHeaders kAdmin = {{"X-Admin-Key", kAdminKey}};

class FlagsApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = testing::MakeTempDir("ma-flags-api");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = *dir;
    config_ = core::DefaultConfig();
    config_.data_dir = MANGAASSIST_DATA_DIR_FOR_TESTS;
    config_.server.host = "127.0.0.1";
    config_.server.port = 0;
    config_.server.threads = 2;
    config_.admin.keys_sha256 = {Sha256Hex(kAdminKey)};
    config_.audit.sqlite_path = dir_ + "/audit.db";
    config_.flags.source = "file";
    config_.flags.file = dir_ + "/flags.yaml";
    config_.flags.poll_interval = absl::Milliseconds(50);
    std::ofstream(config_.flags.file) << "us07_optimization_enabled: false\n";
  }

  void Start() {
    auto gw = api::Gateway::Create(&config_, &metrics_, &core::SystemClock());
    ASSERT_TRUE(gw.ok()) << gw.status();
    gateway_ = std::move(*gw);
    server_ = std::make_unique<http::Server>(config_.server, gateway_->handler(), &metrics_);
    ASSERT_TRUE(server_->Start().ok());
    gateway_->SetReady(true);
    client_ = std::make_unique<HttpTestClient>(server_->port());
  }

  void TearDown() override {
    client_.reset();
    if (server_) server_->Stop();
    server_.reset();
    gateway_.reset();
    testing::RemoveTree(dir_);
  }

  nlohmann::json Json(const testing::HttpResponse& r) {
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.body;
    return j;
  }

  static const nlohmann::json* FindFlag(const nlohmann::json& list, const std::string& name) {
    for (const auto& f : list["flags"]) {
      if (f["name"] == name) return &f;
    }
    return nullptr;
  }

  absl::StatusOr<testing::HttpResponse> Put(const nlohmann::json& body,
                                            const testing::HttpHeaders& headers = kAdmin) {
    return client_->Send("PUT", "/admin/flags", body.dump(), headers);
  }

  int64_t AuditEntries() {
    auto r = client_->Get("/admin/audit?limit=1000", kAdmin);
    EXPECT_TRUE(r.ok());
    return r.ok() ? static_cast<int64_t>(Json(*r)["entries"].size()) : -1;
  }

  std::string dir_;
  core::Config config_;
  core::Registry metrics_;
  std::unique_ptr<api::Gateway> gateway_;
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<HttpTestClient> client_;
};

TEST_F(FlagsApiTest, EveryAdminEndpointNeedsTheKey) {
  Start();
  const nlohmann::json body = {{"name", "degradation_active"}, {"value", true}, {"reason", "x"}};
  for (const testing::HttpHeaders& h :
       {testing::HttpHeaders{}, testing::HttpHeaders{{"X-Admin-Key", "wrong"}}}) {
    auto get = client_->Get("/admin/flags", h);
    ASSERT_TRUE(get.ok());
    EXPECT_EQ(get->status, 401);
    auto put = Put(body, h);
    ASSERT_TRUE(put.ok());
    EXPECT_EQ(put->status, 401);
    EXPECT_EQ(Json(*put)["error"]["request_id"], put->Header("X-Request-Id"));
    auto audit = client_->Get("/admin/audit", h);
    ASSERT_TRUE(audit.ok());
    EXPECT_EQ(audit->status, 401);
  }
  auto after = client_->Get("/admin/flags", kAdmin);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ((*FindFlag(Json(*after), "degradation_active"))["value"], false);  // nothing changed
  EXPECT_EQ(AuditEntries(), 0);
}

TEST_F(FlagsApiTest, AdminIsForbiddenWithoutConfiguredKeys) {
  config_.admin.keys_sha256.clear();
  Start();
  auto get = client_->Get("/admin/flags", kAdmin);
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get->status, 403);
  auto audit = client_->Get("/admin/audit", kAdmin);
  ASSERT_TRUE(audit.ok());
  EXPECT_EQ(audit->status, 403);
}

TEST_F(FlagsApiTest, GetListsEveryFlagWithValueResolvedDefaultAndSource) {
  Start();
  auto r = client_->Get("/admin/flags", {{"Authorization", std::string("Bearer ") + kAdminKey}});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200) << r->body;
  nlohmann::json j = Json(*r);
  EXPECT_EQ(j["source"], "file");
  EXPECT_EQ(j["source_ok"], true);
  EXPECT_GE(j["version"].get<int64_t>(), 1);
  ASSERT_EQ(j["flags"].size(), control::FlagRegistry().size());
  const nlohmann::json* us07 = FindFlag(j, "us07_optimization_enabled");
  ASSERT_NE(us07, nullptr);
  EXPECT_EQ((*us07)["value"], false);
  EXPECT_EQ((*us07)["default"], true);
  const nlohmann::json* sampling = FindFlag(j, "us07.event_sampling_enabled");
  ASSERT_NE(sampling, nullptr);
  EXPECT_EQ((*sampling)["value"], true);
  EXPECT_EQ((*sampling)["resolved"], false);  // its story is off
  auto bad = client_->Get("/admin/flags?x=1", kAdmin);
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->status, 400);
}

TEST_F(FlagsApiTest, PutSetsWritesTheSourceAndAuditsWithTheRequestId) {
  Start();
  auto r = Put({{"name", "us03_optimization_enabled"},
                {"value", false},
                {"reason", "false hits in the semantic cache"},
                {"actor", "finops-lead"}});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200) << r->body;
  const std::string request_id = r->Header("X-Request-Id");
  nlohmann::json j = Json(*r);
  EXPECT_EQ(j["set"]["us03_optimization_enabled"], false);
  EXPECT_EQ((*FindFlag(j, "us03_optimization_enabled"))["value"], false);
  EXPECT_EQ((*FindFlag(j, "us03.response_cache_enabled"))["resolved"], false);
  EXPECT_EQ((*FindFlag(j, "us03.response_cache_enabled"))["value"], true);

  std::ifstream in(config_.flags.file);
  std::stringstream file;
  file << in.rdbuf();
  EXPECT_NE(file.str().find("us03_optimization_enabled: false"), std::string::npos) << file.str();
  EXPECT_NE(file.str().find("us07_optimization_enabled: false"), std::string::npos) << file.str();

  auto many = Put({{"flags", {{"degradation_active", true}, {"us08.budget_enabled", true}}},
                   {"reason", "cost runaway"}});
  ASSERT_TRUE(many.ok());
  ASSERT_EQ(many->status, 200) << many->body;
  nlohmann::json after = Json(*many);
  EXPECT_EQ(after["forced_degradation_level"], 2);
  EXPECT_EQ((*FindFlag(after, "us06.rag_bypass_enabled"))["resolved"], true);

  auto audit = client_->Get("/admin/audit?verify=1", kAdmin);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->status, 200) << audit->body;
  nlohmann::json a = Json(*audit);
  ASSERT_EQ(a["entries"].size(), 3u);
  const nlohmann::json& first = a["entries"][0];
  EXPECT_EQ(first["seq"], 1);
  EXPECT_EQ(first["action"], "flag.set");
  EXPECT_EQ(first["subject"], "us03_optimization_enabled");
  EXPECT_EQ(first["before"], "true");
  EXPECT_EQ(first["after"], "false");
  EXPECT_EQ(first["actor"], "finops-lead");
  EXPECT_EQ(first["reason"], "false hits in the semantic cache");
  EXPECT_EQ(first["request_id"], request_id);
  EXPECT_EQ(a["entries"][1]["actor"], "admin");
  EXPECT_EQ(a["entries"][1]["prev_hash"], first["hash"]);
  EXPECT_EQ(a["verify"]["ok"], true);
  EXPECT_EQ(a["verify"]["entries"], 3);
  EXPECT_EQ(a["verify"]["head_hash"], a["entries"][2]["hash"]);
  EXPECT_EQ(a["next_after"], 3);

  auto page = client_->Get("/admin/audit?after=1&limit=1", kAdmin);
  ASSERT_TRUE(page.ok());
  nlohmann::json p = Json(*page);
  ASSERT_EQ(p["entries"].size(), 1u);
  EXPECT_EQ(p["entries"][0]["seq"], 2);
  EXPECT_FALSE(p.contains("verify"));

  auto anchored = client_->Get("/admin/audit?expect_head=" + std::string(64, 'a'), kAdmin);
  ASSERT_TRUE(anchored.ok());
  EXPECT_EQ(Json(*anchored)["verify"]["ok"], false);
}

TEST_F(FlagsApiTest, BadRequestsAre400AndChangeNothing) {
  Start();
  const nlohmann::json bad_bodies[] = {
      {{"name", "us09_optimization_enabled"}, {"value", true}, {"reason", "r"}},
      {{"name", "degradation_active"}, {"value", "yes"}, {"reason", "r"}},
      {{"name", "degradation_active"}, {"value", true}},
      {{"name", "degradation_active"}, {"reason", "r"}},
      {{"flags", {{"degradation_active", true}, {"nope", false}}}, {"reason", "r"}},
      {{"flags", nlohmann::json::object()}, {"reason", "r"}},
      {{"name", "degradation_active"}, {"value", true}, {"reason", "r"}, {"colour", "red"}},
      nlohmann::json::array(),
  };
  for (const nlohmann::json& body : bad_bodies) {
    auto r = Put(body);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 400) << body.dump() << " -> " << r->body;
    nlohmann::json j = Json(*r);
    EXPECT_EQ(j["error"]["request_id"], r->Header("X-Request-Id"));
    EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
  }
  auto not_json = client_->Send("PUT", "/admin/flags", "{", kAdmin);
  ASSERT_TRUE(not_json.ok());
  EXPECT_EQ(not_json->status, 400);
  for (const char* q : {"/admin/audit?limit=0", "/admin/audit?after=-1", "/admin/audit?verify=2",
                        "/admin/audit?colour=red"}) {
    auto r = client_->Get(q, kAdmin);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 400) << q;
  }
  EXPECT_EQ(AuditEntries(), 0);
  auto flags = client_->Get("/admin/flags", kAdmin);
  ASSERT_TRUE(flags.ok());
  EXPECT_EQ((*FindFlag(Json(*flags), "degradation_active"))["value"], false);
}

TEST_F(FlagsApiTest, FileEditsReachTheGatewayAndAPutOnABrokenFileIs422) {
  Start();
  std::ofstream(config_.flags.file + ".tmp") << "degradation_active: true\n";
  std::rename((config_.flags.file + ".tmp").c_str(), config_.flags.file.c_str());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool seen = false;
  while (!seen && std::chrono::steady_clock::now() < deadline) {
    auto r = client_->Get("/admin/flags", kAdmin);
    ASSERT_TRUE(r.ok());
    seen = Json(*r)["forced_degradation_level"] == 2;
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(seen);

  std::ofstream(config_.flags.file + ".tmp") << "not_a_flag: true\n";
  std::rename((config_.flags.file + ".tmp").c_str(), config_.flags.file.c_str());
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  nlohmann::json j;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = client_->Get("/admin/flags", kAdmin);
    ASSERT_TRUE(r.ok());
    j = Json(*r);
    if (j["source_ok"] == false) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(j["source_ok"], false);
  EXPECT_EQ((*FindFlag(j, "us01_optimization_enabled"))["value"], false);  // safe defaults
  EXPECT_EQ(j["forced_degradation_level"], 0);
  auto put = Put({{"name", "degradation_active"}, {"value", true}, {"reason", "r"}});
  ASSERT_TRUE(put.ok());
  EXPECT_EQ(put->status, 422) << put->body;  // FailedPrecondition: fix the file first
  EXPECT_EQ(AuditEntries(), 0);
  EXPECT_NE(metrics_.RenderText().find("mangaassist_flag_source_ok{source=\"file\"} 0"),
            std::string::npos);
}

}  // namespace
}  // namespace mangaassist
