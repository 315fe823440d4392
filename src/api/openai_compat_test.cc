#include "api/openai_compat.h"

#include "api/compat_json.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace mangaassist::api {
namespace {

using llm::Role;
using nlohmann::json;

constexpr int kDepth = 32;
constexpr int kDefaultMaxTokens = 777;

absl::StatusOr<CompatRequest> Parse(std::string_view body, int max_depth = kDepth) {
  return ParseOpenAiChatRequest(body, max_depth, kDefaultMaxTokens);
}

// A request body with `messages` and extra top-level fields (`extra` starts with a comma).
std::string Body(std::string_view messages, std::string_view extra = "") {
  return std::string(R"({"model":"auto","messages":)") + std::string(messages) +
         std::string(extra) + "}";
}

const std::string kUserHi = R"([{"role":"user","content":"hi"}])";

// Checks the SSE framing of one `data:` frame and returns its JSON payload.
json DataFrame(const std::string& frame) {
  EXPECT_EQ(frame.rfind("data: ", 0), 0u) << frame;
  EXPECT_GE(frame.size(), 8u);
  EXPECT_EQ(frame.substr(frame.size() - 2), "\n\n") << frame;
  std::string payload = frame.substr(6, frame.size() - 8);
  // A raw newline inside the payload would end the SSE field early.
  EXPECT_EQ(payload.find('\n'), std::string::npos) << frame;
  EXPECT_EQ(payload.find('\r'), std::string::npos) << frame;
  return json::parse(payload);
}

void ExpectInvalid(std::string_view body, std::string_view needle) {
  auto r = Parse(body);
  ASSERT_FALSE(r.ok()) << body;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << body;
  EXPECT_NE(r.status().message().find(absl::string_view(needle.data(), needle.size())),
            absl::string_view::npos)
      << body << " → " << r.status();
}

// The fast path of AppendJsonString (strings that need no escaping) writes exactly what the
// serializer writes for every kind of input, and the output always parses back.
TEST(CompatJsonTest, AppendJsonStringMatchesTheSerializer) {
  const std::vector<std::string> inputs = {
      "", "req-0123", "Yes, volume 105 is in stock.", "ワンピース105巻は在庫があります",
      "mixed 日本語 and emoji 😀", "quote \" inside", "back\\slash", "tab\tand\nnewline",
      std::string("nul\0byte", 8), "del \x7f char", "bad \xff\xfe utf-8", "cut \xe3\x81",
      "overlong \xc0\xaf", "surrogate \xed\xa0\x80"};
  for (const std::string& s : inputs) {
    std::string fast = "x";
    internal::AppendJsonString(&fast, s);
    const std::string slow = "x" + nlohmann::json(s).dump(-1, ' ', false,
                                                          nlohmann::json::error_handler_t::replace);
    EXPECT_EQ(fast, slow) << s;
    EXPECT_TRUE(nlohmann::json::accept(fast.substr(1))) << s;
  }
}

// The scan reads words of eight bytes and then a tail: every character that needs escaping
// (or is not ASCII) is found at every position of strings across several word lengths.
TEST(CompatJsonTest, AppendJsonStringFindsSpecialsAtEveryPosition) {
  const std::vector<std::string> specials = {"\"", "\\", std::string(1, '\0'), "\x01", "\n",
                                             "\x1f", "\xff", "\xc3\xa9", "\xe3\x81"};
  for (size_t len = 0; len <= 26; ++len) {
    for (size_t at = 0; at <= len; ++at) {
      for (const std::string& sp : specials) {
        std::string s(len, 'a');
        s.insert(at, sp);
        std::string fast;
        internal::AppendJsonString(&fast, s);
        const std::string slow =
            nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        ASSERT_EQ(fast, slow) << "len " << len << " at " << at;
      }
    }
    std::string plain(len, ' ');  // 0x20 and '!' (0x21) sit right at the escape boundary
    for (size_t k = 0; k < len; ++k) plain[k] = k % 2 ? '!' : ' ';
    std::string fast;
    internal::AppendJsonString(&fast, plain);
    ASSERT_EQ(fast, "\"" + plain + "\"");
  }
}

TEST(OpenAiParseTest, MinimalRequestGetsDefaults) {
  auto r = Parse(Body(kUserHi));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->model, "auto");
  EXPECT_EQ(r->llm.model, "");  // resolved later by the gateway
  ASSERT_EQ(r->llm.messages.size(), 1u);
  EXPECT_EQ(r->llm.messages[0].role, Role::kUser);
  EXPECT_EQ(r->llm.messages[0].content, "hi");
  EXPECT_EQ(r->llm.system, "");
  EXPECT_EQ(r->llm.max_tokens, kDefaultMaxTokens);
  EXPECT_FALSE(r->llm.temperature.has_value());
  EXPECT_FALSE(r->llm.top_p.has_value());
  EXPECT_TRUE(r->llm.stop.empty());
  EXPECT_FALSE(r->stream);
  EXPECT_FALSE(r->include_usage);
  EXPECT_EQ(r->user, "");
}

