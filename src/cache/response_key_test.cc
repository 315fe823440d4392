// The response cache key changes with every input that can change an answer (every versioned
// input above all), stays equal for equal inputs, and starts with its model's prefix.
#include "cache/response_key.h"

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace mangaassist::cache {
namespace {

struct Fixture {
  std::vector<core::ChatTurn> history = {{false, "hi"}, {true, "hello!"}};
  std::vector<std::string> stop = {"\n\n"};
  ResponseKeyInputs Base() const {
    ResponseKeyInputs in;
    in.tenant = "default";
    in.locale = "ja-JP";
    in.lang = core::Lang::kJa;
    in.provider = "bedrock";
    in.model = "anthropic.claude-3-5-haiku-20241022-v1:0";
    in.model_version = "";
    in.prompt_template_version = "1";
    in.classifier_version = "";
    in.intent = "";
    in.system_prompt = "You are MangaAssist.";
    in.history = &history;
    in.message = "ワンピース 105巻 在庫ある？";
    in.max_tokens = 512;
    in.stop = &stop;
    return in;
  }
};

TEST(ResponseKeyTest, EqualInputsGiveEqualKeys) {
  Fixture f;
  EXPECT_EQ(ResponseCacheKey(f.Base()), ResponseCacheKey(f.Base()));
  EXPECT_EQ(ResponseCacheKey(f.Base()).size(), 16u + 1u + 32u);
}

TEST(ResponseKeyTest, EveryInputChangesTheKey) {
  Fixture f;
  std::vector<core::ChatTurn> other_history = {{false, "hi"}, {true, "hello"}};
  std::vector<core::ChatTurn> role_swapped = {{true, "hi"}, {true, "hello!"}};
  std::vector<std::string> other_stop = {"END"};
  const std::vector<std::pair<std::string, std::function<void(ResponseKeyInputs&)>>> changes = {
      {"tenant", [](ResponseKeyInputs& in) { in.tenant = "acme"; }},
      {"locale", [](ResponseKeyInputs& in) { in.locale = "en-US"; }},
      {"lang", [](ResponseKeyInputs& in) { in.lang = core::Lang::kMixed; }},
      {"provider", [](ResponseKeyInputs& in) { in.provider = "anthropic"; }},
      {"model id",
       [](ResponseKeyInputs& in) { in.model = "anthropic.claude-3-5-haiku-20250101-v1:0"; }},
      {"model version", [](ResponseKeyInputs& in) { in.model_version = "2"; }},
      {"prompt template version", [](ResponseKeyInputs& in) { in.prompt_template_version = "2"; }},
      {"classifier version",
       [](ResponseKeyInputs& in) { in.classifier_version = "intent-2026-11"; }},
      {"intent", [](ResponseKeyInputs& in) { in.intent = "product_info"; }},
      {"system prompt", [](ResponseKeyInputs& in) { in.system_prompt = "You are MangaAssist!"; }},
      {"history text", [&](ResponseKeyInputs& in) { in.history = &other_history; }},
      {"history role", [&](ResponseKeyInputs& in) { in.history = &role_swapped; }},
      {"no history", [](ResponseKeyInputs& in) { in.history = nullptr; }},
      {"message", [](ResponseKeyInputs& in) { in.message = "ワンピース 106巻 在庫ある？"; }},
      {"max_tokens", [](ResponseKeyInputs& in) { in.max_tokens = 256; }},
      {"temperature", [](ResponseKeyInputs& in) { in.temperature = 0.0f; }},
      {"top_p", [](ResponseKeyInputs& in) { in.top_p = 0.9f; }},
      {"stop", [&](ResponseKeyInputs& in) { in.stop = &other_stop; }},
  };
  std::set<std::string> keys = {ResponseCacheKey(f.Base())};
  for (const auto& [what, change] : changes) {
    ResponseKeyInputs in = f.Base();
    change(in);
    EXPECT_TRUE(keys.insert(ResponseCacheKey(in)).second) << what << " did not change the key";
  }
}

TEST(ResponseKeyTest, FieldBoundariesAreUnambiguous) {
  Fixture f;
  std::vector<core::ChatTurn> a = {{false, "ab"}, {false, "c"}};
  std::vector<core::ChatTurn> b = {{false, "a"}, {false, "bc"}};
  ResponseKeyInputs x = f.Base(), y = f.Base();
  x.history = &a;
  y.history = &b;
  EXPECT_NE(ResponseCacheKey(x), ResponseCacheKey(y));
  ResponseKeyInputs p = f.Base(), q = f.Base();
  p.tenant = "ab";
  p.locale = "c";
  q.tenant = "a";
  q.locale = "bc";
  EXPECT_NE(ResponseCacheKey(p), ResponseCacheKey(q));
}

TEST(ResponseKeyTest, KeyStartsWithItsModelPrefixSoAModelCanBeInvalidated) {
  Fixture f;
  ResponseKeyInputs in = f.Base();
  const std::string prefix = ResponseCacheModelPrefix(in.model, in.model_version);
  EXPECT_EQ(ResponseCacheKey(in).rfind(prefix, 0), 0u);
  EXPECT_NE(prefix, ResponseCacheModelPrefix(in.model, "2"));
  // Model ids that are prefixes of each other ("x" and "x:0") get unrelated prefixes.
  // Both are 17 characters, so differing means neither is a prefix of the other.
  EXPECT_NE(ResponseCacheModelPrefix("x", ""), ResponseCacheModelPrefix("x:0", ""));
}

}  // namespace
}  // namespace mangaassist::cache
