#include "cache/cached_response.h"

#include "gtest/gtest.h"

namespace mangaassist::cache {
namespace {

TEST(CachedResponseTest, RoundTripsEveryField) {
  CachedResponse r;
  r.answer = "ワンピース 105巻は在庫があります。\n\"quoted\"";
  r.model = "claude-3-5-haiku-20241022";
  r.route = core::Route::kSonnet;
  r.finish_reason = "stop_sequence";
  r.usage = {1200, 40, 300, 100};
  r.llm_input = core::Money::FromNanos(960'000);
  r.llm_output = core::Money::FromNanos(160'000);
  r.llm_cache_read = core::Money::FromNanos(24'000);
  r.llm_cache_write = core::Money::FromNanos(100'000);
  r.created_unix_ms = 1'793'000'000'123;
  auto d = DecodeCachedResponse(EncodeCachedResponse(r));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->answer, r.answer);
  EXPECT_EQ(d->model, r.model);
  EXPECT_EQ(d->route, r.route);
  EXPECT_EQ(d->finish_reason, r.finish_reason);
  EXPECT_EQ(d->usage.input_tokens, 1200);
  EXPECT_EQ(d->usage.output_tokens, 40);
  EXPECT_EQ(d->usage.cache_read_tokens, 300);
  EXPECT_EQ(d->usage.cache_write_tokens, 100);
  EXPECT_EQ(d->llm_input.nanos(), 960'000);
  EXPECT_EQ(d->llm_output.nanos(), 160'000);
  EXPECT_EQ(d->llm_cache_read.nanos(), 24'000);
  EXPECT_EQ(d->llm_cache_write.nanos(), 100'000);
  EXPECT_EQ(d->created_unix_ms, r.created_unix_ms);
}

TEST(CachedResponseTest, ForeignOrDamagedValuesAreRefusedWithoutThrowing) {
  CachedResponse r;
  r.answer = "ok";
  r.route = core::Route::kHaiku;
  const std::string good = EncodeCachedResponse(r);
  for (
      const std::string& bad :
      {std::string(""), std::string("null"), std::string("[1,2]"), good.substr(0, good.size() / 2),
       std::string(R"({"v":2,"answer":"x"})"),
       std::string(
           R"({"v":1,"answer":1,"model":"m","route":"haiku","finish":"stop","usage":[0,0,0,0],"cost_nanos":[0,0,0,0]})"),
       std::string(
           R"({"v":1,"answer":"a","model":"m","route":"warp","finish":"stop","usage":[0,0,0,0],"cost_nanos":[0,0,0,0]})"),
       std::string(
           R"({"v":1,"answer":"a","model":"m","route":"haiku","finish":"stop","usage":[0,0,0],"cost_nanos":[0,0,0,0]})")}) {
    EXPECT_EQ(DecodeCachedResponse(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace mangaassist::cache
