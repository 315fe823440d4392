#include "telemetry/baseline.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/strings.h"
#include "core/yaml.h"
#include "yaml-cpp/yaml.h"

namespace mangaassist::telemetry {
namespace {

using core::CostComponent;
using core::Money;

constexpr int64_t kNano = 1'000'000'000;
constexpr int64_t kGiB = int64_t{1} << 30;  // AWS bills storage "GB" as GiB
constexpr int64_t kKinesisPayloadUnitBytes = 25 * 1024;

// num / den rounded half away from zero; den > 0. Every amortization in this file divides once.
int64_t DivRound(__int128 num, __int128 den) {
  __int128 q = num / den, r = num % den;
  if (r * 2 >= den) ++q;
  if (r * 2 <= -den) --q;
  return static_cast<int64_t>(q);
}

int64_t CeilDiv(int64_t a, int64_t b) { return a <= 0 ? 0 : (a + b - 1) / b; }

// --- loading ----------------------------------------------------------------------------------

// The first error with its location. A missing key is reported only when nothing else is
// wrong: a misspelt key is both unknown and missing, and "unknown key" says which line to fix.
struct LoadContext {
  std::string source;
  absl::Status status;
  absl::Status missing;
  void Fail(const YAML::Node& node, const std::string& key, const std::string& problem) {
    if (!status.ok()) return;
    status = Error(node, key, problem);
  }
  void Missing(const YAML::Node& parent, const std::string& key) {
    if (missing.ok()) missing = Error(parent, key, "missing");
  }
  absl::Status Result() const { return status.ok() ? missing : status; }

 private:
  absl::Status Error(const YAML::Node& node, const std::string& key,
                     const std::string& problem) const {
    int line = node.IsDefined() ? node.Mark().line + 1 : 0;
    return absl::InvalidArgumentError(
        line > 0 ? absl::StrCat(source, ":", line, ": ", key, ": ", problem)
                 : absl::StrCat(source, ": ", key, ": ", problem));
  }
};

// One mapping of the file: typed getters that record which keys were read, and Finish(), which
// refuses any key nobody read (a typo must not silently leave a default in the baseline).
class Section {
 public:
  Section(LoadContext* ctx, YAML::Node node, std::string path)
      : ctx_(ctx), node_(std::move(node)), path_(std::move(path)) {
    if (!node_.IsMap()) ctx_->Fail(node_, path_.empty() ? "(root)" : path_, "must be a mapping");
  }

  Section Sub(const std::string& key) {
    used_.insert(key);
    YAML::Node n = Get(key);
    if (!n.IsDefined()) {
      ctx_->Missing(node_, Q(key));
      return Section(ctx_, YAML::Node(YAML::NodeType::Map), Q(key));
    }
    return Section(ctx_, n, Q(key));
  }

  void Int(const std::string& key, int64_t min, int64_t max, int64_t* out) {
    std::string text;
    YAML::Node n;
    if (!Scalar(key, &text, &n)) return;
    int64_t v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size()) {
      ctx_->Fail(n, Q(key), absl::StrCat("'", text, "' is not an integer"));
    } else if (v < min || v > max) {
      ctx_->Fail(n, Q(key), absl::StrCat(v, " is out of range [", min, ", ", max, "]"));
    } else {
      *out = v;
    }
  }

  // A non-negative decimal quantity with at most 9 places, as an integer count of 1e-9 units.
  void Decimal(const std::string& key, int64_t* out_nano_units) {
    std::string text;
    YAML::Node n;
    if (!Scalar(key, &text, &n)) return;
    auto m = Money::ParseUsd(text);  // the same fixed-point decimal syntax as prices
    if (!m.ok()) {
      ctx_->Fail(n, Q(key), std::string(m.status().message()));
    } else if (m->nanos() < 0 || m->nanos() > 1'000'000 * kNano) {
      ctx_->Fail(n, Q(key), "must be between 0 and 1000000");
    } else {
      *out_nano_units = m->nanos();
    }
  }

