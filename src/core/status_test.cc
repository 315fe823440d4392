#include "core/status.h"

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace mangaassist::core {
namespace {

TEST(StatusTest, MapsCodesToHttp) {
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kResourceExhausted), 429);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kDeadlineExceeded), 504);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kOutOfRange), 413);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kInternal), 500);
}

TEST(StatusTest, ErrorJsonCarriesTypeMessageAndRequestId) {
  auto j = nlohmann::json::parse(ErrorJson(absl::InvalidArgumentError("bad \xff tier"), "rid-1"));
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["request_id"], "rid-1");
  EXPECT_NE(j["error"]["message"].get<std::string>().find("tier"), std::string::npos);
}

}  // namespace
}  // namespace mangaassist::core
