// The exact response cache stages in the pipeline, against an Anthropic provider on the fake
// upstream: a repeated question is answered from cache at zero cost with the original call's cost
// recorded for the savings, streamed when asked; errors, truncated answers, cut streams,
// fallback answers and personal intents are never stored; every versioned input is in the key.
// clang-format off
#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).
// clang-format on

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <thread>

#include "absl/time/clock.h"
#include "cache/cache.h"
#include "cache/cached_response.h"
#include "core/config.h"
#include "core/delta_sink.h"
#include "gtest/gtest.h"
#include "pipeline/pipeline.h"
#include "pipeline/services.h"
#include "tests/support/fake_upstream.h"

namespace mangaassist::pipeline {
namespace {

using testing::Behavior;
using testing::FakeUpstream;

constexpr char kHaikuId[] = "claude-3-5-haiku-20241022";
constexpr char kSonnetId[] = "claude-3-5-sonnet-20241022";

class RecordingSink final : public core::DeltaSink {
 public:
  explicit RecordingSink(int accept = 1 << 30) : accept_(accept) {}
  boost::asio::awaitable<bool> OnDelta(std::string_view text) override {
    if (static_cast<int>(deltas.size()) >= accept_) co_return false;
    deltas.emplace_back(text);
    co_return true;
  }
  std::string Joined() const {
    std::string s;
    for (const auto& d : deltas) s += d;
    return s;
  }
  std::vector<std::string> deltas;

 private:
  int accept_;
};

class CacheStageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    primary_ = FakeUpstream::Start();
    backup_ = FakeUpstream::Start();
    ASSERT_NE(primary_, nullptr);
    ASSERT_NE(backup_, nullptr);
    Build(MakeConfig());
  }

  core::Config MakeConfig() {
    core::Config cfg = core::DefaultConfig();
    cfg.pipeline.stages = {"admit", "normalize", "cache", "call", "cache_fill"};
    cfg.providers.clear();
    for (auto [name, fake] : {std::pair{"primary", primary_.get()}, {"backup", backup_.get()}}) {
      core::ProviderConfig p;
      p.name = name;
      p.type = "anthropic";
      p.base_url = fake->base_url();
      p.api_key = "sk-test";
      p.retry.max_attempts = 1;
      p.timeout = absl::Seconds(5);
      cfg.providers.push_back(p);
    }
    cfg.models = {core::ModelAliasConfig{"haiku", "primary", kHaikuId, "", "", {}},
                  core::ModelAliasConfig{"sonnet", "primary", kSonnetId, "", "", {"backup-haiku"}},
                  core::ModelAliasConfig{"backup-haiku", "backup", kHaikuId, "", "", {}}};
    cfg.call.guest_model = "haiku";
    cfg.call.member_model = "haiku";
    cfg.call.premium_model = "sonnet";
    return cfg;
  }

  void Build(core::Config cfg) {
    pipeline_.reset();
    services_.reset();
    config_ = std::move(cfg);
    auto services = Services::Create(&config_, &metrics_, &core::SystemClock());
    ASSERT_TRUE(services.ok()) << services.status();
    services_ = *std::move(services);
    auto pipeline = Pipeline::Build(services_.get());
    ASSERT_TRUE(pipeline.ok()) << pipeline.status();
    pipeline_ = *std::move(pipeline);
  }

  absl::Status Run(core::RequestContext& ctx) {
    boost::asio::io_context io;
    auto fut = boost::asio::co_spawn(io, pipeline_->Run(ctx), boost::asio::use_future);
    io.run();
    return fut.get();
  }

  static core::RequestContext Request(std::string message = "Is One Piece vol 105 in stock?") {
    core::RequestContext ctx;
    ctx.request_id = "req-cache";
    ctx.session_id = "s1";
    ctx.user_id = "u1";
    ctx.message = std::move(message);
    return ctx;
  }

  int64_t Calls() const { return primary_->RequestCount("/v1/messages"); }