  void Bool(const std::string& key, bool* out) {
    std::string text;
    YAML::Node n;
    if (!Scalar(key, &text, &n)) return;
    if (text == "true") {
      *out = true;
    } else if (text == "false") {
      *out = false;
    } else {
      ctx_->Fail(n, Q(key), absl::StrCat("'", text, "' is not true or false"));
    }
  }

  void Str(const std::string& key, std::string* out) {
    YAML::Node n;
    Scalar(key, out, &n);
  }

  // Every key of the mapping, marked used (for tables such as output_tokens).
  std::vector<std::string> Keys() {
    std::vector<std::string> keys;
    if (!node_.IsMap()) return keys;
    for (const auto& kv : node_) {
      keys.push_back(kv.first.Scalar());
      used_.insert(keys.back());
    }
    return keys;
  }

  void Finish() {
    if (!node_.IsMap()) return;
    for (const auto& kv : node_) {
      std::string key = kv.first.Scalar();
      if (!used_.count(key)) {
        std::vector<std::string> known(used_.begin(), used_.end());
        ctx_->Fail(kv.first, Q(key),
                   absl::StrCat("unknown key (known here: ", absl::StrJoin(known, ", "), ")"));
        return;
      }
    }
  }

  const YAML::Node& node() const { return node_; }

 private:
  std::string Q(const std::string& key) const {
    return path_.empty() ? key : absl::StrCat(path_, ".", key);
  }
  // An undefined node when absent (the const operator[] does not insert).
  YAML::Node Get(const std::string& key) const {
    if (node_.IsMap()) return node_[key];
    const YAML::Node empty(YAML::NodeType::Map);
    return empty[key];
  }
  bool Scalar(const std::string& key, std::string* out, YAML::Node* node) {
    used_.insert(key);
    if (!ctx_->status.ok()) return false;
    YAML::Node n = Get(key);  // copy-constructed: assigning an absent node would throw
    if (!n.IsDefined()) {
      ctx_->Missing(node_, Q(key));
      return false;
    }
    *node = n;
    if (!node->IsScalar()) {
      ctx_->Fail(*node, Q(key), "must be a scalar");
      return false;
    }
    *out = node->Scalar();
    return true;
  }

  LoadContext* ctx_;
  YAML::Node node_;
  std::string path_;
  std::set<std::string> used_;
};

}  // namespace

absl::StatusOr<core::Money> OwnAnalyticsCostPerEvent(const core::PriceTable& prices,
                                                     const std::string& region,
                                                     int64_t cpu_us_per_event,
                                                     int64_t stored_bytes_per_event,
                                                     int64_t retention_days) {
  absl::StatusOr<Money> vcpu_hour = prices.Service("fargate", "x86_per_vcpu_hour");
  if (!vcpu_hour.ok()) return vcpu_hour.status();
  absl::StatusOr<Money> gb_month = prices.Service("ebs_gp3", "per_gb_month_storage");
  if (!gb_month.ok()) return gb_month.status();
  constexpr int64_t kMicrosPerHour = 3'600'000'000;
  const int64_t cpu = DivRound(__int128{vcpu_hour->nanos()} * std::max<int64_t>(cpu_us_per_event, 0),
                               kMicrosPerHour);
  const int64_t storage =
      DivRound(__int128{gb_month->nanos()} * std::max<int64_t>(stored_bytes_per_event, 0) *
                   std::max<int64_t>(retention_days, 0),
               __int128{kGiB} * 30);
  return core::WithUplift(Money::FromNanos(cpu + storage), prices.UpliftPercent(region, "compute"));
}

absl::StatusOr<Baseline> LoadBaseline(const std::string& path, const core::PriceTable& prices) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open baseline ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return LoadBaselineString(ss.str(), path, prices);
}

