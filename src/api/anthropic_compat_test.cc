#include "api/anthropic_compat.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace mangaassist::api {
namespace {

using llm::Role;
using nlohmann::json;

constexpr int kDepth = 32;

absl::StatusOr<CompatRequest> Parse(std::string_view body) {
  return ParseAnthropicMessagesRequest(body, kDepth);
}

// A request body with `messages` and extra top-level fields (`extra` starts with a comma).
std::string Body(std::string_view messages, std::string_view extra = "") {
  return std::string(R"({"model":"claude-3-5-haiku","max_tokens":256,"messages":)") +
         std::string(messages) + std::string(extra) + "}";
}

const std::string kUserHi = R"([{"role":"user","content":"hi"}])";

void ExpectInvalid(std::string_view body, std::string_view needle) {
  auto r = Parse(body);
  ASSERT_FALSE(r.ok()) << body;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << body;
  EXPECT_NE(r.status().message().find(absl::string_view(needle.data(), needle.size())),
            absl::string_view::npos)
      << body << " → " << r.status();
}

// Checks the framing of one SSE event (`event: <name>\ndata: <json>\n\n`), returns the JSON.
json EventFrame(const std::string& frame, std::string_view name) {
  const std::string head = "event: " + std::string(name) + "\ndata: ";
  EXPECT_EQ(frame.rfind(head, 0), 0u) << frame;
  EXPECT_EQ(frame.substr(frame.size() - 2), "\n\n") << frame;
  std::string payload = frame.substr(head.size(), frame.size() - head.size() - 2);
  EXPECT_EQ(payload.find('\n'), std::string::npos) << frame;
  json j = json::parse(payload);
  if (name != "error") {
    EXPECT_EQ(j["type"], std::string(name));
  }
  return j;
}

TEST(AnthropicParseTest, MinimalRequest) {
  auto r = Parse(Body(kUserHi));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->model, "claude-3-5-haiku");
  EXPECT_EQ(r->llm.model, "");
  EXPECT_EQ(r->llm.max_tokens, 256);
  ASSERT_EQ(r->llm.messages.size(), 1u);
  EXPECT_EQ(r->llm.messages[0].role, Role::kUser);
  EXPECT_EQ(r->llm.messages[0].content, "hi");
  EXPECT_EQ(r->llm.system, "");
  EXPECT_FALSE(r->llm.cache_system);
  EXPECT_FALSE(r->llm.temperature.has_value());
  EXPECT_FALSE(r->stream);
  EXPECT_FALSE(r->include_usage);
  EXPECT_EQ(r->user, "");
}

TEST(AnthropicParseTest, ReadsEveryAcceptedField) {
  auto r = Parse(Body(kUserHi, R"(,"system":"You are MangaAssist.","temperature":0.7,
      "top_p":0.95,"stop_sequences":["\n\nHuman:","END"],"stream":true,
      "metadata":{"user_id":"u-7"},"service_tier":"auto","unknown":{"deep":[1]},
      "tools":[],"tool_choice":{"type":"none"},"thinking":{"type":"disabled"},"top_k":null)"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->llm.system, "You are MangaAssist.");
  EXPECT_FALSE(r->llm.cache_system);
  ASSERT_TRUE(r->llm.temperature.has_value());
  EXPECT_FLOAT_EQ(*r->llm.temperature, 0.7f);
  ASSERT_TRUE(r->llm.top_p.has_value());
  EXPECT_FLOAT_EQ(*r->llm.top_p, 0.95f);
  EXPECT_EQ(r->llm.stop, (std::vector<std::string>{"\n\nHuman:", "END"}));
  EXPECT_TRUE(r->stream);
  EXPECT_EQ(r->user, "u-7");
}

TEST(AnthropicParseTest, SystemBlocksConcatenateAndCacheControlMarksTheSystemPrompt) {
  auto r = Parse(Body(kUserHi, R"(,"system":[{"type":"text","text":"Part one. "},
      {"type":"text","text":"Part two.","cache_control":{"type":"ephemeral"}}])"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->llm.system, "Part one. Part two.");
  EXPECT_TRUE(r->llm.cache_system);

  r = Parse(Body(kUserHi, R"(,"system":[{"type":"text","text":"no cache","cache_control":null}])"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->llm.cache_system);
}

TEST(AnthropicParseTest, CacheControlOnMessageBlocksIsAcceptedAndIgnored) {
  auto r = Parse(Body(R"([{"role":"user","content":[{"type":"text","text":"long context",
      "cache_control":{"type":"ephemeral"}},{"type":"text","text":" question"}]}])"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->llm.messages[0].content, "long context question");
  EXPECT_FALSE(r->llm.cache_system);
}