  std::unique_ptr<FakeUpstream> primary_, backup_;
  core::Config config_;
  core::Registry metrics_;
  std::unique_ptr<Services> services_;
  std::unique_ptr<Pipeline> pipeline_;
};

TEST_F(CacheStageTest, SecondIdenticalQuestionIsAnsweredFromCacheAtZeroCost) {
  Behavior b;
  b.answer = "Yes, volume 105 is in stock.";
  b.usage = {1200, 40, 300, 100};
  primary_->SetBehavior(b);
  core::RequestContext first = Request();
  ASSERT_TRUE(Run(first).ok());
  EXPECT_EQ(first.route, core::Route::kHaiku);
  ASSERT_GT(first.cost.Total().nanos(), 0);
  EXPECT_FALSE(first.response_cache_key.empty());

  core::RequestContext second = Request();
  ASSERT_TRUE(Run(second).ok());
  EXPECT_EQ(Calls(), 1);
  EXPECT_EQ(second.route, core::Route::kCache);
  EXPECT_EQ(second.answer, b.answer);
  EXPECT_EQ(second.cost.Total().nanos(), 0);
  EXPECT_EQ(second.usage.input_tokens + second.usage.output_tokens, 0);
  EXPECT_EQ(second.model, kHaikuId);
  EXPECT_TRUE(second.provider.empty());
  // What the hit avoided: exactly what the original call paid and consumed.
  EXPECT_EQ(second.cached_route, core::Route::kHaiku);
  EXPECT_EQ(second.cached_cost.Total(), first.cost.Total());
  EXPECT_EQ(second.cached_usage.input_tokens, 1200);
  EXPECT_EQ(second.cached_usage.output_tokens, 40);
  EXPECT_EQ(metrics_.GetCounter("mangaassist_response_cache_lookups_total", "", {{"result", "hit"}})
                .Value(),
            1);
  EXPECT_EQ(metrics_.GetCounter("mangaassist_response_cache_saved_nano_usd_total", "").Value(),
            first.cost.Total().nanos());
  EXPECT_EQ(metrics_
                .GetCounter("mangaassist_cache_requests_total", "",
                            {{"keyspace", "llmresp"}, {"result", "hit"}})
                .Value(),
            1);
}

// Hits reuse the decode of the bytes they read before, and only of those bytes: an entry
// rewritten in the tier (a refill after expiry, another replica) is what the next hit serves.
TEST_F(CacheStageTest, AHitServesTheEntryAsStoredNow) {
  Behavior b;
  b.answer = "Yes, volume 105 is in stock.";
  primary_->SetBehavior(b);
  core::RequestContext first = Request();
  ASSERT_TRUE(Run(first).ok());
  for (int i = 0; i < 2; ++i) {
    core::RequestContext again = Request();
    ASSERT_TRUE(Run(again).ok());
    EXPECT_EQ(again.route, core::Route::kCache);
    EXPECT_EQ(again.answer, b.answer);
  }
  auto stored = services_->cache->Get(cache::Keyspace::kLlmResp, first.response_cache_key);
  ASSERT_TRUE(stored.ok()) << stored.status();
  auto entry = cache::DecodeCachedResponse(*stored);
  ASSERT_TRUE(entry.ok()) << entry.status();
  entry->answer = "Volume 105 is sold out; volume 106 is in stock.";
  entry->usage.output_tokens = 77;
  ASSERT_TRUE(services_->cache
                  ->Set(cache::Keyspace::kLlmResp, first.response_cache_key,
                        cache::EncodeCachedResponse(*entry), absl::Hours(1))
                  .ok());
  core::RequestContext after = Request();
  ASSERT_TRUE(Run(after).ok());
  EXPECT_EQ(after.route, core::Route::kCache);
  EXPECT_EQ(after.answer, "Volume 105 is sold out; volume 106 is in stock.");
  EXPECT_EQ(after.cached_usage.output_tokens, 77);
  EXPECT_EQ(Calls(), 1);
}

