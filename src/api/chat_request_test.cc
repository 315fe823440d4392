#include "api/chat_request.h"

#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace mangaassist::api {
namespace {

absl::Status Parse(std::string_view body, core::RequestContext* ctx = nullptr) {
  core::RequestContext local;
  return ParseChatRequest(body, 16, ctx ? ctx : &local);
}

TEST(ChatRequestTest, ReadsFieldsAndIgnoresUnknownOnes) {
  core::RequestContext ctx;
  ASSERT_TRUE(Parse(R"({"session_id":"s1","user_id":"u1","message":"こんにちは",
                       "tier":"member","locale":"ja-JP","extra":{"x":[1,2]}})", &ctx).ok());
  EXPECT_EQ(ctx.session_id, "s1");
  EXPECT_EQ(ctx.user_id, "u1");
  EXPECT_EQ(ctx.message, "こんにちは");
  EXPECT_TRUE(ctx.tier_given);
  EXPECT_EQ(ctx.tier_text, "member");
  EXPECT_EQ(ctx.locale, "ja-JP");
}

TEST(ChatRequestTest, NullOptionalFieldsAreAbsent) {
  core::RequestContext ctx;
  ASSERT_TRUE(Parse(R"({"session_id":"s","user_id":"u","message":"m","tier":null})", &ctx).ok());
  EXPECT_FALSE(ctx.tier_given);
}

TEST(ChatRequestTest, EachMalformedClassIsAClearInvalidArgument) {
  struct Case { std::string body; std::string needle; };
  std::string deep = std::string(40, '[') + std::string(40, ']');
  std::vector<Case> cases = {
      {"", "empty"},
      {"{\"session_id\":\"s\",", "malformed JSON"},
      {"{not json}", "malformed JSON"},
      {"[1,2,3]", "JSON object"},
      {"\"just a string\"", "JSON object"},
      {"{\"message\": 42}", "'message' must be a string"},
      {"{\"session_id\": {\"a\":1}}", "'session_id' must be a string"},
      {"{\"tier\": true}", "'tier' must be a string"},
      {std::string("{\"message\":\"bad \xff\xfe utf8\"}"), "UTF-8"},
      {"{\"message\":" + deep + "}", "nesting"},
  };
  for (const auto& c : cases) {
    absl::Status s = Parse(c.body);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.body;
    EXPECT_NE(s.message().find(c.needle), std::string::npos) << c.body << " → " << s;
  }
}

TEST(ChatRequestTest, ResponseCarriesIdsRouteAndIntegerCost) {
  core::RequestContext ctx;
  ctx.request_id = "rid";
  ctx.answer = "こんにちは！";
  ctx.lang = core::Lang::kJa;
  ctx.route = core::Route::kExtractive;
  ctx.cost.Add(core::CostComponent::kCompute, core::Money::FromNanos(12));
  auto j = nlohmann::json::parse(ChatResponseJson(ctx));
  EXPECT_EQ(j["request_id"], "rid");
  EXPECT_EQ(j["route"], "extractive");
  EXPECT_EQ(j["lang"], "ja");
  EXPECT_TRUE(j["intent"].is_null());
  EXPECT_EQ(j["cost"]["usd"], "0.000000012");
  EXPECT_EQ(j["cost"]["nano_usd"], 12);
  EXPECT_EQ(j["cost"]["components"]["compute"], 12);
  EXPECT_EQ(j["cost"]["components"]["llm_input"], 0);
  // Every component, under its own name, with its own amount.
  core::RequestContext all;
  for (int i = 0; i < static_cast<int>(core::CostComponent::kCount); ++i) {
    all.cost.Add(static_cast<core::CostComponent>(i), core::Money::FromNanos(100 + i));
  }
  auto k = nlohmann::json::parse(ChatResponseJson(all));
  ASSERT_EQ(k["cost"]["components"].size(), static_cast<size_t>(core::CostComponent::kCount));
  for (int i = 0; i < static_cast<int>(core::CostComponent::kCount); ++i) {
    const auto c = static_cast<core::CostComponent>(i);
    EXPECT_EQ(k["cost"]["components"][std::string(core::CostComponentName(c))], 100 + i);
  }
}

}  // namespace
}  // namespace mangaassist::api
