#include "http/query.h"

#include "gtest/gtest.h"

namespace mangaassist::http {
namespace {

TEST(QueryTest, SplitsAndDecodes) {
  auto q = ParseQuery("/admin/kpi?from=2026-11-01T00%3A00%3A00%2B09%3A00&to=1700000000000&format=text&x=a+b&flag");
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->at("from"), "2026-11-01T00:00:00+09:00");
  EXPECT_EQ(q->at("to"), "1700000000000");
  EXPECT_EQ(q->at("format"), "text");
  EXPECT_EQ(q->at("x"), "a b");
  EXPECT_EQ(q->at("flag"), "");
  EXPECT_EQ(q->size(), 5u);
}

TEST(QueryTest, NoQueryAndEmptyPairs) {
  EXPECT_TRUE(ParseQuery("/admin/kpi")->empty());
  EXPECT_TRUE(ParseQuery("/admin/kpi?")->empty());
  EXPECT_EQ(ParseQuery("/p?&&a=1&")->at("a"), "1");
}

TEST(QueryTest, RejectsBadEscapesDuplicatesAndNamelessPairs) {
  EXPECT_FALSE(ParseQuery("/p?a=%G1").ok());
  EXPECT_FALSE(ParseQuery("/p?a=%4").ok());
  EXPECT_FALSE(ParseQuery("/p?a=%").ok());
  EXPECT_FALSE(ParseQuery("/p?a=1&a=2").ok());
  EXPECT_FALSE(ParseQuery("/p?=1").ok());
}

}  // namespace
}  // namespace mangaassist::http
