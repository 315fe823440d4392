#include "core/bounded_memo.h"

#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace mangaassist::core {
namespace {

std::string Get(const BoundedMemo<std::string>& memo, std::string_view key) {
  std::string out = "<absent>";
  memo.Visit(key, [&](const std::string& v) { out = v; });
  return out;
}

TEST(BoundedMemoTest, StoresReplacesAndMisses) {
  BoundedMemo<std::string> memo(100);
  EXPECT_FALSE(memo.Visit("a", [](const std::string&) { FAIL() << "visited an absent key"; }));
  memo.Put("a", "1");
  memo.Put("b", "2");
  EXPECT_EQ(Get(memo, "a"), "1");
  EXPECT_EQ(Get(memo, "b"), "2");
  memo.Put("a", "3");
  EXPECT_EQ(Get(memo, "a"), "3");
  EXPECT_EQ(memo.size(), 2u);
  EXPECT_EQ(Get(memo, std::string("a\0", 2)), "<absent>");  // keys are whole byte strings
}

TEST(BoundedMemoTest, NeverHoldsMoreThanItsCap) {
  BoundedMemo<int> memo(64, 4);
  for (int i = 0; i < 10000; ++i) memo.Put("key-" + std::to_string(i), i);
  EXPECT_LE(memo.size(), 64u);
  EXPECT_GT(memo.size(), 0u);
  int found = 0;
  for (int i = 0; i < 10000; ++i) {
    memo.Visit("key-" + std::to_string(i), [&](const int& v) {
      EXPECT_EQ(v, i);  // whatever survived is still the value of its own key
      ++found;
    });
  }
  EXPECT_EQ(static_cast<size_t>(found), memo.size());
  EXPECT_EQ(Get(BoundedMemo<std::string>(1, 8), "x"), "<absent>");  // a cap below the shards
}

TEST(BoundedMemoTest, ManyThreadsReadAndWrite) {
  BoundedMemo<int> memo(256);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5000; ++i) {
        const int k = (i * 7 + t) % 500;
        const std::string key = std::to_string(k);
        if (!memo.Visit(key, [&](const int& v) {
              if (v != k) wrong.fetch_add(1);
            })) {
          memo.Put(key, k);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LE(memo.size(), 256u);
}

TEST(DecodedMemoTest, AnswersOnlyForTheBytesItDecoded) {
  DecodedMemo<int> memo(16, /*max_bytes=*/8);
  EXPECT_FALSE(memo.Find("k", "v1").has_value());
  memo.Put("k", "v1", 1);
  EXPECT_EQ(memo.Find("k", "v1"), std::optional<int>(1));
  EXPECT_FALSE(memo.Find("k", "v2").has_value());  // rewritten bytes: decode afresh
  EXPECT_FALSE(memo.Find("other", "v1").has_value());
  memo.Put("k", "v2", 2);
  EXPECT_EQ(memo.Find("k", "v2"), std::optional<int>(2));
  EXPECT_FALSE(memo.Find("k", "v1").has_value());
  memo.Put("big", "123456789", 9);  // over max_bytes: not kept
  EXPECT_FALSE(memo.Find("big", "123456789").has_value());
}

}  // namespace
}  // namespace mangaassist::core