absl::StatusOr<Baseline> LoadBaselineString(const std::string& yaml, const std::string& source,
                                            const core::PriceTable& prices) {
  absl::StatusOr<YAML::Node> parsed = core::ParseYaml(yaml, source);
  if (!parsed.ok()) return parsed.status();
  YAML::Node root = *std::move(parsed);
  LoadContext ctx{source, absl::OkStatus(), absl::OkStatus()};
  Baseline b;
  Baseline::Params& p = b.params_;
  constexpr int64_t kMaxInt = int64_t{1} << 40;

  Section top(&ctx, root, "");
  int64_t version = 0;
  top.Int("version", 1, 1, &version);
  top.Str("region", &p.region);

  Section traffic = top.Sub("traffic");
  traffic.Int("requests_per_hour", 1, kMaxInt, &p.requests_per_hour);
  traffic.Finish();

  Section llm = top.Sub("llm");
  llm.Str("model", &p.model);
  llm.Int("system_prompt_tokens", 0, 10'000'000, &p.system_prompt_tokens);
  llm.Int("tokens_per_history_turn", 0, 10'000'000, &p.tokens_per_history_turn);
  llm.Int("rag_top_k", 0, 1000, &p.rag_top_k);
  llm.Int("tokens_per_chunk", 0, 10'000'000, &p.tokens_per_chunk);
  llm.Int("context_window_tokens", 1, 100'000'000, &p.context_window_tokens);
  llm.Int("max_tokens", 1, 10'000'000, &p.max_tokens);
  Section out = llm.Sub("output_tokens");
  bool has_default = false;
  for (const std::string& intent : out.Keys()) {
    int64_t v = 0;
    out.Int(intent, 0, 10'000'000, &v);
    if (intent == "default") {
      p.default_output_tokens = v;
      has_default = true;
    } else {
      p.output_tokens_by_intent[intent] = v;
    }
  }
  if (!has_default) ctx.Missing(out.node(), "llm.output_tokens.default");
  out.Finish();
  llm.Finish();

  int64_t instances = 0;
  Section intent = top.Sub("intent");
  intent.Int("instances", 0, 10'000, &instances);
  intent.Finish();

  bool embed = true;
  Section embedding = top.Sub("embedding");
  embedding.Bool("embed_every_message", &embed);
  embedding.Finish();

  int64_t ocus = 0;
  Section vector = top.Sub("vector_search");
  vector.Decimal("ocus", &ocus);
  vector.Finish();

  Section ddb = top.Sub("session_store");
  ddb.Int("items_written_per_message", 0, 1000, &p.ddb_items_written);
  ddb.Int("item_bytes", 1, 400 * 1024, &p.ddb_item_bytes);  // DynamoDB's item size limit
  ddb.Bool("transactional_writes", &p.ddb_transactional);
  ddb.Bool("strongly_consistent_reads", &p.ddb_strongly_consistent);
  ddb.Int("storage_months", 0, 1200, &p.ddb_storage_months);
  ddb.Finish();

  int64_t shards = 0, rpu_hours_per_day = 0, retention_months = 0;
  Section analytics = top.Sub("analytics");
  analytics.Int("kinesis_shards", 0, 100'000, &shards);
  analytics.Int("event_bytes", 1, 1024 * 1024, &p.event_bytes);  // Kinesis' record size limit
  analytics.Int("redshift_rpu_hours_per_day", 0, 1'000'000, &rpu_hours_per_day);
  analytics.Int("retention_months", 0, 1200, &retention_months);
  analytics.Finish();

  int64_t tasks = 0, vcpu = 0, gb = 0;
  Section compute = top.Sub("compute");
  compute.Int("tasks_at_peak", 0, 100'000, &tasks);
  compute.Decimal("vcpu_per_task", &vcpu);
  compute.Decimal("memory_gb_per_task", &gb);
  compute.Finish();
  top.Finish();
  if (absl::Status s = ctx.Result(); !s.ok()) return s;

  // Prices. A missing one is a configuration error naming the price.
  const core::ModelPrice* model = prices.FindModel(p.model);
  if (model == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": llm.model: no price for '", p.model, "' in the price table"));
  }
  b.model_price_ = *model;
  struct Need {
    std::string_view service, key;
    Money* out;
  };
  Money embed_price, sagemaker_hour, ocu_hour, shard_hour, put_unit, firehose_gb, rpu_hour,
      redshift_gb_month, vcpu_hour, gb_hour;
  for (const Need& n : std::initializer_list<Need>{
           {"titan_embeddings_v2", "per_million_input_tokens", &embed_price},
           {"dynamodb_on_demand", "per_million_write_request_units", &b.ddb_per_mwru_},
           {"dynamodb_on_demand", "per_million_read_request_units", &b.ddb_per_mrru_},
           {"dynamodb_on_demand", "per_gb_month_storage", &b.ddb_per_gb_month_},
           {"sagemaker_realtime", "per_instance_hour", &sagemaker_hour},
           {"opensearch_serverless", "per_ocu_hour", &ocu_hour},
           {"kinesis_data_streams", "per_shard_hour", &shard_hour},
           {"kinesis_data_streams", "per_million_put_payload_units", &put_unit},
           {"firehose", "per_gb_ingested", &firehose_gb},
           {"redshift_serverless", "per_rpu_hour", &rpu_hour},
           {"redshift_serverless", "per_gb_month_storage", &redshift_gb_month},
           {"fargate", "x86_per_vcpu_hour", &vcpu_hour},
           {"fargate", "x86_per_gb_hour", &gb_hour}}) {
    auto price = prices.Service(n.service, n.key);
    if (!price.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": the baseline needs ", price.status().message()));
    }
    *n.out = *price;
  }
  b.embed_per_mtok_ = embed ? embed_price : Money::Zero();
  b.bedrock_uplift_ = prices.UpliftPercent(p.region, "bedrock");
  b.dynamodb_uplift_ = prices.UpliftPercent(p.region, "dynamodb");

  // Fixed per-request amounts. Each is one integer division of an exact product, rounded
  // half-up, then the region's uplift (also rounded half-up).
  const int64_t rph = p.requests_per_hour;
  auto uplift = [&](std::string_view family, Money m) {
    return core::WithUplift(m, prices.UpliftPercent(p.region, family));
  };
  b.intent_per_request_ = uplift(
      "sagemaker", Money::FromNanos(DivRound(__int128{sagemaker_hour.nanos()} * instances, rph)));
  b.vector_search_per_request_ =
      uplift("opensearch",
             Money::FromNanos(DivRound(__int128{ocu_hour.nanos()} * ocus, __int128{kNano} * rph)));
  __int128 task_hour_nano2 = __int128{vcpu_hour.nanos()} * vcpu + __int128{gb_hour.nanos()} * gb;
  b.compute_per_request_ =
      uplift("compute", Money::FromNanos(DivRound(task_hour_nano2 * tasks, __int128{kNano} * rph)));
  // Analytics: shards (per hour), one put of ceil(bytes/25 KB) payload units, Firehose
  // ingestion of the bytes, Redshift RPU-hours per day, raw storage for retention_months.
  int64_t shard_part = DivRound(__int128{shard_hour.nanos()} * shards, rph);
  int64_t put_part =
      Money::PerMillion(put_unit, CeilDiv(p.event_bytes, kKinesisPayloadUnitBytes)).nanos();
  int64_t firehose_part = DivRound(__int128{firehose_gb.nanos()} * p.event_bytes, kGiB);
  int64_t rpu_part = DivRound(__int128{rpu_hour.nanos()} * rpu_hours_per_day, __int128{24} * rph);
  int64_t storage_part =
      DivRound(__int128{redshift_gb_month.nanos()} * p.event_bytes * retention_months, kGiB);
  b.analytics_per_request_ =
      uplift("kinesis", Money::FromNanos(shard_part + put_part + firehose_part)) +
      uplift("redshift", Money::FromNanos(rpu_part + storage_part));
  return b;
}