TEST(OpenAiParseTest, ReadsEveryAcceptedField) {
  auto r = Parse(Body(kUserHi, R"(,"max_tokens":64,"temperature":1.5,"top_p":0.9,
      "stop":"END","stream":true,"stream_options":{"include_usage":true},"user":"u-42",
      "some_future_field":{"nested":[1,2,3]},"store":false,"metadata":{"k":"v"})"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->llm.max_tokens, 64);
  ASSERT_TRUE(r->llm.temperature.has_value());
  EXPECT_FLOAT_EQ(*r->llm.temperature, 1.5f);
  ASSERT_TRUE(r->llm.top_p.has_value());
  EXPECT_FLOAT_EQ(*r->llm.top_p, 0.9f);
  EXPECT_EQ(r->llm.stop, std::vector<std::string>{"END"});
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  EXPECT_EQ(r->user, "u-42");
}

TEST(OpenAiParseTest, IntegerTemperatureAndBoundsAreAccepted) {
  for (std::string_view t : {"0", "2", "1", "0.0", "2.0"}) {
    auto r = Parse(Body(kUserHi, std::string(",\"temperature\":") + std::string(t)));
    ASSERT_TRUE(r.ok()) << t << " " << r.status();
    EXPECT_TRUE(r->llm.temperature.has_value());
  }
  auto r = Parse(Body(kUserHi, R"(,"top_p":1)"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FLOAT_EQ(*r->llm.top_p, 1.0f);
}

TEST(OpenAiParseTest, NeutralFormsOfUntranslatableFieldsAreAccepted) {
  auto r = Parse(Body(kUserHi, R"(,"tools":[],"functions":[],"tool_choice":"none",
      "function_call":"none","n":1,"logprobs":false,"top_logprobs":null,"logit_bias":{},
      "response_format":{"type":"text"},"audio":null,"modalities":["text"],
      "presence_penalty":0,"frequency_penalty":0.0,"seed":null,"parallel_tool_calls":true)"));
  ASSERT_TRUE(r.ok()) << r.status();
}

TEST(OpenAiParseTest, NullMeansAbsent) {
  auto r = Parse(Body(kUserHi, R"(,"max_tokens":null,"temperature":null,"top_p":null,
      "stop":null,"stream":null,"stream_options":null,"user":null,"tools":null)"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->llm.max_tokens, kDefaultMaxTokens);
  EXPECT_FALSE(r->llm.temperature.has_value());
  EXPECT_FALSE(r->stream);
}

TEST(OpenAiParseTest, SystemAndDeveloperMessagesJoinIntoTheSystemPrompt) {
  auto r = Parse(Body(R"([
      {"role":"system","content":"You are MangaAssist."},
      {"role":"developer","content":[{"type":"text","text":"Answer "},
                                     {"type":"text","text":"briefly."}]},
      {"role":"system","content":""},
      {"role":"user","content":"hi"}])"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->llm.system, "You are MangaAssist.\n\nAnswer briefly.");
  EXPECT_FALSE(r->llm.cache_system);
  ASSERT_EQ(r->llm.messages.size(), 1u);
}

TEST(OpenAiParseTest, TextPartsAreConcatenated) {
  auto r = Parse(Body(R"([{"role":"user","content":[{"type":"text","text":"One "},
      {"type":"text","text":"Piece"}]}])"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->llm.messages[0].content, "One Piece");
}

TEST(OpenAiParseTest, ConsecutiveSameRoleMessagesAreMergedWithABlankLine) {
  auto r = Parse(Body(R"([
      {"role":"user","content":"a"},{"role":"user","content":"b","name":"bob"},
      {"role":"assistant","content":"c"},{"role":"assistant","content":[{"type":"text","text":"d"}]},
      {"role":"user","content":""},{"role":"user","content":"e"}])"));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->llm.messages.size(), 3u);
  EXPECT_EQ(r->llm.messages[0].role, Role::kUser);
  EXPECT_EQ(r->llm.messages[0].content, "a\n\nb");
  EXPECT_EQ(r->llm.messages[1].role, Role::kAssistant);
  EXPECT_EQ(r->llm.messages[1].content, "c\n\nd");
  EXPECT_EQ(r->llm.messages[2].role, Role::kUser);
  EXPECT_EQ(r->llm.messages[2].content, "e");  // an empty turn adds no separator
}

TEST(OpenAiParseTest, JapaneseAndEscapesSurviveParsing) {
  auto r = Parse(
      Body(R"([{"role":"user","content":"ワンピース 105巻\n\"在庫\"は？ \u00e9\ud83d\ude00"}])"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->llm.messages[0].content, "ワンピース 105巻\n\"在庫\"は？ é😀");
}

TEST(OpenAiParseTest, StopAsArrayOfUpToFour) {
  auto r = Parse(Body(kUserHi, R"(,"stop":["a","b","c","d"])"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->llm.stop, (std::vector<std::string>{"a", "b", "c", "d"}));
  ExpectInvalid(Body(kUserHi, R"(,"stop":["a","b","c","d","e"])"), "'stop' may hold at most 4");
  ExpectInvalid(Body(kUserHi, R"(,"stop":["a",3])"), "'stop[1]' must be a string");
  ExpectInvalid(Body(kUserHi, R"(,"stop":7)"), "'stop' must be a string or an array");
}

TEST(OpenAiParseTest, MaxTokensFromEitherFieldMustAgree) {
  auto r = Parse(Body(kUserHi, R"(,"max_completion_tokens":300)"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->llm.max_tokens, 300);
  r = Parse(Body(kUserHi, R"(,"max_tokens":300,"max_completion_tokens":300)"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->llm.max_tokens, 300);
  ExpectInvalid(Body(kUserHi, R"(,"max_tokens":300,"max_completion_tokens":200)"),
                "'max_tokens' (300) and 'max_completion_tokens' (200) disagree");
  ExpectInvalid(Body(kUserHi, R"(,"max_tokens":0)"), "'max_tokens' must be between 1");
  ExpectInvalid(Body(kUserHi, R"(,"max_completion_tokens":-5)"),
                "'max_completion_tokens' must be between 1");
  ExpectInvalid(Body(kUserHi, R"(,"max_tokens":3000000000)"), "'max_tokens' must be between 1");
  ExpectInvalid(Body(kUserHi, R"(,"max_tokens":10.5)"), "'max_tokens' must be an integer");
  ExpectInvalid(Body(kUserHi, R"(,"max_tokens":"10")"), "'max_tokens' must be an integer");
}

TEST(OpenAiParseTest, SamplingRangesAreEnforced) {
  ExpectInvalid(Body(kUserHi, R"(,"temperature":2.01)"), "'temperature' must be between 0 and 2");
  ExpectInvalid(Body(kUserHi, R"(,"temperature":-0.1)"), "'temperature' must be between 0 and 2");
  ExpectInvalid(Body(kUserHi, R"(,"temperature":"hot")"), "'temperature' must be a number");
  ExpectInvalid(Body(kUserHi, R"(,"top_p":0)"), "'top_p' must be greater than 0");
  ExpectInvalid(Body(kUserHi, R"(,"top_p":1.01)"), "'top_p' must be greater than 0");
}

TEST(OpenAiParseTest, EachUntranslatableFeatureIsRefusedByName) {
  struct Case {
    std::string extra;
    std::string needle;
  };
  std::vector<Case> cases = {
      {R"(,"tools":[{"type":"function","function":{"name":"f"}}])", "'tools'"},
      {R"(,"functions":[{"name":"f"}])", "'functions'"},
      {R"(,"tool_choice":"auto")", "'tool_choice'"},
      {R"(,"tool_choice":{"type":"function","function":{"name":"f"}})", "'tool_choice'"},
      {R"(,"function_call":"auto")", "'function_call'"},
      {R"(,"n":2)", "'n' greater than 1"},
      {R"(,"logprobs":true)", "'logprobs'"},
      {R"(,"top_logprobs":3)", "'top_logprobs'"},
      {R"(,"logit_bias":{"50256":-100})", "'logit_bias'"},
      {R"(,"response_format":{"type":"json_object"})", "'response_format' of type 'json_object'"},
      {R"(,"response_format":{"type":"json_schema","json_schema":{}})", "'response_format'"},
      {R"(,"audio":{"voice":"alloy","format":"wav"})", "'audio'"},
      {R"(,"modalities":["text","audio"])", "'modalities'"},
      {R"(,"presence_penalty":0.5)", "'presence_penalty'"},
      {R"(,"frequency_penalty":-1)", "'frequency_penalty'"},
      {R"(,"seed":42)", "'seed'"},
  };
  for (const auto& c : cases) {
    auto r = Parse(Body(kUserHi, c.extra));
    ASSERT_FALSE(r.ok()) << c.extra;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.extra;
    std::string message(r.status().message());
    EXPECT_NE(message.find(c.needle), std::string::npos) << c.extra << " → " << message;
    EXPECT_NE(message.find("cannot be translated faithfully"), std::string::npos) << message;
  }
  ExpectInvalid(Body(kUserHi, R"(,"n":0)"), "'n' must be at least 1");
  ExpectInvalid(Body(kUserHi, R"(,"tools":{"a":1})"), "'tools' must be an array");
  ExpectInvalid(Body(kUserHi, R"(,"logprobs":1)"), "'logprobs' must be a boolean");
}

TEST(OpenAiParseTest, NonTextContentPartsNameTheFeature) {
  struct Case {
    std::string part;
    std::string needle;
  };
  std::vector<Case> cases = {
      {R"({"type":"image_url","image_url":{"url":"https://x/y.png"}})", "image input"},
      {R"({"type":"input_audio","input_audio":{"data":"...","format":"wav"}})", "audio input"},
      {R"({"type":"file","file":{"file_id":"f"}})", "file input"},
      {R"({"type":"hologram"})", "'hologram'"},
  };
  for (const auto& c : cases) {
    std::string messages =
        R"([{"role":"user","content":[{"type":"text","text":"look"},)" + c.part + "]}]";
    auto r = Parse(Body(messages));
    ASSERT_FALSE(r.ok()) << c.part;
    std::string message(r.status().message());
    EXPECT_NE(message.find("messages[0].content[1]"), std::string::npos) << message;
    EXPECT_NE(message.find(c.needle), std::string::npos) << message;
  }
}

TEST(OpenAiParseTest, ToolMessagesAndCallsAreRefused) {
  ExpectInvalid(Body(R"([{"role":"user","content":"hi"},{"role":"tool","content":"42",
      "tool_call_id":"c1"}])"),
                "'messages[1].role' \"tool\"");
  ExpectInvalid(Body(R"([{"role":"user","content":"hi"},{"role":"function","content":"42",
      "name":"f"}])"),
                "\"function\"");
  ExpectInvalid(Body(R"([{"role":"user","content":"hi"},{"role":"assistant","content":null,
      "tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},
      {"role":"user","content":"ok"}])"),
                "'messages[1].tool_calls'");
  auto r = Parse(Body(R"([{"role":"user","content":"hi"},
      {"role":"assistant","content":"x","tool_calls":[]},{"role":"user","content":"ok"}])"));
  EXPECT_TRUE(r.ok()) << r.status();
}