TEST(AnthropicParseTest, ConsecutiveSameRoleMessagesAreMerged) {
  auto r = Parse(Body(R"([{"role":"user","content":"a"},{"role":"user","content":"b"},
      {"role":"assistant","content":"c"},{"role":"assistant","content":"d"},
      {"role":"user","content":[{"type":"text","text":"e"}]}])"));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->llm.messages.size(), 3u);
  EXPECT_EQ(r->llm.messages[0].content, "a\n\nb");
  EXPECT_EQ(r->llm.messages[1].role, Role::kAssistant);
  EXPECT_EQ(r->llm.messages[1].content, "c\n\nd");
  EXPECT_EQ(r->llm.messages[2].content, "e");
}

TEST(AnthropicParseTest, JapaneseSurvivesParsing) {
  auto r = Parse(Body(R"([{"role":"user","content":"進撃の巨人の最終巻は？\t\"急ぎ\""}])"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->llm.messages[0].content, "進撃の巨人の最終巻は？\t\"急ぎ\"");
}

TEST(AnthropicParseTest, MaxTokensIsRequiredAndPositive) {
  const std::string messages = R"("messages":[{"role":"user","content":"hi"}])";
  ExpectInvalid(R"({"model":"m",)" + messages + "}", "'max_tokens' is required");
  ExpectInvalid(R"({"model":"m","max_tokens":null,)" + messages + "}", "'max_tokens' is required");
  ExpectInvalid(R"({"model":"m","max_tokens":0,)" + messages + "}",
                "'max_tokens' must be between 1");
  ExpectInvalid(R"({"model":"m","max_tokens":9999999999,)" + messages + "}",
                "'max_tokens' must be between 1");
  ExpectInvalid(R"({"model":"m","max_tokens":"100",)" + messages + "}",
                "'max_tokens' must be an integer");
  ExpectInvalid(R"({"max_tokens":10,)" + messages + "}", "'model' is required");
  ExpectInvalid(R"({"model":"","max_tokens":10,)" + messages + "}", "'model' must not be empty");
}

TEST(AnthropicParseTest, SamplingRangesUseAnthropicsLimits) {
  ASSERT_TRUE(Parse(Body(kUserHi, R"(,"temperature":1)")).ok());
  ASSERT_TRUE(Parse(Body(kUserHi, R"(,"temperature":0)")).ok());
  ExpectInvalid(Body(kUserHi, R"(,"temperature":1.5)"), "'temperature' must be between 0 and 1");
  ExpectInvalid(Body(kUserHi, R"(,"temperature":-1)"), "'temperature' must be between 0 and 1");
  ExpectInvalid(Body(kUserHi, R"(,"top_p":0)"), "'top_p' must be greater than 0");
  ExpectInvalid(Body(kUserHi, R"(,"top_p":2)"), "'top_p' must be greater than 0");
  ExpectInvalid(Body(kUserHi, R"(,"stop_sequences":"END")"), "'stop_sequences' must be an array");
  ExpectInvalid(Body(kUserHi, R"(,"stop_sequences":["a",1])"),
                "'stop_sequences[1]' must be a string");
}