BaselineCost Baseline::CostOf(const BaselineInput& in) const {
  const Params& p = params_;
  BaselineCost c;
  // LLM: one Sonnet call with everything in the prompt.
  c.system_tokens = p.system_prompt_tokens;
  c.history_tokens = std::max<int64_t>(in.history_turns, 0) * p.tokens_per_history_turn;
  c.rag_tokens = p.rag_top_k * p.tokens_per_chunk;
  c.message_tokens = std::max<int64_t>(in.message_tokens, 0);
  c.input_tokens = std::min(c.system_tokens + c.history_tokens + c.rag_tokens + c.message_tokens,
                            p.context_window_tokens);
  int64_t out = p.default_output_tokens;
  if (!in.intent.empty()) {
    if (auto it = p.output_tokens_by_intent.find(in.intent);
        it != p.output_tokens_by_intent.end()) {
      out = it->second;
    }
  }
  c.output_tokens = std::min(out, p.max_tokens);
  core::TokenUsage usage;
  usage.input_tokens = c.input_tokens;
  usage.output_tokens = c.output_tokens;
  core::LlmCost llm = core::CostOf(model_price_, usage);
  c.lines.Add(CostComponent::kLlmInput, core::WithUplift(llm.input, bedrock_uplift_));
  c.lines.Add(CostComponent::kLlmOutput, core::WithUplift(llm.output, bedrock_uplift_));

  // Titan embedding of the message.
  c.lines.Add(
      CostComponent::kEmbedding,
      core::WithUplift(Money::PerMillion(embed_per_mtok_, c.message_tokens), bedrock_uplift_));
  c.lines.Add(CostComponent::kVectorSearch, vector_search_per_request_);

  // DynamoDB: transactional writes of the new items, a strongly consistent read of the whole
  // session (earlier turns + META), and the new bytes stored for storage_months.
  int64_t wru =
      p.ddb_items_written * CeilDiv(p.ddb_item_bytes, 1024) * (p.ddb_transactional ? 2 : 1);
  int64_t read_bytes = (std::max<int64_t>(in.history_turns, 0) + 1) * p.ddb_item_bytes;
  int64_t rru_halves = CeilDiv(read_bytes, 4096) * (p.ddb_strongly_consistent ? 2 : 1);
  int64_t ddb = Money::PerMillion(ddb_per_mwru_, wru).nanos() +
                DivRound(__int128{ddb_per_mrru_.nanos()} * rru_halves, 2'000'000) +
                DivRound(__int128{ddb_per_gb_month_.nanos()} * p.ddb_items_written *
                             p.ddb_item_bytes * p.ddb_storage_months,
                         kGiB);
  c.lines.Add(CostComponent::kSessionStore,
              core::WithUplift(Money::FromNanos(ddb), dynamodb_uplift_));

  c.lines.Add(CostComponent::kAnalytics, analytics_per_request_);
  c.intent_inference = intent_per_request_;
  c.lines.Add(CostComponent::kCompute, compute_per_request_ + intent_per_request_);
  c.total = c.lines.Total();
  return c;
}