TEST(OpenAiParseTest, ConversationShapeErrors) {
  ExpectInvalid(Body("[]"), "'messages' must not be empty");
  ExpectInvalid(R"({"model":"auto"})", "'messages' is required");
  ExpectInvalid(Body(R"({"role":"user"})"), "'messages' must be an array");
  ExpectInvalid(Body(R"([{"role":"system","content":"s"}])"), "at least one user message");
  ExpectInvalid(Body(R"([{"role":"assistant","content":"hello"},{"role":"user","content":"hi"}])"),
                "first message after the system messages must be from the user");
  ExpectInvalid(Body(R"([{"role":"user","content":"hi"},{"role":"assistant","content":"Sure"}])"),
                "must end with a user message");
  ExpectInvalid(Body(R"([{"role":"user","content":"hi"},{"role":"system","content":"late"},
      {"role":"user","content":"again"}])"),
                "a system message after the first user");
  ExpectInvalid(Body(R"([{"role":"user","content":"hi"},{"role":"developer","content":"late"},
      {"role":"user","content":"again"}])"),
                "'messages[1]'");
  ExpectInvalid(Body(R"([{"role":"user"}])"), "'messages[0].content' is required");
  ExpectInvalid(Body(R"([{"role":"user","content":null}])"), "'messages[0].content' is required");
  ExpectInvalid(Body(R"([{"content":"x"}])"), "'messages[0].role' is required");
  ExpectInvalid(Body(R"([{"role":"robot","content":"x"}])"), "got 'robot'");
  ExpectInvalid(Body(R"([{"role":7,"content":"x"}])"), "'messages[0].role' must be a string");
  ExpectInvalid(Body(R"(["hi"])"), "'messages[0]' must be an object");
  ExpectInvalid(Body(R"([{"role":"user","content":42}])"),
                "'messages[0].content' must be a string");
  ExpectInvalid(Body(R"([{"role":"user","content":[{"text":"x"}]}])"),
                "'messages[0].content[0].type' is required");
  ExpectInvalid(Body(R"([{"role":"user","content":[{"type":"text"}]}])"),
                "'messages[0].content[0].text' is required");
  ExpectInvalid(Body(R"([{"role":"user","content":["x"]}])"),
                "'messages[0].content[0]' must be an object");
}

