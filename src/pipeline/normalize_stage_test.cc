// clang-format off
#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).
// clang-format on

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "core/config.h"
#include "core/metrics.h"
#include "core/status.h"
#include "gtest/gtest.h"
#include "pipeline/stage_registry.h"
#include "privacy/redactor.h"

namespace mangaassist::pipeline {
namespace {

absl::Status RunStage(Stage& stage, core::RequestContext& ctx) {
  boost::asio::io_context io;
  auto fut = boost::asio::co_spawn(io, stage.Run(ctx), boost::asio::use_future);
  io.run();
  return fut.get();
}

class NormalizeStageTest : public ::testing::Test {
 protected:
  std::unique_ptr<Stage> Make(const core::Config& config) {
    config_ = config;
    services_.config = &config_;
    services_.metrics = &registry_;
    const StageFactory* factory = FindStageFactory("normalize");
    EXPECT_NE(factory, nullptr);
    auto stage = (*factory)(&services_);
    EXPECT_TRUE(stage.ok()) << stage.status();
    return std::move(*stage);
  }

  core::Config config_;
  core::Registry registry_;
  Services services_;
};

TEST_F(NormalizeStageTest, NormalizesRedactsAndLabelsTheLanguage) {
  auto stage = Make(core::DefaultConfig());
  EXPECT_EQ(stage->name(), "normalize");
  core::RequestContext ctx;
  ctx.message = "  電話は０９０－１２３４－５６７８、メールは\xE2\x80\x8Btaro@example.jpです ";
  ctx.lang = core::Lang::kMixed;  // as if admit had guessed from the raw text
  ASSERT_TRUE(RunStage(*stage, ctx).ok());
  EXPECT_EQ(ctx.message, "電話は[PHONE]、メールは[EMAIL]です");
  EXPECT_EQ(ctx.lang, core::Lang::kJa);
  EXPECT_EQ(ctx.redactions[static_cast<size_t>(privacy::PiiType::kPhone)], 1);
  EXPECT_EQ(ctx.redactions[static_cast<size_t>(privacy::PiiType::kEmail)], 1);
  std::string metrics = registry_.RenderText();
  EXPECT_NE(metrics.find("mangaassist_pii_redactions_total{type=\"phone\",lang=\"ja\"} 1"),
            std::string::npos)
      << metrics;
}

TEST_F(NormalizeStageTest, TrapsAreLeftAlone) {
  auto stage = Make(core::DefaultConfig());
  core::RequestContext ctx;
  ctx.message = "order ＭＡ－２０２５－００４５１２, ISBN 978-4-08-882011-8, ¥1,320";
  ASSERT_TRUE(RunStage(*stage, ctx).ok());
  EXPECT_EQ(ctx.message, "order MA-2025-004512, ISBN 978-4-08-882011-8, ¥1,320");
  EXPECT_EQ(ctx.lang, core::Lang::kEn);
  for (uint16_t c : ctx.redactions) EXPECT_EQ(c, 0);
}

TEST_F(NormalizeStageTest, InvalidUtf8Is400) {
  auto stage = Make(core::DefaultConfig());
  core::RequestContext ctx;
  ctx.message = "abc\xff";
  absl::Status st = RunStage(*stage, ctx);
  EXPECT_EQ(core::HttpStatusFor(st.code()), 400);
}

TEST_F(NormalizeStageTest, OversizeIs413OrTruncated) {
  core::Config cfg = core::DefaultConfig();
  cfg.normalize.max_chars = 10;
  auto stage = Make(cfg);
  core::RequestContext ctx;
  ctx.message = "こんにちは、ワンピースの最新刊";
  absl::Status st = RunStage(*stage, ctx);
  EXPECT_EQ(core::HttpStatusFor(st.code()), 413);
  EXPECT_NE(st.message().find("message"), std::string_view::npos);

  cfg.normalize.on_oversize = core::Oversize::kTruncate;
  auto truncating = Make(cfg);
  core::RequestContext ctx2;
  ctx2.message = "こんにちは、ワンピースの最新刊";
  ASSERT_TRUE(RunStage(*truncating, ctx2).ok());
  EXPECT_EQ(ctx2.message, "こんにちは、ワンピー");  // the first 10 characters
}

TEST_F(NormalizeStageTest, FiftyThousandCharactersAreRefusedCleanly) {
  auto stage = Make(core::DefaultConfig());  // max_chars 8000
  core::RequestContext ctx;
  for (int i = 0; i < 50000; ++i) ctx.message += "あ";
  absl::Status st = RunStage(*stage, ctx);
  EXPECT_EQ(st.code(), absl::StatusCode::kOutOfRange);
}

TEST_F(NormalizeStageTest, BlankAfterNormalizationIs400) {
  auto stage = Make(core::DefaultConfig());
  core::RequestContext ctx;
  ctx.message = "\xE2\x80\x8B\xE2\x80\xAE\x01";
  EXPECT_EQ(RunStage(*stage, ctx).code(), absl::StatusCode::kInvalidArgument);
}

TEST(NormalizeConfigTest, ReadsTheSectionAndRejectsUnknownKeys) {
  auto cfg =
      core::LoadConfigString("normalize:\n  max_chars: 500\n  on_oversize: truncate\n", "n.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->normalize.max_chars, 500u);
  EXPECT_EQ(cfg->normalize.on_oversize, core::Oversize::kTruncate);
  auto bad = core::LoadConfigString("normalize:\n  on_oversize: shrink\n", "n.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("normalize.on_oversize"), std::string_view::npos);
  auto unknown = core::LoadConfigString("normalize:\n  max_char: 5\n", "n.yaml");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("unknown key"), std::string_view::npos);
  EXPECT_FALSE(core::LoadConfigString("normalize:\n  max_chars: 0\n", "n.yaml").ok());
}

TEST(NormalizeConfigTest, TheDefaultPipelineNormalizesAfterAdmit) {
  core::Config cfg = core::DefaultConfig();
  ASSERT_GE(cfg.pipeline.stages.size(), 2u);
  EXPECT_EQ(cfg.pipeline.stages[0], "admit");
  EXPECT_EQ(cfg.pipeline.stages[1], "normalize");
}

}  // namespace
}  // namespace mangaassist::pipeline
