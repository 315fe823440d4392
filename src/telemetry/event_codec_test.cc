#include "telemetry/event_codec.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "telemetry/event_test_util.h"

namespace mangaassist::telemetry {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

void ExpectSame(const CostEvent& a, const CostEvent& b) {
  EXPECT_EQ(a.schema_version, b.schema_version);
  EXPECT_EQ(a.request_id, b.request_id);
  EXPECT_EQ(a.ts_unix_ms, b.ts_unix_ms);
  EXPECT_EQ(a.tenant, b.tenant);
  EXPECT_EQ(a.user_hash, b.user_hash);
  EXPECT_EQ(a.session_hash, b.session_hash);
  EXPECT_EQ(a.tier, b.tier);
  EXPECT_EQ(a.lang, b.lang);
  EXPECT_EQ(a.intent, b.intent);
  EXPECT_EQ(a.intent_confidence, b.intent_confidence);
  EXPECT_EQ(a.intent_version, b.intent_version);
  EXPECT_EQ(a.route, b.route);
  EXPECT_EQ(a.provider, b.provider);
  EXPECT_EQ(a.model, b.model);
  EXPECT_EQ(a.usage.input_tokens, b.usage.input_tokens);
  EXPECT_EQ(a.usage.output_tokens, b.usage.output_tokens);
  EXPECT_EQ(a.usage.cache_read_tokens, b.usage.cache_read_tokens);
  EXPECT_EQ(a.usage.cache_write_tokens, b.usage.cache_write_tokens);
  EXPECT_EQ(a.http_status, b.http_status);
  EXPECT_EQ(a.degraded_level, b.degraded_level);
  EXPECT_EQ(a.flags_hash, b.flags_hash);
  EXPECT_EQ(a.redactions, b.redactions);
  EXPECT_EQ(a.stage_latency_us, b.stage_latency_us);
  EXPECT_EQ(a.latency_us, b.latency_us);
  EXPECT_EQ(a.cost, b.cost);
  EXPECT_EQ(a.baseline, b.baseline);
  EXPECT_EQ(a.baseline_cost, b.baseline_cost);
  EXPECT_EQ(a.savings, b.savings);
}

TEST(EventCodecTest, RoundTripsEveryField) {
  CostEvent e = FullEvent();
  std::string json = EncodeCostEventJson(e);
  auto back = DecodeCostEventJson(json);
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << json;
  ExpectSame(e, *back);
  // And a second round gives the same bytes.
  EXPECT_EQ(EncodeCostEventJson(*back), json);
}

// Keys of the by-name maps may come in any order (a consumer that re-serializes the JSON):
// the decoder looks the next component up first but must not depend on it.
TEST(EventCodecTest, DecodesComponentsAndStoriesInAnyOrder) {
  const CostEvent e = FullEvent();
  const std::string json = EncodeCostEventJson(e);
  // Rewrites the object after `key` with its members in reverse order.
  auto reverse_members = [](std::string in, const std::string& key) {
    size_t open = in.find("\"" + key + "\":{");
    EXPECT_NE(open, std::string::npos) << key;
    open = in.find('{', open);
    size_t close = in.find('}', open);
    std::vector<std::string> members = absl::StrSplit(in.substr(open + 1, close - open - 1), ',');
    std::reverse(members.begin(), members.end());
    return in.replace(open + 1, close - open - 1, absl::StrJoin(members, ","));
  };
  std::string shuffled = json;
  for (const char* key : {"cost_nanos", "baseline_cost_nanos", "savings_nanos"}) {
    shuffled = reverse_members(shuffled, key);
  }
  ASSERT_NE(shuffled, json);
  auto back = DecodeCostEventJson(shuffled);
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << shuffled;
  ExpectSame(e, *back);
}

TEST(EventCodecTest, RoundTripsDefaultEvent) {
  CostEvent e;
  auto back = DecodeCostEventJson(EncodeCostEventJson(e));
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSame(e, *back);
}

// US-02 added intent_version without a schema bump: events written before it (no such key)
// still decode, with an empty version, and an event without a version encodes as before.
TEST(EventCodecTest, IntentVersionIsOptional) {
  CostEvent e = FullEvent();
  e.intent_version.clear();
  const std::string old_json = EncodeCostEventJson(e);
  EXPECT_EQ(old_json.find("intent_version"), std::string::npos);
  auto back = DecodeCostEventJson(old_json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->intent_version, "");
  e.intent_version = "i1-0123456789ab";
  EXPECT_NE(EncodeCostEventJson(e).find("\"intent_version\":\"i1-0123456789ab\""),
            std::string::npos);
}

TEST(EventCodecTest, SchemaVersionComesFirst) {
  EXPECT_THAT(EncodeCostEventJson(FullEvent()), StartsWith("{\"schema_version\":2,"));
}

TEST(EventCodecTest, MoneyIsIntegerNanosKeyedByName) {
  std::string json = EncodeCostEventJson(FullEvent());
  EXPECT_THAT(json, HasSubstr("\"cost_nanos\":{\"llm_input\":7,\"llm_output\":1007,"));
  EXPECT_THAT(json, HasSubstr("\"compute\":9007}"));
  EXPECT_THAT(json, HasSubstr("\"total_nanos\":45070,"));
  EXPECT_THAT(json, HasSubstr("\"baseline_nanos\":14245119,"));
  EXPECT_THAT(json, HasSubstr("\"savings_nanos\":{\"us01\":-2000000,\"us02\":-999997,"));
  EXPECT_THAT(json, HasSubstr("\"redactions\":{\"email\":1,\"phone\":2,"));
  EXPECT_THAT(json, HasSubstr("\"street_address\":65535}"));
  EXPECT_THAT(json, HasSubstr("\"stage_latency_us\":[[\"admit\",12],[\"normalize\",345],"));
  EXPECT_THAT(json, HasSubstr("\"route\":\"semantic_cache\""));
}

TEST(EventCodecTest, EscapesStringsAndReplacesInvalidUtf8) {
  CostEvent e;
  e.intent = "a\"b\\c\n\x01日本";
  e.model = std::string("bad\xff");
  std::string json = EncodeCostEventJson(e);
  auto back = DecodeCostEventJson(json);
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << json;
  EXPECT_EQ(back->intent, e.intent);
  EXPECT_EQ(back->model, "bad\xEF\xBF\xBD");  // U+FFFD
}

TEST(EventCodecTest, RefusesNewerSchemaVersion) {
  auto r = DecodeCostEventJson("{\"schema_version\":3,\"request_id\":\"r\"}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.status().message(), "schema_version 3 is newer than this build (2)");
}

TEST(EventCodecTest, RefusesMissingOrBadSchemaVersion) {
  for (const char* json : {"{\"request_id\":\"r\"}", "{\"schema_version\":\"1\"}",
                           "{\"schema_version\":0}", "{\"schema_version\":1.5}"}) {
    auto r = DecodeCostEventJson(json);
    ASSERT_FALSE(r.ok()) << json;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << json;
  }
}

TEST(EventCodecTest, IgnoresUnknownFields) {
  auto r = DecodeCostEventJson(
      "{\"schema_version\":1,\"request_id\":\"r1\",\"new_field\":{\"x\":[1,2]},"
      "\"usage\":{\"input_tokens\":5,\"reasoning_tokens\":9},"
      "\"redactions\":{\"email\":2,\"passport\":1},\"also_new\":null}");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->request_id, "r1");
  EXPECT_EQ(r->usage.input_tokens, 5);
  EXPECT_EQ(r->redactions[0], 2);
}

TEST(EventCodecTest, RefusesMalformedInput) {
  for (const char* json :
       {"", "[]", "{\"schema_version\":1,", "{\"schema_version\":1,\"request_id\":7}",
        "{\"schema_version\":1,\"ts_unix_ms\":\"now\"}", "{\"schema_version\":1,\"tier\":\"gold\"}",
        "{\"schema_version\":1,\"route\":\"opus\"}",
        "{\"schema_version\":1,\"cost_nanos\":{\"llm_input\":1.5}}",
        "{\"schema_version\":1,\"cost_nanos\":{\"gpu\":1}}",
        "{\"schema_version\":1,\"savings_nanos\":{\"us09\":1}}",
        "{\"schema_version\":1,\"redactions\":{\"email\":70000}}",
        "{\"schema_version\":1,\"stage_latency_us\":[[\"admit\"]]}",
        "{\"schema_version\":1,\"cost_nanos\":{\"llm_input\":5},\"total_nanos\":6}"}) {
    auto r = DecodeCostEventJson(json);
    ASSERT_FALSE(r.ok()) << json;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << json;
  }
}

TEST(EventCodecTest, BaselineByComponentRoundTripsAndMustAddUp) {
  std::string json = EncodeCostEventJson(FullEvent());
  EXPECT_THAT(json, HasSubstr("\"baseline_cost_nanos\":{\"llm_input\":14000000,"));
  auto back = DecodeCostEventJson(json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->baseline_cost, FullEvent().baseline_cost);
  // A version 1 event has no breakdown: it decodes with zeros.
  auto v1 = DecodeCostEventJson("{\"schema_version\":1,\"request_id\":\"r\",\"baseline_nanos\":5}");
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_EQ(v1->baseline.nanos(), 5);
  EXPECT_EQ(v1->baseline_cost[0].nanos(), 0);
  auto bad = DecodeCostEventJson(
      "{\"schema_version\":2,\"baseline_nanos\":5,\"baseline_cost_nanos\":{\"llm_input\":4}}");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << bad.status();
}

}  // namespace
}  // namespace mangaassist::telemetry