TEST(OpenAiParseTest, ModelAndTopLevelTypeErrors) {
  ExpectInvalid(R"({"messages":[{"role":"user","content":"hi"}]})", "'model' is required");
  ExpectInvalid(R"({"model":"","messages":[{"role":"user","content":"hi"}]})",
                "'model' must not be empty");
  ExpectInvalid(R"({"model":5,"messages":[{"role":"user","content":"hi"}]})",
                "'model' must be a string");
  ExpectInvalid(Body(kUserHi, R"(,"stream":"yes")"), "'stream' must be a boolean");
  ExpectInvalid(Body(kUserHi, R"(,"stream_options":true)"), "'stream_options' must be an object");
  ExpectInvalid(Body(kUserHi, R"(,"stream_options":{"include_usage":1})"),
                "'stream_options.include_usage' must be a boolean");
  ExpectInvalid(Body(kUserHi, R"(,"user":{"id":1})"), "'user' must be a string");
}

TEST(OpenAiParseTest, EachMalformedBodyClassIsAClearInvalidArgument) {
  std::string deep = std::string(40, '[') + std::string(40, ']');
  struct Case {
    std::string body;
    std::string needle;
  };
  std::vector<Case> cases = {
      {"", "empty"},
      {R"({"model":"auto",)", "malformed JSON"},
      {"{model: auto}", "malformed JSON"},
      {"[1,2]", "JSON object"},
      {"42", "JSON object"},
      {std::string(R"({"model":"auto","messages":[{"role":"user","content":"bad )") + "\xff\xfe" +
           R"("}]})",
       "UTF-8"},
      {Body(kUserHi, ",\"x\":" + deep), "nesting"},
  };
  for (const auto& c : cases) {
    auto r = Parse(c.body);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.body;
    EXPECT_NE(r.status().message().find(c.needle), absl::string_view::npos)
        << c.body << " → " << r.status();
  }
}

