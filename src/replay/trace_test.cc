#include "replay/trace.h"

#include <sstream>

#include "gtest/gtest.h"

namespace mangaassist::replay {
namespace {

TEST(TraceTest, ParsesTheSpecFormatAndIgnoresUnknownFields) {
  TraceParser p;
  absl::StatusOr<TraceRecord> r =
      p.Parse(R"({"ts":"2026-11-01T09:00:00.123Z","session_id":"s","user_id":"u","tier":"premium",)"
              R"("message":"Is One Piece vol 105 in stock?","intent":"product_search","lang":"en",)"
              R"("canonical_id":"stock/ma:0001/v105/en","output_tokens":321,"extra":[1,{"x":2}]})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->ts_ms, 1793523600123);  // 2026-11-01T09:00:00.123Z
  EXPECT_EQ(r->tier, core::Tier::kPremium);
  EXPECT_EQ(r->message, "Is One Piece vol 105 in stock?");
  EXPECT_EQ(r->intent, "product_search");
  EXPECT_EQ(r->lang, core::Lang::kEn);
  EXPECT_EQ(r->canonical_id, "stock/ma:0001/v105/en");
  EXPECT_EQ(r->output_tokens, 321);
}

TEST(TraceTest, AcceptsOffsetsAndOptionalFieldsMissing) {
  TraceParser p;
  absl::StatusOr<TraceRecord> r = p.Parse(
      R"({"ts":"2026-11-01T18:00:00+09:00","session_id":"s","user_id":"u","tier":"guest","message":""})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->ts_ms, 1793523600000);
  EXPECT_FALSE(r->lang.has_value());
  EXPECT_FALSE(r->output_tokens.has_value());
  EXPECT_TRUE(r->intent.empty());
}

TEST(TraceTest, RejectsBadLinesSayingWhy) {
  TraceParser p;
  const std::string ok_prefix = R"({"ts":"2026-11-01T00:00:00Z","session_id":"s","user_id":"u",)";
  struct Case {
    std::string line, why;
  } cases[] = {
      {"{oops", "malformed JSON"},
      {"[1]", "not a JSON object"},
      {ok_prefix + R"("message":"m"})", "missing field 'tier'"},
      {ok_prefix + R"("tier":"vip","message":"m"})", "'tier' must be guest"},
      {ok_prefix + R"("tier":"guest"})", "missing field 'message'"},
      {ok_prefix + R"("tier":"guest","message":7})", "'message' must be a string"},
      {ok_prefix + R"("tier":"guest","message":"m","lang":"fr"})", "'lang' must be en"},
      {ok_prefix + R"("tier":"guest","message":"m","output_tokens":-1})", "'output_tokens' -1"},
      {ok_prefix + R"("tier":"guest","message":"m","output_tokens":1.5})", "must be an integer"},
      {R"({"ts":"soon","session_id":"s","user_id":"u","tier":"guest","message":"m"})",
       "'ts' is not an RFC 3339 time"},
      {R"({"ts":"2026-11-01T00:00:00Z","session_id":"","user_id":"u","tier":"guest","message":"m"})",
       "'session_id' is empty"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<TraceRecord> r = p.Parse(c.line);
    ASSERT_FALSE(r.ok()) << c.line;
    EXPECT_NE(r.status().message().find(c.why), std::string::npos)
        << c.line << " → " << r.status().message();
  }
}

TEST(TraceTest, WritesWhatItReads) {
  TraceRecord r;
  r.ts_ms = 1793523600123;
  r.session_id = "s-1";
  r.user_id = "u-1";
  r.tier = core::Tier::kMember;
  r.message = "「鬼滅の刃」は\"完結\"?\n";
  r.intent = "product_info";
  r.lang = core::Lang::kJa;
  r.canonical_id = "status_finished/ma:0002/ja";
  r.output_tokens = 42;
  std::string line;
  AppendTraceLine(r, &line);
  EXPECT_EQ(line.rfind(R"({"ts":"2026-11-01T09:00:00.123Z","session_id":"s-1","user_id")", 0), 0u)
      << line;
  ASSERT_EQ(line.back(), '\n');
  line.pop_back();
  TraceParser p;
  absl::StatusOr<TraceRecord> back = p.Parse(line);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->ts_ms, r.ts_ms);
  EXPECT_EQ(back->message, r.message);
  EXPECT_EQ(back->tier, r.tier);
  EXPECT_EQ(back->lang, r.lang);
  EXPECT_EQ(back->canonical_id, r.canonical_id);
  EXPECT_EQ(back->output_tokens, 42);
}

TEST(TraceTest, ReaderCountsLinesSkipsBlanksAndReportsBadOnes) {
  std::istringstream in(
      "{\"ts\":\"2026-11-01T00:00:00Z\",\"session_id\":\"s\",\"user_id\":\"u\",\"tier\":\"guest\","
      "\"message\":\"a\"}\r\n\n   \nnot json\n"
      "{\"ts\":\"2026-11-01T00:00:01Z\",\"session_id\":\"s\",\"user_id\":\"u\",\"tier\":\"guest\","
      "\"message\":\"b\"}");
  TraceReader reader(&in);
  TraceRecord r;
  std::string error;
  ASSERT_EQ(reader.Next(&r, &error), TraceReader::Result::kRecord);
  EXPECT_EQ(r.message, "a");
  ASSERT_EQ(reader.Next(&r, &error), TraceReader::Result::kBadLine);
  EXPECT_EQ(error.rfind("line 4: ", 0), 0u) << error;
  ASSERT_EQ(reader.Next(&r, &error), TraceReader::Result::kRecord);
  EXPECT_EQ(r.message, "b");
  EXPECT_EQ(reader.line_number(), 5);
  EXPECT_EQ(reader.Next(&r, &error), TraceReader::Result::kEnd);
}

}  // namespace
}  // namespace mangaassist::replay
