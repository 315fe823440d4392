#include "cli/redact_command.h"

#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace mangaassist::cli {
namespace {

std::vector<nlohmann::json> RunJsonl(const std::string& input, int* rc) {
  std::istringstream in(input);
  std::ostringstream out;
  *rc = RunRedactCommand(true, in, out);
  std::vector<nlohmann::json> lines;
  std::istringstream res(out.str());
  std::string line;
  while (std::getline(res, line)) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

TEST(RedactCommandTest, JsonlReportsSpansAgainstTheOriginalText) {
  int rc = -1;
  std::string text = "電話は０９０－１２３４－５６７８、mail: a@example.jp";
  auto out = RunJsonl(nlohmann::json{{"text", text}, {"id", 7}}.dump() + "\n", &rc);
  EXPECT_EQ(rc, 0);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["text"], "電話は[PHONE]、mail: [EMAIL]");
  EXPECT_FALSE(out[0].contains("id"));  // only the redacted text leaves the tool
  ASSERT_EQ(out[0]["spans"].size(), 2u);
  const auto& phone = out[0]["spans"][0];
  EXPECT_EQ(phone["type"], "phone");
  EXPECT_EQ(phone["value"], "０９０－１２３４－５６７８");
  size_t start = phone["start"], end = phone["end"];
  EXPECT_EQ(text.substr(start, end - start), "０９０－１２３４－５６７８");
  const auto& mail = out[0]["spans"][1];
  EXPECT_EQ(mail["type"], "email");
  EXPECT_EQ(mail["value"], "a@example.jp");
  EXPECT_EQ(text.substr(mail["start"],
                        static_cast<size_t>(mail["end"]) - static_cast<size_t>(mail["start"])),
            "a@example.jp");
}

TEST(RedactCommandTest, BadLinesGetAnErrorAndProcessingContinues) {
  int rc = -1;
  std::string input =
      "{\"text\": \"call 090-1234-5678\"}\n"
      "not json\n"
      "\n"
      "{\"message\": \"no text field\"}\n"
      "[1, 2]\n"
      "{\"text\": 5}\n"
      "{\"text\": \"ISBN 978-4-08-882011-8\"}\n";
  auto out = RunJsonl(input, &rc);
  EXPECT_EQ(rc, 1);
  ASSERT_EQ(out.size(), 6u);
  EXPECT_EQ(out[0]["text"], "call [PHONE]");
  EXPECT_EQ(out[1]["line"], 2);
  EXPECT_TRUE(out[1].contains("error"));
  EXPECT_EQ(out[2]["line"], 4);
  EXPECT_EQ(out[3]["line"], 5);
  EXPECT_EQ(out[4]["line"], 6);
  EXPECT_EQ(out[5]["text"], "ISBN 978-4-08-882011-8");
  EXPECT_TRUE(out[5]["spans"].empty());
}

TEST(RedactCommandTest, InvalidUtf8InJsonIsAnErrorLine) {
  int rc = -1;
  auto out = RunJsonl("{\"text\": \"abc\xff\"}\n", &rc);
  EXPECT_EQ(rc, 1);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].contains("error"));
}

TEST(RedactCommandTest, PlainTextModeKeepsLinesAligned) {
  std::istringstream in("my card is 4111 1111 1111 1111\r\n\nこんにちは\n\xff broken 〒100-0001\n");
  std::ostringstream out;
  EXPECT_EQ(RunRedactCommand(false, in, out), 0);
  EXPECT_EQ(out.str(),
            "my card is [CREDIT_CARD]\n\nこんにちは\n\xEF\xBF\xBD broken 〒[POSTAL_CODE]\n");
}

}  // namespace
}  // namespace mangaassist::cli