TEST(OpenAiParseTest, DepthLimitIsTheCallersAndParsersAreReusedAcrossLimits) {
  std::string nested = Body(kUserHi, R"(,"x":[[[[[1]]]]])");  // 6 levels with the root
  EXPECT_FALSE(Parse(nested, 4).ok());
  EXPECT_TRUE(Parse(nested, 8).ok());
  EXPECT_FALSE(Parse(nested, 4).ok());
}

TEST(OpenAiRenderTest, FinishReasonMap) {
  EXPECT_EQ(OpenAiFinishReason("stop"), "stop");
  EXPECT_EQ(OpenAiFinishReason("stop_sequence"), "stop");
  EXPECT_EQ(OpenAiFinishReason("length"), "length");
  EXPECT_EQ(OpenAiFinishReason("error"), "stop");
  EXPECT_EQ(OpenAiFinishReason(""), "stop");
}

llm::LlmResponse SampleResponse() {
  llm::LlmResponse r;
  r.text = "「ワンピース」105巻は\n在庫あり: \"yes\" \\ tab\there \x01 end";
  r.usage.input_tokens = 100;
  r.usage.cache_read_tokens = 40;
  r.usage.cache_write_tokens = 10;
  r.usage.output_tokens = 25;
  r.model = "claude-3-5-haiku";
  r.finish_reason = "length";
  return r;
}

