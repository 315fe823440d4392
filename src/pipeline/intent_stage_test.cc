// The `intent` stage in a real pipeline (admit → normalize → intent → respond) with the default
// model (data/intent/model.bin) and the in-process cache tier: labels, confidence and version on
// the context; a follow-up inherits the session's intent and title; sessions do not leak into
// each other; below the threshold the label is `uncertain`; metrics and drift are exported.
// clang-format off
#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).
// clang-format on

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "core/config.h"
#include "core/metrics.h"
#include "gtest/gtest.h"
#include "intent/classifier.h"
#include "pipeline/pipeline.h"
#include "pipeline/services.h"
#include "rag/catalog.h"

namespace mangaassist::pipeline {
namespace {

class IntentStageTest : public ::testing::Test {
 protected:
  void Build(double threshold = 0) {
    config_ = core::DefaultConfig();
    config_.pipeline.stages = {"admit", "normalize", "intent", "respond"};
    config_.intent.threshold = threshold;
    auto services = Services::Create(&config_, &registry_, &core::SystemClock());
    ASSERT_TRUE(services.ok()) << services.status();
    services_ = *std::move(services);
    auto p = Pipeline::Build(services_.get());
    ASSERT_TRUE(p.ok()) << p.status();
    pipeline_ = *std::move(p);
  }

  core::RequestContext Ask(const std::string& session, const std::string& message) {
    core::RequestContext ctx;
    ctx.request_id = "r";
    ctx.session_id = session;
    ctx.user_id = "u-" + session;
    ctx.message = message;
    boost::asio::io_context io;
    auto fut = boost::asio::co_spawn(io, pipeline_->Run(ctx), boost::asio::use_future);
    io.run();
    absl::Status st = fut.get();
    EXPECT_TRUE(st.ok()) << st;
    return ctx;
  }

  core::Config config_;
  core::Registry registry_;
  std::unique_ptr<Services> services_;
  std::unique_ptr<Pipeline> pipeline_;
};

TEST_F(IntentStageTest, LabelsConfidenceAndVersionGoOnTheContext) {
  Build();
  core::RequestContext ctx = Ask("s1", "when is One Piece vol 105 out?");
  EXPECT_EQ(ctx.intent, "release_schedule");
  EXPECT_GE(ctx.intent_confidence, services_->intent->threshold());
  EXPECT_EQ(ctx.intent_source, "model");
  EXPECT_EQ(ctx.intent_version, services_->intent->version());
  EXPECT_EQ(ctx.intent_version.rfind("i1-", 0), 0u);
  EXPECT_EQ(ctx.intent_title, "One Piece");
  core::RequestContext rule = Ask("s9", "where is my order MA-2025-004512?");
  EXPECT_EQ(rule.intent, "order_status");
  EXPECT_EQ(rule.intent_source, "rule");
}

// Labels are memoized per message: asked again, in any order and from any session, each
// message gets exactly what the classifier and the catalog give it, never another message's.
TEST_F(IntentStageTest, RepeatedMessagesGetTheirOwnLabelEveryTime) {
  Build();
  const std::vector<std::string> messages = {
      "when is One Piece vol 105 out?", "where is my order MA-2025-004512?",
      "鬼滅の刃は全何巻ですか?", "do you ship to Canada?", "Any manga by Naoki Urasawa?",
      "hello", "when is One Piece vol 105 out? ", "WHEN IS ONE PIECE VOL 105 OUT?"};
  for (int round = 0; round < 3; ++round) {
    for (size_t i = 0; i < messages.size(); ++i) {
      // A new session each time: no follow-up inheritance, only the classifier's answer.
      const std::string session = "m" + std::to_string(round) + "-" + std::to_string(i);
      core::RequestContext ctx = Ask(session, messages[i]);
      const intent::Classification direct = services_->intent->Classify(ctx.message);
      EXPECT_EQ(ctx.intent, direct.intent) << messages[i] << " round " << round;
      EXPECT_EQ(ctx.intent_confidence, direct.confidence) << messages[i];
      EXPECT_EQ(ctx.intent_source, intent::SourceName(direct.source)) << messages[i];
      std::string title;
      auto m = services_->catalog->Find(ctx.message, 1);
      if (!m.empty() && m[0].field != rag::MatchField::kAuthor) title = m[0].entry->title;
      EXPECT_EQ(ctx.intent_title, title) << messages[i];
    }
  }
}

TEST_F(IntentStageTest, FollowUpInheritsTheSessionIntentAndTitle) {
  Build();
  ASSERT_EQ(Ask("s1", "when is One Piece vol 105 out?").intent, "release_schedule");
  core::RequestContext en = Ask("s1", "and vol 2?");
  EXPECT_EQ(en.intent, "release_schedule");
  EXPECT_EQ(en.intent_source, "session");
  EXPECT_EQ(en.intent_title, "One Piece");

  ASSERT_EQ(Ask("s2", "鬼滅の刃の最新刊はいつ発売ですか？").intent, "release_schedule");
  core::RequestContext ja = Ask("s2", "2巻は？");  // NFKC turns ？ into ?
  EXPECT_EQ(ja.intent, "release_schedule");
  EXPECT_EQ(ja.intent_source, "session");

  // Another session has no history: the same follow-up goes to the model.
  core::RequestContext other = Ask("s3", "and vol 2?");
  EXPECT_NE(other.intent_source, "session");

  const std::string metrics = registry_.RenderText();
  EXPECT_NE(metrics.find("mangaassist_intent_session_total{result=\"inherited\"} 2"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("mangaassist_intent_classifications_total{intent=\"release_schedule\","
                         "source=\"session\",lang=\"en\"} 1"),
            std::string::npos);
}

TEST_F(IntentStageTest, ANewTopicReplacesTheSessionIntent) {
  Build();
  ASSERT_EQ(Ask("s1", "when is One Piece vol 105 out?").intent, "release_schedule");
  ASSERT_EQ(Ask("s1", "where is my order MA-2025-004512?").intent, "order_status");
  EXPECT_EQ(Ask("s1", "and vol 2?").intent, "order_status");  // the session's latest label
}

TEST_F(IntentStageTest, BelowTheThresholdTheLabelIsUncertainAndNotRemembered) {
  Build(/*threshold=*/0.999);
  core::RequestContext ctx = Ask("s1", "when is One Piece vol 105 out?");
  ASSERT_LT(ctx.intent_confidence, 0.999f);
  EXPECT_EQ(ctx.intent, intent::kUncertain);
  EXPECT_EQ(Ask("s1", "and vol 2?").intent_source, "model");  // nothing to inherit
}

TEST_F(IntentStageTest, ExportsPerClassPrecisionForTheTemplateRouter) {
  Build();
  const std::string metrics = registry_.RenderText();
  EXPECT_NE(metrics.find("mangaassist_intent_class_precision{intent=\"order_status\"} "),
            std::string::npos);
  EXPECT_NE(metrics.find("mangaassist_intent_class_trusted{intent=\"greeting\"} "),
            std::string::npos);
  EXPECT_NE(metrics.find("mangaassist_intent_model_info{version=\"" + services_->intent->version()),
            std::string::npos);
}

}  // namespace
}  // namespace mangaassist::pipeline