TEST(AnthropicParseTest, EachUntranslatableFeatureIsRefusedByName) {
  struct Case {
    std::string extra;
    std::string needle;
  };
  std::vector<Case> cases = {
      {R"(,"tools":[{"name":"lookup","input_schema":{"type":"object"}}])", "'tools'"},
      {R"(,"tool_choice":{"type":"auto"})", "'tool_choice'"},
      {R"(,"tool_choice":{"type":"tool","name":"lookup"})", "'tool_choice'"},
      {R"(,"thinking":{"type":"enabled","budget_tokens":2048})", "'thinking'"},
      {R"(,"top_k":40)", "'top_k'"},
  };
  for (const auto& c : cases) {
    auto r = Parse(Body(kUserHi, c.extra));
    ASSERT_FALSE(r.ok()) << c.extra;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.extra;
    std::string message(r.status().message());
    EXPECT_NE(message.find(c.needle), std::string::npos) << c.extra << " → " << message;
    EXPECT_NE(message.find("cannot be translated"), std::string::npos) << message;
  }
  ExpectInvalid(Body(kUserHi, R"(,"tool_choice":"auto")"), "'tool_choice' must be an object");
  ExpectInvalid(Body(kUserHi, R"(,"thinking":true)"), "'thinking' must be an object");
}

TEST(AnthropicParseTest, NonTextBlocksNameTheFeature) {
  struct Case {
    std::string block;
    std::string needle;
  };
  std::vector<Case> cases = {
      {R"({"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA=="}})",
       "image input"},
      {R"({"type":"document","source":{"type":"text","data":"x"}})", "document input"},
      {R"({"type":"tool_use","id":"t1","name":"f","input":{}})", "tool use"},
      {R"({"type":"tool_result","tool_use_id":"t1","content":"42"})", "tool results"},
      {R"({"type":"thinking","thinking":"hmm","signature":"s"})", "extended thinking"},
      {R"({"type":"mystery"})", "'mystery'"},
  };
  for (const auto& c : cases) {
    auto r =
        Parse(Body(R"([{"role":"user","content":[{"type":"text","text":"x"},)" + c.block + "]}]"));
    ASSERT_FALSE(r.ok()) << c.block;
    std::string message(r.status().message());
    EXPECT_NE(message.find("messages[0].content[1]"), std::string::npos) << message;
    EXPECT_NE(message.find(c.needle), std::string::npos) << message;
  }
  ExpectInvalid(Body(kUserHi, R"(,"system":[{"type":"image","source":{}}])"), "'system[0]'");
  ExpectInvalid(Body(kUserHi, R"(,"system":42)"), "'system' must be a string or an array");
}