TEST(OpenAiRenderTest, ChatCompletionRoundTrips) {
  llm::LlmResponse r = SampleResponse();
  json j = json::parse(OpenAiChatResponseJson("chatcmpl-1", "auto", 1700000000, r));
  EXPECT_EQ(j["id"], "chatcmpl-1");
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["created"], 1700000000);
  EXPECT_EQ(j["model"], "auto");
  ASSERT_EQ(j["choices"].size(), 1u);
  EXPECT_EQ(j["choices"][0]["index"], 0);
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], r.text);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 150);  // input + cache read + cache write
  EXPECT_EQ(j["usage"]["completion_tokens"], 25);
  EXPECT_EQ(j["usage"]["total_tokens"], 175);
  EXPECT_EQ(j["usage"]["prompt_tokens_details"]["cached_tokens"], 40);
}

TEST(OpenAiRenderTest, ChatCompletionMapsStopSequenceToStop) {
  llm::LlmResponse r = SampleResponse();
  r.finish_reason = "stop_sequence";
  json j = json::parse(OpenAiChatResponseJson("i", "m", 1, r));
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
}

TEST(OpenAiRenderTest, StringsAreEscapedIncludingIdAndModel) {
  llm::LlmResponse r;
  std::string all_controls;
  for (int c = 0; c < 0x20; ++c) all_controls.push_back(static_cast<char>(c));
  r.text = all_controls + "\"\\/\x7f" + "漫画";
  std::string out = OpenAiChatResponseJson("id\"x", "mo\ndel", 1, r);
  json j = json::parse(out);
  EXPECT_EQ(j["id"], "id\"x");
  EXPECT_EQ(j["model"], "mo\ndel");
  EXPECT_EQ(j["choices"][0]["message"]["content"], r.text);
  EXPECT_NE(out.find("\\u0000"), std::string::npos);
  EXPECT_NE(out.find("\\u001f"), std::string::npos);
  EXPECT_NE(out.find("\\n"), std::string::npos);
  EXPECT_NE(out.find("漫画"), std::string::npos);  // UTF-8 stays raw, not \u-escaped
}

TEST(OpenAiRenderTest, InvalidUtf8IsReplacedNotEmitted) {
  // A lone continuation byte, a truncated 3-byte sequence, an overlong '/', a surrogate and a
  // code point above U+10FFFF.
  std::string bad = std::string("a\x80") + "b\xE3\x81" + "c\xC0\xAF" + "d\xED\xA0\x80" +
                    "e\xF4\x90\x80\x80" + "f";
  std::string frame = OpenAiStreamDeltaChunk("i", "m", 1, bad);
  json j = DataFrame(frame);  // nlohmann's parser rejects invalid UTF-8
  std::string content = j["choices"][0]["delta"]["content"];
  EXPECT_EQ(content.find('\x80'), std::string::npos);
  EXPECT_EQ(content.front(), 'a');
  EXPECT_EQ(content.back(), 'f');
  EXPECT_NE(content.find("\xEF\xBF\xBD"), std::string::npos);
  EXPECT_NE(content.find('d'), std::string::npos);
  // A valid 4-byte sequence at the very end is not mistaken for a truncated one.
  j = DataFrame(OpenAiStreamDeltaChunk("i", "m", 1, "x😀"));
  EXPECT_EQ(j["choices"][0]["delta"]["content"], "x😀");
}

