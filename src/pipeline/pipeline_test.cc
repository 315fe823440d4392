#include "pipeline/pipeline.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "gtest/gtest.h"
#include "pipeline/stage_registry.h"

namespace mangaassist::pipeline {
namespace {

// Records its name into the context's answer and optionally answers or fails.
class FakeStage final : public Stage {
 public:
  FakeStage(std::string name, RunPolicy policy, bool answers, absl::Status result = {})
      : name_(std::move(name)), policy_(policy), answers_(answers), result_(std::move(result)) {}
  std::string_view name() const override { return name_; }
  RunPolicy policy() const override { return policy_; }
  boost::asio::awaitable<absl::Status> Run(core::RequestContext& ctx) override {
    ctx.locale += name_ + ";";
    if (answers_) ctx.answered = true;
    co_return result_;
  }

 private:
  std::string name_;
  RunPolicy policy_;
  bool answers_;
  absl::Status result_;
};

absl::Status RunSync(const Pipeline& p, core::RequestContext& ctx) {
  boost::asio::io_context io;
  auto fut = boost::asio::co_spawn(io, p.Run(ctx), boost::asio::use_future);
  io.run();
  return fut.get();
}

std::unique_ptr<Pipeline> Make(std::vector<std::unique_ptr<Stage>> stages) {
  return std::make_unique<Pipeline>(std::move(stages));
}

TEST(PipelineTest, StopsNormalStagesOnceAnsweredButRunsRecorders) {
  std::vector<std::unique_ptr<Stage>> s;
  s.push_back(std::make_unique<FakeStage>("a", RunPolicy::kUntilAnswered, false));
  s.push_back(std::make_unique<FakeStage>("b", RunPolicy::kUntilAnswered, true));
  s.push_back(std::make_unique<FakeStage>("c", RunPolicy::kUntilAnswered, true));
  s.push_back(std::make_unique<FakeStage>("fill", RunPolicy::kAfterAnswer, false));
  s.push_back(std::make_unique<FakeStage>("record", RunPolicy::kAlways, false));
  auto p = Make(std::move(s));
  core::RequestContext ctx;
  EXPECT_TRUE(RunSync(*p, ctx).ok());
  EXPECT_EQ(ctx.locale, "a;b;fill;record;");
}

TEST(PipelineTest, FailureSkipsToAlwaysStagesAndKeepsTheFirstError) {
  std::vector<std::unique_ptr<Stage>> s;
  s.push_back(std::make_unique<FakeStage>("a", RunPolicy::kUntilAnswered, false,
                                          absl::InvalidArgumentError("bad")));
  s.push_back(std::make_unique<FakeStage>("b", RunPolicy::kUntilAnswered, true));
  s.push_back(std::make_unique<FakeStage>("fill", RunPolicy::kAfterAnswer, false));
  s.push_back(std::make_unique<FakeStage>("record", RunPolicy::kAlways, false,
                                          absl::InternalError("later")));
  auto p = Make(std::move(s));
  core::RequestContext ctx;
  absl::Status st = RunSync(*p, ctx);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ctx.locale, "a;record;");
}

TEST(PipelineTest, EndingWithoutAnAnswerIsInternal) {
  std::vector<std::unique_ptr<Stage>> s;
  s.push_back(std::make_unique<FakeStage>("a", RunPolicy::kUntilAnswered, false));
  auto p = Make(std::move(s));
  core::RequestContext ctx;
  EXPECT_EQ(RunSync(*p, ctx).code(), absl::StatusCode::kInternal);
}

core::Config ConfigWithStages(std::vector<std::string> stages) {
  core::Config cfg = core::DefaultConfig();
  cfg.data_dir = MANGAASSIST_DATA_DIR_FOR_TESTS;
  cfg.pipeline.stages = std::move(stages);
  return cfg;
}

TEST(PipelineTest, BuildRejectsUnknownAndDuplicateStages) {
  core::Registry metrics;
  core::Config unknown = ConfigWithStages({"admit", "teleport"});
  auto services = Services::Create(&unknown, &metrics, &core::SystemClock());
  ASSERT_TRUE(services.ok()) << services.status();
  auto p = Pipeline::Build(services->get());
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("teleport"), std::string::npos);

  core::Config dup = ConfigWithStages({"admit", "admit", "respond"});
  (*services)->config = &dup;
  EXPECT_FALSE(Pipeline::Build(services->get()).ok());
}

TEST(PipelineTest, DefaultPipelineAnswersJapaneseInJapanese) {
  core::Registry metrics;
  core::Config cfg = ConfigWithStages({"admit", "normalize", "respond"});
  auto services = Services::Create(&cfg, &metrics, &core::SystemClock());
  ASSERT_TRUE(services.ok()) << services.status();
  auto p = Pipeline::Build(services->get());
  ASSERT_TRUE(p.ok()) << p.status();
  core::RequestContext ctx;
  ctx.session_id = "s1";
  ctx.user_id = "u1";
  ctx.message = "こんにちは";
  ASSERT_TRUE(RunSync(**p, ctx).ok());
  EXPECT_EQ(ctx.route, core::Route::kExtractive);
  EXPECT_EQ(ctx.lang, core::Lang::kJa);
  // Japanese (brand names such as "MangaAssist" may make it `mixed`), never English.
  EXPECT_NE(core::DetectLanguage(ctx.answer), core::Lang::kEn) << ctx.answer;
  EXPECT_EQ(ctx.cost.Total().nanos(), 0);
}

TEST(PipelineTest, AdmitRefusesBadFields) {
  core::Registry metrics;
  core::Config cfg = ConfigWithStages({"admit", "respond"});
  cfg.limits.max_message_bytes = 64;
  auto services = Services::Create(&cfg, &metrics, &core::SystemClock());
  ASSERT_TRUE(services.ok());
  auto p = Pipeline::Build(services->get());
  ASSERT_TRUE(p.ok());
  auto run = [&](auto mutate) {
    core::RequestContext ctx;
    ctx.session_id = "s";
    ctx.user_id = "u";
    ctx.message = "hello";
    mutate(ctx);
    return RunSync(**p, ctx);
  };
  EXPECT_TRUE(run([](core::RequestContext&) {}).ok());
  EXPECT_EQ(run([](auto& c) { c.message.clear(); }).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(run([](auto& c) { c.message = "   \n"; }).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(run([](auto& c) { c.session_id.clear(); }).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(run([](auto& c) { c.message = std::string(65, 'a'); }).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(run([](auto& c) { c.message = std::string("a\0b", 3); }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(run([](auto& c) { c.message = "\xc3\x28"; }).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(run([](auto& c) { c.tier_given = true; c.tier_text = "gold"; }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(run([](auto& c) { c.tier_given = true; c.tier_text = "premium"; }).ok());
}

}  // namespace
}  // namespace mangaassist::pipeline