TEST(AnthropicParseTest, ConversationShapeErrors) {
  ExpectInvalid(Body("[]"), "'messages' must not be empty");
  ExpectInvalid(R"({"model":"m","max_tokens":5})", "'messages' is required");
  ExpectInvalid(Body(R"([{"role":"assistant","content":"Hello"},{"role":"user","content":"hi"}])"),
                "the first message must be from the user");
  ExpectInvalid(Body(R"([{"role":"user","content":"hi"},{"role":"assistant","content":"{"}])"),
                "assistant prefill");
  ExpectInvalid(Body(R"([{"role":"system","content":"s"},{"role":"user","content":"hi"}])"),
                "top-level 'system'");
  ExpectInvalid(Body(R"([{"role":"user"}])"), "'messages[0].content' is required");
  ExpectInvalid(Body(R"([{"content":"hi"}])"), "'messages[0].role' is required");
  ExpectInvalid(Body(R"([{"role":"user","content":{"type":"text"}}])"),
                "'messages[0].content' must be a string or an array");
}

TEST(AnthropicParseTest, MetadataAndStreamTypes) {
  ExpectInvalid(Body(kUserHi, R"(,"metadata":"u")"), "'metadata' must be an object");
  ExpectInvalid(Body(kUserHi, R"(,"metadata":{"user_id":5})"),
                "'metadata.user_id' must be a string");
  ExpectInvalid(Body(kUserHi, R"(,"stream":1)"), "'stream' must be a boolean");
  auto r = Parse(Body(kUserHi, R"(,"metadata":{"user_id":null})"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->user, "");
}

TEST(AnthropicParseTest, MalformedBodies) {
  ExpectInvalid("", "empty");
  ExpectInvalid("{", "malformed JSON");
  ExpectInvalid("[]", "JSON object");
  ExpectInvalid(std::string("{\"model\":\"m\xC3\",\"max_tokens\":1}"), "UTF-8");
  std::string deep_obj;
  for (int i = 0; i < 40; ++i) deep_obj += "{\"a\":";
  deep_obj += "1" + std::string(40, '}');
  ExpectInvalid(Body(kUserHi, ",\"x\":" + deep_obj), "nesting");
}

TEST(AnthropicRenderTest, StopReasonMapIsIdempotent) {
  EXPECT_EQ(AnthropicStopReason("stop"), "end_turn");
  EXPECT_EQ(AnthropicStopReason("length"), "max_tokens");
  EXPECT_EQ(AnthropicStopReason("stop_sequence"), "stop_sequence");
  EXPECT_EQ(AnthropicStopReason("error"), "end_turn");
  EXPECT_EQ(AnthropicStopReason("end_turn"), "end_turn");
  EXPECT_EQ(AnthropicStopReason("max_tokens"), "max_tokens");
}

TEST(AnthropicRenderTest, MessageRoundTrips) {
  llm::LlmResponse r;
  r.text = "『鬼滅の刃』全23巻です。\n\"セット\"\\価格\t\x02";
  r.usage = {
      .input_tokens = 120, .output_tokens = 33, .cache_read_tokens = 900, .cache_write_tokens = 15};
  r.finish_reason = "length";
  json j = json::parse(AnthropicMessageJson("msg_01", "claude-3-5-haiku", r));
  EXPECT_EQ(j["id"], "msg_01");
  EXPECT_EQ(j["type"], "message");
  EXPECT_EQ(j["role"], "assistant");
  EXPECT_EQ(j["model"], "claude-3-5-haiku");
  ASSERT_EQ(j["content"].size(), 1u);
  EXPECT_EQ(j["content"][0]["type"], "text");
  EXPECT_EQ(j["content"][0]["text"], r.text);
  EXPECT_EQ(j["stop_reason"], "max_tokens");
  EXPECT_TRUE(j["stop_sequence"].is_null());
  EXPECT_EQ(j["usage"]["input_tokens"], 120);
  EXPECT_EQ(j["usage"]["output_tokens"], 33);
  EXPECT_EQ(j["usage"]["cache_creation_input_tokens"], 15);
  EXPECT_EQ(j["usage"]["cache_read_input_tokens"], 900);

  r.finish_reason = "stop_sequence";
  EXPECT_EQ(json::parse(AnthropicMessageJson("i", "m", r))["stop_reason"], "stop_sequence");
  r.finish_reason = "stop";
  EXPECT_EQ(json::parse(AnthropicMessageJson("i", "m", r))["stop_reason"], "end_turn");
}

TEST(AnthropicRenderTest, StreamEventsAreFramedInOrder) {
  core::TokenUsage input{
      .input_tokens = 50, .output_tokens = 1, .cache_read_tokens = 8, .cache_write_tokens = 4};
  json start = EventFrame(AnthropicStreamMessageStart("msg_9", "auto", input), "message_start");
  EXPECT_EQ(start["message"]["id"], "msg_9");
  EXPECT_EQ(start["message"]["type"], "message");
  EXPECT_EQ(start["message"]["role"], "assistant");
  EXPECT_EQ(start["message"]["model"], "auto");
  EXPECT_TRUE(start["message"]["content"].is_array());
  EXPECT_TRUE(start["message"]["content"].empty());
  EXPECT_TRUE(start["message"]["stop_reason"].is_null());
  EXPECT_EQ(start["message"]["usage"]["input_tokens"], 50);
  EXPECT_EQ(start["message"]["usage"]["output_tokens"], 1);
  EXPECT_EQ(start["message"]["usage"]["cache_read_input_tokens"], 8);
  EXPECT_EQ(start["message"]["usage"]["cache_creation_input_tokens"], 4);

  json block = EventFrame(AnthropicStreamContentBlockStart(), "content_block_start");
  EXPECT_EQ(block["index"], 0);
  EXPECT_EQ(block["content_block"]["type"], "text");
  EXPECT_EQ(block["content_block"]["text"], "");

  EventFrame(AnthropicStreamPing(), "ping");

  json delta = EventFrame(AnthropicStreamTextDelta("改行\nと\"引用\"\\"), "content_block_delta");
  EXPECT_EQ(delta["index"], 0);
  EXPECT_EQ(delta["delta"]["type"], "text_delta");
  EXPECT_EQ(delta["delta"]["text"], "改行\nと\"引用\"\\");

  json stop = EventFrame(AnthropicStreamContentBlockStop(), "content_block_stop");
  EXPECT_EQ(stop["index"], 0);

  json md = EventFrame(AnthropicStreamMessageDelta("length", {40, 321, 5, 7}), "message_delta");
  EXPECT_EQ(md["delta"]["stop_reason"], "max_tokens");
  EXPECT_TRUE(md["delta"]["stop_sequence"].is_null());
  EXPECT_EQ(md["usage"]["output_tokens"], 321);
  EXPECT_EQ(md["usage"]["input_tokens"], 40);
  EXPECT_EQ(md["usage"]["cache_read_input_tokens"], 5);
  EXPECT_EQ(md["usage"]["cache_creation_input_tokens"], 7);
  md = EventFrame(AnthropicStreamMessageDelta("stop", {1, 1, 0, 0}), "message_delta");
  EXPECT_EQ(md["delta"]["stop_reason"], "end_turn");

  EventFrame(AnthropicStreamMessageStop(), "message_stop");
}

TEST(AnthropicRenderTest, InvalidUtf8InADeltaIsReplaced) {
  json delta = EventFrame(AnthropicStreamTextDelta("ok\xE3\x81"), "content_block_delta");
  // A cut sequence is one maximal ill-formed subpart: one U+FFFD (Unicode's recommendation).
  EXPECT_EQ(delta["delta"]["text"], "ok\xEF\xBF\xBD");
}

TEST(AnthropicRenderTest, ErrorTypesFollowTheHttpStatus) {
  struct Case {
    absl::Status status;
    std::string type;
  };
  std::vector<Case> cases = {
      {absl::InvalidArgumentError("bad"), "invalid_request_error"},
      {absl::FailedPreconditionError("422"), "invalid_request_error"},
      {absl::UnauthenticatedError("key"), "authentication_error"},
      {absl::PermissionDeniedError("no"), "permission_error"},
      {absl::NotFoundError("none"), "not_found_error"},
      {absl::OutOfRangeError("big"), "request_too_large"},
      {absl::ResourceExhaustedError("slow"), "rate_limit_error"},
      {absl::UnavailableError("busy"), "overloaded_error"},
      {absl::DeadlineExceededError("late"), "api_error"},
      {absl::InternalError("oops"), "api_error"},
  };
  for (const auto& c : cases) {
    json j = json::parse(AnthropicErrorJson(c.status, "req-3"));
    EXPECT_EQ(j["type"], "error");
    EXPECT_EQ(j["error"]["type"], c.type) << c.status;
    EXPECT_EQ(j["error"]["message"], std::string(c.status.message()));
    EXPECT_EQ(j["request_id"], "req-3");
  }
}

TEST(AnthropicRenderTest, StreamErrorIsAnErrorEvent) {
  json e = EventFrame(AnthropicStreamError(absl::UnavailableError("上流が\"落ちた\"\n"), "req-4"),
                      "error");
  EXPECT_EQ(e["type"], "error");
  EXPECT_EQ(e["error"]["type"], "overloaded_error");
  EXPECT_EQ(e["error"]["message"], "上流が\"落ちた\"\n");
  EXPECT_EQ(e["request_id"], "req-4");
}

}  // namespace
}  // namespace mangaassist::api