core::LlmCost Baseline::AtBaselineModel(const core::TokenUsage& usage) const {
  core::TokenUsage u;
  u.input_tokens = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens;
  u.output_tokens = usage.output_tokens;
  core::LlmCost c = core::CostOf(model_price_, u);
  c.input = core::WithUplift(c.input, bedrock_uplift_);
  c.output = core::WithUplift(c.output, bedrock_uplift_);
  return c;
}

// --- savings attribution (docs/events.md "Savings attribution") ---------------------------------

std::array<Money, kStoryCount> AttributeSavings(const BaselineCost& baseline,
                                                const core::CostLines& actual, core::Route route,
                                                const SavingsInput& in) {
  std::array<Money, kStoryCount> s{};
  auto add = [&s](Story story, Money m) { s[static_cast<size_t>(story)] += m; };
  auto delta = [&](CostComponent c) { return baseline.lines.Get(c) - actual.Get(c); };

  // 1. LLM lines.
  Money base_in = baseline.lines.Get(CostComponent::kLlmInput) +
                  baseline.lines.Get(CostComponent::kLlmCacheRead) +
                  baseline.lines.Get(CostComponent::kLlmCacheWrite);
  Money base_out = baseline.lines.Get(CostComponent::kLlmOutput);
  Money actual_llm = actual.Get(CostComponent::kLlmInput) + actual.Get(CostComponent::kLlmOutput) +
                     actual.Get(CostComponent::kLlmCacheRead) +
                     actual.Get(CostComponent::kLlmCacheWrite);
  Money llm_delta = base_in + base_out - actual_llm;
  const Story routing = in.degraded_level > 0 ? Story::kUs08 : Story::kUs01;
  switch (route) {
    case core::Route::kCache:
    case core::Route::kSemanticCache:
      add(Story::kUs03, llm_delta);  // a cached answer: the call was avoided by the cache
      break;
    case core::Route::kTemplate:
    case core::Route::kExtractive:
      add(routing, llm_delta);  // answered without the LLM by the router
      break;
    case core::Route::kNone:
      add(Story::kUs08, llm_delta);  // refused or shed before an answer (admission, budget)
      break;
    case core::Route::kHaiku:
    case core::Route::kSonnet: {
      // Routing: the actual tokens at the baseline model without prompt cache, minus what they
      // cost — the model tier and prompt caching.
      Money at_base = in.actual_at_baseline_model.input + in.actual_at_baseline_model.output;
      add(routing, at_base - actual_llm);
      // Answer length: per-intent max_tokens budgets (US-01).
      add(Story::kUs01, base_out - in.actual_at_baseline_model.output);
      // Prompt size: split by the baseline prompt's composition. History → US-05 (window and
      // summary), RAG chunks → US-06 (bypass, adaptive top-k, context budget), the rest (system
      // prompt, message) → US-01, which also takes the truncation remainder.
      Money prompt = base_in - in.actual_at_baseline_model.input;
      int64_t parts = baseline.system_tokens + baseline.history_tokens + baseline.rag_tokens +
                      baseline.message_tokens;
      if (parts > 0) {
        int64_t h =
            static_cast<int64_t>(__int128{prompt.nanos()} * baseline.history_tokens / parts);
        int64_t r = static_cast<int64_t>(__int128{prompt.nanos()} * baseline.rag_tokens / parts);
        add(Story::kUs05, Money::FromNanos(h));
        add(Story::kUs06, Money::FromNanos(r));
        add(Story::kUs01, prompt - Money::FromNanos(h) - Money::FromNanos(r));
      } else {
        add(Story::kUs01, prompt);
      }
      break;
    }
  }

  // 2. The other lines, one story each.
  add(Story::kUs06, delta(CostComponent::kEmbedding));
  add(Story::kUs06, delta(CostComponent::kVectorSearch));
  add(Story::kUs05, delta(CostComponent::kSessionStore));
  add(Story::kUs03, delta(CostComponent::kCacheOps));
  add(Story::kUs07, delta(CostComponent::kAnalytics));
  // Compute: the baseline's SageMaker endpoint is US-02's (the in-process classifier runs inside
  // the gateway's own compute); the rest of the line is US-04's.
  add(Story::kUs02, baseline.intent_inference);
  add(Story::kUs04, delta(CostComponent::kCompute) - baseline.intent_inference);
  return s;
}

}  // namespace mangaassist::telemetry