TEST_F(CacheStageTest, NormalizedFormsShareAnEntry) {
  primary_->SetBehavior(Behavior{});
  core::RequestContext a = Request("ワンピース １０５巻");  // full-width digits: NFKC folds them
  ASSERT_TRUE(Run(a).ok());
  core::RequestContext b = Request("ワンピース 105巻");
  ASSERT_TRUE(Run(b).ok());
  EXPECT_EQ(b.route, core::Route::kCache);
  EXPECT_EQ(Calls(), 1);
}

TEST_F(CacheStageTest, AStreamingClientGetsTheCachedAnswerAsDeltas) {
  Behavior b;
  b.answer = std::string(150, 'a') + "ワンピース" + std::string(150, 'b');
  primary_->SetBehavior(b);
  core::RequestContext first = Request();
  ASSERT_TRUE(Run(first).ok());
  RecordingSink sink;
  core::RequestContext second = Request();
  second.sink = &sink;
  ASSERT_TRUE(Run(second).ok());
  EXPECT_EQ(second.route, core::Route::kCache);
  EXPECT_EQ(sink.Joined(), b.answer);
  EXPECT_GT(sink.deltas.size(), 1u);
  for (const std::string& d : sink.deltas) {
    EXPECT_LE(d.size(), 128u);
    EXPECT_NE(static_cast<unsigned char>(d[0]) & 0xC0, 0x80) << "a delta starts mid-character";
  }
}