TEST(OpenAiRenderTest, StreamChunksAreFramedAndCarryTheRightFields) {
  json role = DataFrame(OpenAiStreamRoleChunk("chatcmpl-9", "auto", 1234));
  EXPECT_EQ(role["id"], "chatcmpl-9");
  EXPECT_EQ(role["object"], "chat.completion.chunk");
  EXPECT_EQ(role["created"], 1234);
  EXPECT_EQ(role["model"], "auto");
  EXPECT_EQ(role["choices"][0]["index"], 0);
  EXPECT_EQ(role["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(role["choices"][0]["delta"]["content"], "");
  EXPECT_TRUE(role["choices"][0]["finish_reason"].is_null());

  json delta =
      DataFrame(OpenAiStreamDeltaChunk("chatcmpl-9", "auto", 1234, "こんにちは\n\n「世界」"));
  EXPECT_EQ(delta["choices"][0]["delta"]["content"], "こんにちは\n\n「世界」");
  EXPECT_FALSE(delta["choices"][0]["delta"].contains("role"));
  EXPECT_TRUE(delta["choices"][0]["finish_reason"].is_null());

  json finish = DataFrame(OpenAiStreamFinishChunk("chatcmpl-9", "auto", 1234, "length"));
  EXPECT_TRUE(finish["choices"][0]["delta"].empty());
  EXPECT_EQ(finish["choices"][0]["finish_reason"], "length");
  finish = DataFrame(OpenAiStreamFinishChunk("chatcmpl-9", "auto", 1234, "stop_sequence"));
  EXPECT_EQ(finish["choices"][0]["finish_reason"], "stop");

  core::TokenUsage usage{
      .input_tokens = 7, .output_tokens = 5, .cache_read_tokens = 3, .cache_write_tokens = 2};
  json u = DataFrame(OpenAiStreamUsageChunk("chatcmpl-9", "auto", 1234, usage));
  EXPECT_TRUE(u["choices"].is_array());
  EXPECT_TRUE(u["choices"].empty());
  EXPECT_EQ(u["usage"]["prompt_tokens"], 12);
  EXPECT_EQ(u["usage"]["completion_tokens"], 5);
  EXPECT_EQ(u["usage"]["total_tokens"], 17);
  EXPECT_EQ(u["usage"]["prompt_tokens_details"]["cached_tokens"], 3);

  EXPECT_EQ(OpenAiStreamDone(), "data: [DONE]\n\n");
}

TEST(OpenAiRenderTest, ErrorTypesFollowTheHttpStatus) {
  struct Case {
    absl::Status status;
    std::string type;
    std::string code;
  };
  std::vector<Case> cases = {
      {absl::InvalidArgumentError("bad"), "invalid_request_error", "invalid_request_error"},
      {absl::UnauthenticatedError("key"), "authentication_error", "authentication_error"},
      {absl::PermissionDeniedError("no"), "permission_error", "permission_error"},
      {absl::NotFoundError("none"), "not_found_error", "not_found_error"},
      {absl::ResourceExhaustedError("slow down"), "rate_limit_error", "rate_limit_error"},
      {absl::OutOfRangeError("big"), "invalid_request_error", "request_too_large"},
      {absl::UnavailableError("down"), "api_error", "overloaded_error"},
      {absl::DeadlineExceededError("late"), "api_error", "timeout_error"},
      {absl::InternalError("oops"), "api_error", "api_error"},
  };
  for (const auto& c : cases) {
    json j = json::parse(OpenAiErrorJson(c.status, "req-1"));
    EXPECT_EQ(j["error"]["type"], c.type) << c.status;
    EXPECT_EQ(j["error"]["code"], c.code) << c.status;
    EXPECT_EQ(j["error"]["message"], std::string(c.status.message()));
    EXPECT_TRUE(j["error"]["param"].is_null());
    EXPECT_EQ(j["error"]["request_id"], "req-1");
  }
}

TEST(OpenAiRenderTest, ErrorMessagesAreEscapedAndStreamErrorsAreDataFrames) {
  absl::Status status = absl::InvalidArgumentError("'x' \"quoted\"\nline two 日本語");
  json j = json::parse(OpenAiErrorJson(status, "r\"1"));
  EXPECT_EQ(j["error"]["message"], "'x' \"quoted\"\nline two 日本語");
  EXPECT_EQ(j["error"]["request_id"], "r\"1");

  json e = DataFrame(OpenAiStreamError(absl::UnavailableError("upstream down"), "req-2"));
  EXPECT_EQ(e["error"]["type"], "api_error");
  EXPECT_EQ(e["error"]["message"], "upstream down");
  EXPECT_EQ(e["error"]["request_id"], "req-2");
}

TEST(OpenAiRenderTest, ModelsList) {
  json j = json::parse(OpenAiModelsJson({"auto", "claude-3-5-haiku", "we\"ird"}, 1700000001));
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 3u);
  EXPECT_EQ(j["data"][0]["id"], "auto");
  EXPECT_EQ(j["data"][1]["id"], "claude-3-5-haiku");
  EXPECT_EQ(j["data"][2]["id"], "we\"ird");
  for (const auto& m : j["data"]) {
    EXPECT_EQ(m["object"], "model");
    EXPECT_EQ(m["created"], 1700000001);
    EXPECT_EQ(m["owned_by"], "mangaassist");
  }
  json empty = json::parse(OpenAiModelsJson({}, 1));
  EXPECT_TRUE(empty["data"].is_array());
  EXPECT_TRUE(empty["data"].empty());
}

}  // namespace
}  // namespace mangaassist::api