TEST_F(CacheStageTest, ACachedStreamWhoseClientLeavesIsCancelled) {
  Behavior b;
  b.answer = std::string(400, 'x');
  primary_->SetBehavior(b);
  core::RequestContext first = Request();
  ASSERT_TRUE(Run(first).ok());
  RecordingSink sink(/*accept=*/1);
  core::RequestContext second = Request();
  second.sink = &sink;
  EXPECT_EQ(Run(second).code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(second.client_gone);
  EXPECT_EQ(second.cost.Total().nanos(), 0);
}

TEST_F(CacheStageTest, ErrorsAreNotCached) {
  Behavior fail;
  fail.failure = Behavior::Failure::kServerError;
  primary_->SetBehavior(fail);
  core::RequestContext first = Request();
  EXPECT_FALSE(Run(first).ok());
  primary_->SetBehavior(Behavior{});
  core::RequestContext second = Request();
  ASSERT_TRUE(Run(second).ok());
  EXPECT_EQ(second.route, core::Route::kHaiku);
  EXPECT_EQ(Calls(), 2);
}

TEST_F(CacheStageTest, TruncatedAnswersAreNotCached) {
  Behavior cut;
  cut.stop_at_max_tokens = true;
  primary_->SetBehavior(cut);
  core::RequestContext first = Request();
  ASSERT_TRUE(Run(first).ok());
  EXPECT_EQ(first.finish_reason, "length");
  core::RequestContext second = Request();
  ASSERT_TRUE(Run(second).ok());
  EXPECT_NE(second.route, core::Route::kCache);
  EXPECT_EQ(Calls(), 2);
  EXPECT_EQ(
      metrics_
          .GetCounter("mangaassist_response_cache_stores_total", "", {{"result", "not_cacheable"}})
          .Value(),
      2);
}

TEST_F(CacheStageTest, ACutStreamIsNotCached) {
  Behavior b;
  b.answer = "one two three four five six";
  b.stream_chunks = 4;
  b.chunk_interval = std::chrono::milliseconds(5);
  primary_->SetBehavior(b);
  RecordingSink leaves(/*accept=*/1);
  core::RequestContext first = Request();
  first.sink = &leaves;
  EXPECT_EQ(Run(first).code(), absl::StatusCode::kCancelled);
  core::RequestContext second = Request();
  ASSERT_TRUE(Run(second).ok());
  EXPECT_EQ(second.route, core::Route::kHaiku);
  EXPECT_EQ(Calls(), 2);
}

TEST_F(CacheStageTest, PersonalIntentsAreNeitherServedNorStored) {
  primary_->SetBehavior(Behavior{});
  for (int i = 0; i < 2; ++i) {
    core::RequestContext ctx = Request("Where is my order MA-2025-004512?");
    ctx.intent = "order_status";
    ASSERT_TRUE(Run(ctx).ok());
    EXPECT_EQ(ctx.route, core::Route::kHaiku);
    EXPECT_TRUE(ctx.response_cache_key.empty());
  }
  EXPECT_EQ(Calls(), 2);
  // The same text under a non-personal intent is cacheable.
  for (int i = 0; i < 2; ++i) {
    core::RequestContext ctx = Request("Where is my order MA-2025-004512?");
    ctx.intent = "shipping_info";
    ASSERT_TRUE(Run(ctx).ok());
  }
  EXPECT_EQ(Calls(), 3);
}

// Without an intent ("where is my order?" and a catalog question look alike), an answer is
// shared only with the same user, or the same session for a guest without a user id; a request
// with neither is not cached. A known, non-personal intent is shared within the tenant, and
// unknown_intent_scope: tenant shares everything that is not personal.
TEST_F(CacheStageTest, AnswersOfUnknownIntentAreSharedOnlyWithTheSameUser) {
  primary_->SetBehavior(Behavior{});
  core::RequestContext a = Request("Why was my card declined?");
  ASSERT_TRUE(Run(a).ok());
  core::RequestContext same_user = Request("Why was my card declined?");
  same_user.session_id = "another-session";
  ASSERT_TRUE(Run(same_user).ok());
  EXPECT_EQ(same_user.route, core::Route::kCache);
  core::RequestContext other_user = Request("Why was my card declined?");
  other_user.user_id = "u2";
  ASSERT_TRUE(Run(other_user).ok());
  EXPECT_NE(other_user.route, core::Route::kCache);
  EXPECT_EQ(Calls(), 2);

  // Drop-in (OpenAI/Anthropic) clients may send no user id, or neither id.
  core::RequestContext guest = Request("Why was my card declined?");
  guest.compat = true;
  guest.user_id.clear();
  guest.session_id = "guest-session";
  ASSERT_TRUE(Run(guest).ok());
  core::RequestContext same_session = Request("Why was my card declined?");
  same_session.compat = true;
  same_session.user_id.clear();
  same_session.session_id = "guest-session";
  ASSERT_TRUE(Run(same_session).ok());
  EXPECT_EQ(same_session.route, core::Route::kCache);
  EXPECT_EQ(Calls(), 3);

  for (int i = 0; i < 2; ++i) {
    core::RequestContext anonymous = Request("Why was my card declined?");
    anonymous.compat = true;
    anonymous.user_id.clear();
    anonymous.session_id.clear();
    ASSERT_TRUE(Run(anonymous).ok());
    EXPECT_TRUE(anonymous.response_cache_key.empty());
  }
  EXPECT_EQ(Calls(), 5);

  // A known catalog intent is shared across users.
  for (const char* user : {"u1", "u2"}) {
    core::RequestContext known = Request();
    known.user_id = user;
    known.intent = "product_info";
    ASSERT_TRUE(Run(known).ok());
  }
  EXPECT_EQ(Calls(), 6);

  core::Config wide = MakeConfig();
  wide.cache.response.unknown_intent_scope = "tenant";
  Build(wide);
  for (const char* user : {"u1", "u2"}) {
    core::RequestContext shared = Request("Do you ship to Okinawa?");
    shared.user_id = user;
    ASSERT_TRUE(Run(shared).ok());
  }
  EXPECT_EQ(Calls(), 7);
}

// A classifier can label a personal question as a catalog one ("I pre-ordered vol 110, when
// will it ship?" as release_schedule). Messages with a personal cue, or with redacted PII, stay
// with their user whatever the label; catalog questions under the same label are still shared.
TEST_F(CacheStageTest, PersonalMessagesStayWithTheirUserWhateverTheirIntent) {
  primary_->SetBehavior(Behavior{});
  int calls = 0;
  for (const char* text : {"I pre-ordered One Piece vol 110, when will it ship?",
                           "予約したワンピースの110巻はいつ発送されますか？",
                           "my card was declined at checkout", "クレジットカードが通りません",
                           "Jujutsu Kaisen vol 30 arrived damaged", "MA-2025-004512 status?"}) {
    for (const char* user : {"u1", "u2"}) {
      core::RequestContext ctx = Request(text);
      ctx.user_id = user;
      ctx.intent = "release_schedule";
      ASSERT_TRUE(Run(ctx).ok());
      EXPECT_EQ(ctx.route, core::Route::kHaiku) << text << " for " << user;
      ++calls;
    }
    core::RequestContext again = Request(text);  // the same user again: served from cache
    again.user_id = "u2";
    again.intent = "release_schedule";
    ASSERT_TRUE(Run(again).ok());
    EXPECT_EQ(again.route, core::Route::kCache) << text;
  }
  EXPECT_EQ(Calls(), calls);

  // PII that `normalize` redacted makes a message personal too.
  for (const char* user : {"u1", "u2"}) {
    core::RequestContext ctx = Request("When does volume 110 come out? mail me at ken@example.com");
    ctx.user_id = user;
    ctx.intent = "release_schedule";
    ASSERT_TRUE(Run(ctx).ok());
    EXPECT_NE(ctx.message.find("[EMAIL]"), std::string::npos) << ctx.message;
    EXPECT_EQ(ctx.route, core::Route::kHaiku);
  }
  calls += 2;
  EXPECT_EQ(Calls(), calls);

  // A catalog question under the same label is shared across users.
  for (const char* user : {"u1", "u2"}) {
    core::RequestContext ctx = Request("When does One Piece volume 111 come out?");
    ctx.user_id = user;
    ctx.intent = "release_schedule";
    ASSERT_TRUE(Run(ctx).ok());
  }
  EXPECT_EQ(Calls(), calls + 1);

  // With no cues, the label alone decides.
  core::Config no_cues = MakeConfig();
  no_cues.cache.response.personal_cues.clear();
  Build(no_cues);
  for (const char* user : {"u1", "u2"}) {
    core::RequestContext ctx = Request("my card was declined at checkout");
    ctx.user_id = user;
    ctx.intent = "release_schedule";
    ASSERT_TRUE(Run(ctx).ok());
  }
  EXPECT_EQ(Calls(), calls + 2);
}

TEST_F(CacheStageTest, AFallbackModelsAnswerIsNotCachedUnderThePrimarysKey) {
  Behavior down;
  down.failure = Behavior::Failure::kServerError;
  primary_->SetBehavior(down);
  backup_->SetBehavior(Behavior{});
  core::RequestContext first = Request();
  first.tier = core::Tier::kPremium;  // sonnet on primary, falling back to haiku on backup
  ASSERT_TRUE(Run(first).ok());
  EXPECT_EQ(first.model, kHaikuId);
  core::RequestContext second = Request();
  second.tier = core::Tier::kPremium;
  ASSERT_TRUE(Run(second).ok());
  EXPECT_NE(second.route, core::Route::kCache);
  EXPECT_EQ(backup_->RequestCount("/v1/messages"), 2);
}

TEST_F(CacheStageTest, TiersOnDifferentModelsDoNotShareAnswers) {
  primary_->SetBehavior(Behavior{});
  core::RequestContext guest = Request();
  ASSERT_TRUE(Run(guest).ok());
  core::RequestContext premium = Request();
  premium.tier = core::Tier::kPremium;
  ASSERT_TRUE(Run(premium).ok());
  EXPECT_NE(premium.route, core::Route::kCache);
  EXPECT_EQ(Calls(), 2);
}

TEST_F(CacheStageTest, ARotatedPromptTemplateVersionMissesTheOldEntries) {
  primary_->SetBehavior(Behavior{});
  core::RequestContext a = Request();
  ASSERT_TRUE(Run(a).ok());
  // Same tier, a new pipeline over it with the next template version: no old entry is served.
  config_.cache.response.prompt_template_version = "2";
  auto pipeline = Pipeline::Build(services_.get());
  ASSERT_TRUE(pipeline.ok());
  pipeline_ = *std::move(pipeline);
  core::RequestContext b = Request();
  ASSERT_TRUE(Run(b).ok());
  EXPECT_EQ(b.route, core::Route::kHaiku);
  EXPECT_NE(a.response_cache_key, b.response_cache_key);
}

// US-02: a new classifier (model version) must not reuse answers keyed by an older one's labels;
// without a label the version plays no part.
TEST_F(CacheStageTest, TheClassifierVersionIsInTheKeyWhenAnIntentIsSet) {
  primary_->SetBehavior(Behavior{});
  auto labelled = [](std::string version) {
    core::RequestContext ctx = Request();
    ctx.intent = "product_search";
    ctx.intent_version = std::move(version);
    return ctx;
  };
  core::RequestContext a = labelled("i1-aaaaaaaaaaaa"), b = labelled("i1-bbbbbbbbbbbb");
  ASSERT_TRUE(Run(a).ok());
  ASSERT_TRUE(Run(b).ok());
  EXPECT_NE(a.response_cache_key, b.response_cache_key);
  EXPECT_EQ(b.route, core::Route::kHaiku);  // not served the other version's answer
  core::RequestContext c = labelled("i1-aaaaaaaaaaaa");
  ASSERT_TRUE(Run(c).ok());
  EXPECT_EQ(c.route, core::Route::kCache);
  core::RequestContext unlabelled = Request(), versioned = Request();
  versioned.intent_version = "i1-aaaaaaaaaaaa";
  ASSERT_TRUE(Run(unlabelled).ok());
  ASSERT_TRUE(Run(versioned).ok());
  EXPECT_EQ(unlabelled.response_cache_key, versioned.response_cache_key);
}

TEST_F(CacheStageTest, TtlComesFromTheIntentElseTheDefault) {
  core::ManualClock clock;
  core::Config cfg = MakeConfig();
  cfg.cache.response.default_ttl = absl::Minutes(10);
  cfg.cache.response.ttl_by_intent["promotions"] = absl::Minutes(1);
  pipeline_.reset();
  services_.reset();
  config_ = std::move(cfg);
  auto services = Services::Create(&config_, &metrics_, &clock);
  ASSERT_TRUE(services.ok());
  services_ = *std::move(services);
  pipeline_ = *Pipeline::Build(services_.get());
  primary_->SetBehavior(Behavior{});
  auto ask = [&](const char* intent) {
    core::RequestContext ctx = Request();
    ctx.clock = &clock;
    ctx.intent = intent;
    EXPECT_TRUE(Run(ctx).ok());
    return ctx.route;
  };
  EXPECT_EQ(ask("promotions"), core::Route::kHaiku);
  EXPECT_EQ(ask("product_info"), core::Route::kHaiku);
  clock.Advance(absl::Minutes(2));
  EXPECT_EQ(ask("promotions"), core::Route::kHaiku);    // expired after 1 min
  EXPECT_EQ(ask("product_info"), core::Route::kCache);  // 10 min default
  clock.Advance(absl::Minutes(9));
  EXPECT_EQ(ask("product_info"), core::Route::kHaiku);
}

boost::asio::awaitable<void> RunInto(const Pipeline* p, core::RequestContext* ctx,
                                     absl::Status* out) {
  *out = co_await p->Run(*ctx);
}

// Runs `n` identical requests at once, spread over two io_contexts on two threads (the server
// runs one per core, so a waiter and its leader are often on different ones).
struct Burst {
  std::vector<core::RequestContext> ctxs;
  std::vector<absl::Status> results;
  absl::Duration elapsed;
};
Burst RunBurst(const Pipeline& pipeline, int n, const core::RequestContext& proto) {
  Burst b;
  b.ctxs.assign(n, proto);
  b.results.resize(n);
  boost::asio::io_context io[2];
  for (int i = 0; i < n; ++i) {
    boost::asio::co_spawn(io[i % 2], RunInto(&pipeline, &b.ctxs[i], &b.results[i]),
                          boost::asio::detached);
  }
  const absl::Time start = absl::Now();
  std::thread other([&io] { io[1].run(); });
  io[0].run();
  other.join();
  b.elapsed = absl::Now() - start;
  return b;
}

TEST_F(CacheStageTest, ConcurrentIdenticalMissesCallTheModelOnce) {
  Behavior slow;
  slow.latency = std::chrono::milliseconds(200);
  primary_->SetBehavior(slow);
  Burst b = RunBurst(*pipeline_, 20, Request());
  int called = 0, cached = 0;
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(b.results[i].ok()) << b.results[i];
    called += b.ctxs[i].route == core::Route::kHaiku;
    cached += b.ctxs[i].route == core::Route::kCache;
    EXPECT_EQ(b.ctxs[i].answer, slow.answer);
  }
  EXPECT_EQ(called, 1);
  EXPECT_EQ(cached, 19);
  EXPECT_EQ(Calls(), 1);
  // Normally all 19 waited for the leader; on a stalled machine a late one may find the answer
  // already stored (a plain hit), which is fine too.
  const int64_t woken =
      metrics_.GetCounter("mangaassist_response_cache_coalesced_total", "", {{"result", "woken"}})
          .Value();
  EXPECT_GE(woken, 1);
  EXPECT_LE(woken, 19);
}

TEST_F(CacheStageTest, WaitersCallThemselvesWhenTheLeaderFails) {
  Behavior failing_once;
  failing_once.latency = std::chrono::milliseconds(100);
  failing_once.failure = Behavior::Failure::kServerError;
  failing_once.fail_first_n = 1;
  primary_->SetBehavior(failing_once);
  Burst b = RunBurst(*pipeline_, 3, Request());
  int failed = 0;
  for (const absl::Status& st : b.results) failed += !st.ok();
  EXPECT_EQ(failed, 1);
  EXPECT_LT(b.elapsed, absl::Seconds(2));  // woken by the failure, not by coalesce_wait (5 s)
  EXPECT_GE(Calls(), 2);
}

TEST_F(CacheStageTest, WaitersGiveUpAfterCoalesceWait) {
  core::Config cfg = MakeConfig();
  cfg.cache.response.coalesce_wait = absl::Milliseconds(50);
  Build(std::move(cfg));
  Behavior slow;
  slow.latency = std::chrono::milliseconds(600);
  primary_->SetBehavior(slow);
  Burst b = RunBurst(*pipeline_, 3, Request());
  for (const absl::Status& st : b.results) EXPECT_TRUE(st.ok()) << st;
  EXPECT_EQ(Calls(), 3);
  EXPECT_EQ(
      metrics_.GetCounter("mangaassist_response_cache_coalesced_total", "", {{"result", "timeout"}})
          .Value(),
      2);
}

TEST_F(CacheStageTest, StagesMustComeAsAPairAroundTheAnsweringStage) {
  for (std::vector<std::string> stages :
       {std::vector<std::string>{"admit", "normalize", "cache", "call"},
        std::vector<std::string>{"admit", "normalize", "call", "cache", "cache_fill"},
        std::vector<std::string>{"admit", "normalize", "call", "cache_fill"}}) {
    core::Config cfg = MakeConfig();
    cfg.pipeline.stages = stages;
    pipeline_.reset();
    services_.reset();
    config_ = std::move(cfg);
    auto services = Services::Create(&config_, &metrics_, &core::SystemClock());
    ASSERT_TRUE(services.ok());
    services_ = *std::move(services);
    auto p = Pipeline::Build(services_.get());
    ASSERT_FALSE(p.ok());
    EXPECT_NE(p.status().message().find("cache_fill"), std::string::npos) << p.status();
  }
}

}  // namespace
}  // namespace mangaassist::pipeline
