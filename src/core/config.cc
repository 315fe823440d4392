#include "core/config.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "re2/re2.h"
#include "yaml-cpp/yaml.h"

#ifndef MANGAASSIST_DATA_DIR
#define MANGAASSIST_DATA_DIR "data"
#endif

namespace mangaassist::core {
namespace {

// Collects the first error with its location; readers stop converting after an error.
struct LoadContext {
  std::string source;
  absl::Status status;
  void Fail(const YAML::Node& node, const std::string& key, const std::string& problem) {
    if (!status.ok()) return;
    int line = node.IsDefined() ? node.Mark().line + 1 : 0;
    status = absl::InvalidArgumentError(
        line > 0 ? absl::StrCat(source, ":", line, ": ", key, ": ", problem)
                 : absl::StrCat(source, ": ", key, ": ", problem));
  }
};

// ${VAR} and ${VAR:-default} substitution.
bool SubstituteEnv(const std::string& in, std::string* out, std::string* error) {
  out->clear();
  size_t i = 0;
  while (i < in.size()) {
    size_t start = in.find("${", i);
    if (start == std::string::npos) {
      out->append(in, i, std::string::npos);
      break;
    }
    out->append(in, i, start - i);
    size_t end = in.find('}', start + 2);
    if (end == std::string::npos) {
      *error = "unterminated ${ in value";
      return false;
    }
    std::string expr = in.substr(start + 2, end - start - 2);
    std::string name = expr, fallback;
    bool has_fallback = false;
    if (size_t d = expr.find(":-"); d != std::string::npos) {
      name = expr.substr(0, d);
      fallback = expr.substr(d + 2);
      has_fallback = true;
    }
    const char* v = std::getenv(name.c_str());
    if (v != nullptr && *v != '\0') {
      out->append(v);
    } else if (has_fallback) {
      out->append(fallback);
    } else {
      *error = absl::StrCat("environment variable ", name, " is not set");
      return false;
    }
    i = end + 1;
  }
  return true;
}

// Reads one YAML mapping, remembering which keys were used; Finish() rejects the rest.
class MapReader {
 public:
  MapReader(const YAML::Node& node, std::string path, LoadContext* ctx)
      : node_(node), path_(std::move(path)), ctx_(ctx) {
    if (node_.IsDefined() && !node_.IsNull() && !node_.IsMap()) {
      ctx_->Fail(node_, path_.empty() ? "<root>" : path_, "must be a mapping");
    }
  }

  bool Has(const std::string& key) {
    used_.insert(key);
    return node_.IsMap() && node_[key].IsDefined() && !node_[key].IsNull();
  }

  MapReader Child(const std::string& key) {
    used_.insert(key);
    YAML::Node child = node_.IsMap() ? node_[key] : YAML::Node();
    return MapReader(child, Qualified(key), ctx_);
  }

  void String(const std::string& key, std::string* out) {
    std::string raw;
    if (!Scalar(key, &raw)) return;
    std::string err;
    if (!SubstituteEnv(raw, out, &err)) ctx_->Fail(node_[key], Qualified(key), err);
  }

  template <typename Int>
  void Integer(const std::string& key, Int* out, int64_t lo, int64_t hi) {
    std::string raw;
    if (!Scalar(key, &raw)) return;
    int64_t v;
    if (!absl::SimpleAtoi(raw, &v)) {
      return ctx_->Fail(node_[key], Qualified(key), absl::StrCat("'", raw, "' is not an integer"));
    }
    if (v < lo || v > hi) {
      return ctx_->Fail(node_[key], Qualified(key),
                        absl::StrCat(v, " is out of range [", lo, ", ", hi, "]"));
    }
    *out = static_cast<Int>(v);
  }

  void Double(const std::string& key, double* out, double lo, double hi) {
    std::string raw;
    if (!Scalar(key, &raw)) return;
    double v;
    if (!absl::SimpleAtod(raw, &v) || !std::isfinite(v)) {
      return ctx_->Fail(node_[key], Qualified(key), absl::StrCat("'", raw, "' is not a number"));
    }
    if (v < lo || v > hi) {
      return ctx_->Fail(node_[key], Qualified(key),
                        absl::StrCat(v, " is out of range [", lo, ", ", hi, "]"));
    }
    *out = v;
  }

  void Bool(const std::string& key, bool* out) {
    std::string raw;
    if (!Scalar(key, &raw)) return;
    std::string l = absl::AsciiStrToLower(raw);
    if (l == "true" || l == "yes" || l == "on") *out = true;
    else if (l == "false" || l == "no" || l == "off") *out = false;
    else ctx_->Fail(node_[key], Qualified(key), absl::StrCat("'", raw, "' is not a boolean"));
  }

  void Duration(const std::string& key, absl::Duration* out, absl::Duration lo, absl::Duration hi) {
    std::string raw;
    if (!Scalar(key, &raw)) return;
    auto d = ParseDurationText(raw);
    if (!d.ok()) return ctx_->Fail(node_[key], Qualified(key), std::string(d.status().message()));
    if (*d < lo || *d > hi) {
      return ctx_->Fail(node_[key], Qualified(key),
                        absl::StrCat(raw, " is out of range [", absl::FormatDuration(lo), ", ",
                                     absl::FormatDuration(hi), "]"));
    }
    *out = *d;
  }

  void Bytes(const std::string& key, size_t* out, uint64_t lo, uint64_t hi) {
    std::string raw;
    if (!Scalar(key, &raw)) return;
    auto b = ParseByteSize(raw);
    if (!b.ok()) return ctx_->Fail(node_[key], Qualified(key), std::string(b.status().message()));
    if (*b < lo || *b > hi) {
      return ctx_->Fail(node_[key], Qualified(key),
                        absl::StrCat(raw, " is out of range [", lo, ", ", hi, "] bytes"));
    }
    *out = static_cast<size_t>(*b);
  }

  void StringList(const std::string& key, std::vector<std::string>* out) {
    used_.insert(key);
    if (!node_.IsMap()) return;
    YAML::Node n = node_[key];
    if (!n.IsDefined() || n.IsNull()) return;
    if (!n.IsSequence()) return ctx_->Fail(n, Qualified(key), "must be a list");
    out->clear();
    for (const auto& item : n) {
      if (!item.IsScalar()) return ctx_->Fail(item, Qualified(key), "items must be strings");
      std::string v, err;
      if (!SubstituteEnv(item.Scalar(), &v, &err)) return ctx_->Fail(item, Qualified(key), err);
      out->push_back(std::move(v));
    }
  }

  // The keys of this mapping, in file order, all marked used (for maps keyed by name).
  std::vector<std::string> Keys() {
    std::vector<std::string> keys;
    if (!node_.IsMap()) return keys;
    for (const auto& kv : node_) {
      keys.push_back(kv.first.Scalar());
      used_.insert(keys.back());
    }
    return keys;
  }

  const YAML::Node& node() const { return node_; }
  const std::string& path() const { return path_; }

  // Rejects keys nobody asked for (typos must not be silently ignored).
  void Finish() {
    if (!node_.IsMap()) return;
    for (const auto& kv : node_) {
      std::string key = kv.first.Scalar();
      if (!used_.count(key)) {
        std::vector<std::string> known(used_.begin(), used_.end());
        ctx_->Fail(kv.first, Qualified(key),
                   absl::StrCat("unknown key (known here: ", absl::StrJoin(known, ", "), ")"));
        return;
      }
    }
  }

 private:
  std::string Qualified(const std::string& key) const {
    return path_.empty() ? key : absl::StrCat(path_, ".", key);
  }

  bool Scalar(const std::string& key, std::string* out) {
    used_.insert(key);
    if (!ctx_->status.ok() || !node_.IsMap()) return false;
    YAML::Node n = node_[key];
    if (!n.IsDefined() || n.IsNull()) return false;
    if (!n.IsScalar()) {
      ctx_->Fail(n, Qualified(key), "must be a single value");
      return false;
    }
    *out = n.Scalar();
    return true;
  }

  YAML::Node node_;
  std::string path_;
  LoadContext* ctx_;
  std::set<std::string> used_;
};

void ReadRetry(MapReader m, RetryConfig* out) {
  m.Integer("max_attempts", &out->max_attempts, 1, 10);
  m.Duration("base_backoff", &out->base_backoff, absl::Milliseconds(1), absl::Minutes(1));
  m.Duration("max_backoff", &out->max_backoff, absl::Milliseconds(1), absl::Minutes(5));
  m.Duration("max_retry_after", &out->max_retry_after, absl::ZeroDuration(), absl::Minutes(10));
  m.Finish();
}

void ReadBreaker(MapReader m, BreakerConfig* out) {
  m.Integer("consecutive_failures", &out->consecutive_failures, 1, 1000);
  m.Integer("error_rate_percent", &out->error_rate_percent, 1, 100);
  m.Integer("min_calls", &out->min_calls, 1, 100000);
  m.Duration("window", &out->window, absl::Seconds(1), absl::Hours(1));
  m.Duration("cooldown", &out->cooldown, absl::Milliseconds(10), absl::Hours(1));
  m.Integer("half_open_probes", &out->half_open_probes, 1, 100);
  m.Finish();
}

const std::set<std::string>& ProviderTypeNames() {
  static const auto* types = new std::set<std::string>{"anthropic", "bedrock", "openai", "extractive",
                                                   "simulated"};
  return *types;
}

void ReadLlm(const YAML::Node& root, MapReader& r, LoadContext* ctx, Config* cfg) {
  if (r.Has("providers")) {
    cfg->providers.clear();
    MapReader ps = r.Child("providers");
    for (const std::string& name : ps.Keys()) {
      MapReader p(ps.node()[name], "providers." + name, ctx);
      ProviderConfig pc;
      pc.name = name;
      p.String("type", &pc.type);
      if (ctx->status.ok() && !ProviderTypeNames().count(pc.type)) {
        ctx->Fail(ps.node()[name], "providers." + name + ".type",
                  "'" + pc.type + "' is not one of anthropic|bedrock|openai|extractive|simulated");
      }
      p.String("base_url", &pc.base_url);
      p.String("api_key", &pc.api_key);
      p.String("region", &pc.region);
      p.String("ca_file", &pc.ca_file);
      p.String("anthropic_version", &pc.anthropic_version);
      p.Duration("connect_timeout", &pc.connect_timeout, absl::Milliseconds(10), absl::Minutes(5));
      p.Duration("first_byte_timeout", &pc.first_byte_timeout, absl::Milliseconds(10),
                 absl::Minutes(30));
      p.Duration("timeout", &pc.timeout, absl::Milliseconds(10), absl::Hours(1));
      ReadRetry(p.Child("retry"), &pc.retry);
      ReadBreaker(p.Child("breaker"), &pc.breaker);
      p.Finish();
      if (ctx->status.ok() && pc.type == "bedrock" && pc.region.empty()) {
        ctx->Fail(ps.node()[name], "providers." + name + ".region",
                  "a bedrock provider needs its pinned region");
      }
      if (ctx->status.ok() && (pc.type == "anthropic" || pc.type == "openai") &&
          pc.base_url.empty()) {
        ctx->Fail(ps.node()[name], "providers." + name + ".base_url",
                  "an " + pc.type + " provider needs base_url");
      }
      cfg->providers.push_back(std::move(pc));
    }
    if (ctx->status.ok() && cfg->providers.empty()) {
      ctx->Fail(root["providers"], "providers", "must name at least one provider");
    }
  }
  if (r.Has("models")) {
    cfg->models.clear();
    MapReader ms = r.Child("models");
    for (const std::string& name : ms.Keys()) {
      MapReader m(ms.node()[name], "models." + name, ctx);
      ModelAliasConfig mc;
      mc.name = name;
      m.String("provider", &mc.provider);
      m.String("model", &mc.model);
      m.String("price", &mc.price);
      m.String("route", &mc.route);
      m.StringList("fallback", &mc.fallback);
      m.Finish();
      if (!ctx->status.ok()) break;
      if (mc.provider.empty() || mc.model.empty()) {
        ctx->Fail(ms.node()[name], "models." + name, "needs both provider and model");
      } else if (cfg->FindProvider(mc.provider) == nullptr) {
        ctx->Fail(ms.node()[name]["provider"], "models." + name + ".provider",
                  "no provider named '" + mc.provider + "' under providers:");
      } else if (!mc.route.empty() && mc.route != "haiku" && mc.route != "sonnet") {
        ctx->Fail(ms.node()[name]["route"], "models." + name + ".route",
                  "'" + mc.route + "' is not one of haiku|sonnet");
      }
      cfg->models.push_back(std::move(mc));
    }
    if (ctx->status.ok() && cfg->models.empty()) {
      ctx->Fail(root["models"], "models", "must name at least one model alias");
    }
  } else if (ctx->status.ok()) {
    // Default aliases point at the first provider; with a file's own providers and no models,
    // that is what the user asked for (one provider, every alias on it) only if it is offline.
    for (const ModelAliasConfig& m : cfg->models) {
      if (cfg->FindProvider(m.provider) == nullptr) {
        ctx->Fail(root["providers"], "models",
                  "the default aliases need provider '" + m.provider +
                      "'; name your aliases under models:");
        break;
      }
    }
  }
  if (ctx->status.ok()) {
    for (const ModelAliasConfig& m : cfg->models) {
      for (const std::string& f : m.fallback) {
        if (cfg->FindModel(f) == nullptr) {
          ctx->Fail(root["models"][m.name]["fallback"], "models." + m.name + ".fallback",
                    "no model alias named '" + f + "'");
          return;
        }
      }
    }
  }
  {
    MapReader c = r.Child("call");
    c.String("guest_model", &cfg->call.guest_model);
    c.String("member_model", &cfg->call.member_model);
    c.String("premium_model", &cfg->call.premium_model);
    c.Integer("max_tokens", &cfg->call.max_tokens, 1, 200000);
    c.String("system_prompt", &cfg->call.system_prompt);
    c.Duration("timeout", &cfg->call.timeout, absl::Milliseconds(10), absl::Hours(1));
    c.Finish();
    for (const auto& [key, alias] : {std::pair<const char*, const std::string*>{"guest_model", &cfg->call.guest_model},
                                     {"member_model", &cfg->call.member_model},
                                     {"premium_model", &cfg->call.premium_model}}) {
      if (ctx->status.ok() && cfg->FindModel(*alias) == nullptr) {
        ctx->Fail(root["call"][key], std::string("call.") + key,
                  "no model alias named '" + *alias + "' under models:");
      }
    }
  }
  {
    MapReader c = r.Child("compat");
    c.Integer("default_max_tokens", &cfg->compat.default_max_tokens, 1, 200000);
    c.Finish();
  }
}

// --- cache (issue 8) -------------------------------------------------------------------------
// Kept in step with cache::AllKeyspaces() (cache_tier_test checks both lists agree).
const std::vector<std::string>& CacheKeyspaceNames() {
  static const auto* names = new std::vector<std::string>{
      "llmresp", "intent_sess", "product", "reco", "promo", "emb", "rate", "cost"};
  return *names;
}

bool IsRedisUrl(const std::string& url) { return url.empty() || url.rfind("redis://", 0) == 0; }

void ReadCache(const YAML::Node& root, MapReader& r, LoadContext* ctx, Config* cfg) {
  CacheConfig& c = cfg->cache;
  MapReader m = r.Child("cache");
  const YAML::Node node = root["cache"];
  m.String("redis_url", &c.redis_url);
  if (ctx->status.ok() && !IsRedisUrl(c.redis_url)) {
    ctx->Fail(node["redis_url"], "cache.redis_url", "'" + c.redis_url + "' is not a redis:// URL");
  }
  m.Integer("pool_size", &c.pool_size, 1, 256);
  m.Duration("connect_timeout", &c.connect_timeout, absl::Milliseconds(1), absl::Seconds(30));
  m.Duration("command_timeout", &c.command_timeout, absl::Milliseconds(1), absl::Seconds(30));
  m.Duration("backoff_initial", &c.backoff_initial, absl::Milliseconds(1), absl::Minutes(1));
  m.Duration("backoff_max", &c.backoff_max, absl::Milliseconds(1), absl::Hours(1));
  if (ctx->status.ok() && c.backoff_max < c.backoff_initial) {
    ctx->Fail(node["backoff_max"], "cache.backoff_max", "must not be below backoff_initial");
  }
  m.Integer("shards", &c.shards, 1, 1024);
  if (m.Has("keyspaces")) {
    MapReader ks = m.Child("keyspaces");
    for (const std::string& name : ks.Keys()) {
      const std::string path = "cache.keyspaces." + name;
      const auto& known = CacheKeyspaceNames();
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        ctx->Fail(node["keyspaces"][name], path,
                  "unknown keyspace (known: " + absl::StrJoin(known, ", ") + ")");
        return;
      }
      MapReader k(node["keyspaces"][name], path, ctx);
      CacheKeyspaceConfig kc;
      k.String("url", &kc.url);
      if (ctx->status.ok() && !IsRedisUrl(kc.url)) {
        ctx->Fail(node["keyspaces"][name]["url"], path + ".url",
                  "'" + kc.url + "' is not a redis:// URL");
      }
      k.Bytes("max_bytes", &kc.max_bytes, 4096, 1ull << 40);
      k.String("fallback", &kc.fallback);
      if (ctx->status.ok() && kc.fallback != "memory" && kc.fallback != "skip") {
        ctx->Fail(node["keyspaces"][name]["fallback"], path + ".fallback",
                  "'" + kc.fallback + "' is not one of memory|skip");
      }
      k.Duration("ttl", &kc.ttl, absl::Seconds(1), absl::Hours(24 * 365));
      k.Finish();
      c.keyspaces[name] = kc;
    }
  }
  {
    MapReader rc = m.Child("response");
    ResponseCacheConfig& rcfg = c.response;
    rc.Duration("default_ttl", &rcfg.default_ttl, absl::Seconds(1), absl::Hours(24 * 365));
    if (rc.Has("ttl_by_intent")) {
      MapReader t = rc.Child("ttl_by_intent");
      rcfg.ttl_by_intent.clear();
      for (const std::string& intent : t.Keys()) {
        absl::Duration d;
        t.Duration(intent, &d, absl::Seconds(1), absl::Hours(24 * 365));
        if (!ctx->status.ok()) return;
        rcfg.ttl_by_intent[intent] = d;
      }
    }
    rc.StringList("personal_intents", &rcfg.personal_intents);
    rc.String("prompt_template_version", &rcfg.prompt_template_version);
    if (rc.Has("model_versions")) {
      MapReader mv = rc.Child("model_versions");
      rcfg.model_versions.clear();
      for (const std::string& model : mv.Keys()) {
        std::string v;
        mv.String(model, &v);
        rcfg.model_versions[model] = v;
      }
    }
    rc.Bytes("max_answer_bytes", &rcfg.max_answer_bytes, 1, 16ull << 20);
    rc.Duration("coalesce_wait", &rcfg.coalesce_wait, absl::ZeroDuration(), absl::Minutes(5));
    rc.String("unknown_intent_scope", &rcfg.unknown_intent_scope);
    rc.StringList("personal_cues", &rcfg.personal_cues);
    if (ctx->status.ok() && rc.Has("personal_cues")) {
      const YAML::Node cues = root["cache"]["response"]["personal_cues"];
      for (size_t i = 0; i < rcfg.personal_cues.size(); ++i) {
        RE2::Options opt;
        opt.set_log_errors(false);
        opt.set_case_sensitive(false);
        RE2 re(rcfg.personal_cues[i], opt);
        if (!re.ok()) {
          ctx->Fail(cues[i], absl::StrCat("cache.response.personal_cues[", i, "]"),
                    absl::StrCat("not a valid RE2 pattern: ", re.error()));
          break;
        }
      }
    }
    if (ctx->status.ok() && rcfg.unknown_intent_scope != "user" &&
        rcfg.unknown_intent_scope != "tenant") {
      ctx->Fail(root["cache"]["response"]["unknown_intent_scope"], "cache.response.unknown_intent_scope",
                "'" + rcfg.unknown_intent_scope + "' is not one of user|tenant");
    }
    rc.Finish();
  }
  m.Finish();
}

// --- traffic control (US-08) ---------------------------------------------------------------
// A USD amount as text ("5000", "0.25") into nano-USD; never through floating point.
void ReadUsd(MapReader& m, const YAML::Node& node, const std::string& key, const std::string& path,
             LoadContext* ctx, Money* out) {
  if (!m.Has(key)) return;
  std::string text;
  m.String(key, &text);
  if (!ctx->status.ok()) return;
  absl::StatusOr<Money> v = Money::ParseUsd(text);
  if (!v.ok() || *v < Money::Zero()) {
    ctx->Fail(node[key], path, absl::StrCat("'", text, "' is not a non-negative USD amount"));
    return;
  }
  *out = *v;
}

void ReadTier(MapReader& m, const YAML::Node& node, const std::string& key,
              const std::string& path, LoadContext* ctx, Tier* out) {
  if (!m.Has(key)) return;
  std::string text;
  m.String(key, &text);
  if (ctx->status.ok() && !ParseTier(text, out)) {
    ctx->Fail(node[key], path, absl::StrCat("'", text, "' is not one of guest|member|premium"));
  }
}

bool IsHexDigest(const std::string& s) {
  if (s.size() != 64) return false;
  for (char ch : s) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(ch))) return false;
  }
  return true;
}

void ReadTraffic(const YAML::Node& root, MapReader& r, LoadContext* ctx, Config* cfg) {
  {
    AuthConfig& a = cfg->auth;
    MapReader m = r.Child("auth");
    const YAML::Node node = root["auth"];
    m.Bool("allow_guests", &a.allow_guests);
    m.Bool("trust_client_tier", &a.trust_client_tier);
    m.String("postgres", &a.postgres);
    m.Duration("refresh", &a.refresh, absl::Seconds(1), absl::Hours(24));
    if (m.Has("keys")) {
      MapReader ks = m.Child("keys");
      for (const std::string& name : ks.Keys()) {
        const std::string path = "auth.keys." + name;
        const YAML::Node kn = node["keys"][name];
        MapReader k(kn, path, ctx);
        ApiKeyConfig key;
        key.name = name;
        k.String("sha256", &key.sha256);
        key.sha256 = absl::AsciiStrToLower(key.sha256);
        if (ctx->status.ok() && !IsHexDigest(key.sha256)) {
          ctx->Fail(kn, path + ".sha256",
                    "must be 64 hex characters (`printf %s KEY | sha256sum`)");
        }
        k.String("tenant", &key.tenant);
        if (ctx->status.ok() && key.tenant.empty()) ctx->Fail(kn, path + ".tenant", "is empty");
        ReadTier(k, kn, "tier", path + ".tier", ctx, &key.tier);
        ReadUsd(k, kn, "daily_budget_usd", path + ".daily_budget_usd", ctx, &key.daily_budget);
        k.Finish();
        a.keys.push_back(std::move(key));
      }
    }
    m.Finish();
  }
  {
    RateLimitsConfig& rl = cfg->rate_limits;
    MapReader m = r.Child("rate_limits");
    const YAML::Node node = root["rate_limits"];
    m.Bool("enabled", &rl.enabled);
    m.Integer("replicas", &rl.replicas, 1, 10000);
    if (m.Has("rules")) {
      MapReader rs = m.Child("rules");
      for (const std::string& name : rs.Keys()) {
        const std::string path = "rate_limits.rules." + name;
        const YAML::Node rn = node["rules"][name];
        MapReader k(rn, path, ctx);
        RateRuleConfig rule;
        rule.name = name;
        std::string scope = "user";
        k.String("scope", &scope);
        static const std::map<std::string, RateScope> kScopes = {
            {"user", RateScope::kUser}, {"ip", RateScope::kIp}, {"tenant", RateScope::kTenant},
            {"tier", RateScope::kTier}, {"key", RateScope::kKey}};
        if (auto it = kScopes.find(scope); it != kScopes.end()) {
          rule.scope = it->second;
        } else if (ctx->status.ok()) {
          ctx->Fail(rn["scope"], path + ".scope",
                    absl::StrCat("'", scope, "' is not one of user|ip|tenant|tier|key"));
        }
        std::vector<std::string> tiers;
        k.StringList("tiers", &tiers);
        for (const std::string& t : tiers) {
          Tier tier;
          if (!ParseTier(t, &tier)) {
            if (ctx->status.ok()) {
              ctx->Fail(rn["tiers"], path + ".tiers",
                        absl::StrCat("'", t, "' is not one of guest|member|premium"));
            }
            break;
          }
          rule.tiers.push_back(tier);
        }
        k.Integer("requests", &rule.requests, 0, int64_t{1} << 40);
        k.Integer("burst", &rule.burst, 0, int64_t{1} << 40);
        k.Integer("tokens", &rule.tokens, 0, int64_t{1} << 50);
        k.Integer("token_burst", &rule.token_burst, 0, int64_t{1} << 50);
        k.Duration("period", &rule.period, absl::Seconds(1), absl::Hours(24 * 31));
        if (ctx->status.ok() && rule.requests == 0 && rule.tokens == 0) {
          ctx->Fail(rn, path, "sets neither requests nor tokens");
        }
        k.Finish();
        rl.rules.push_back(std::move(rule));
      }
    }
    m.Finish();
  }
  {
    BudgetConfig& b = cfg->budget;
    MapReader m = r.Child("budget");
    const YAML::Node node = root["budget"];
    m.Bool("enabled", &b.enabled);
    ReadUsd(m, node, "daily_cap_usd", "budget.daily_cap_usd", ctx, &b.daily_cap);
    if (m.Has("tenants")) {
      MapReader ts = m.Child("tenants");
      for (const std::string& name : ts.Keys()) {
        Money cap;
        ReadUsd(ts, node["tenants"], name, "budget.tenants." + name, ctx, &cap);
        b.tenants[name] = cap;
      }
    }
    m.String("time_zone", &b.time_zone);
    if (ctx->status.ok()) {
      absl::TimeZone tz;
      if (!absl::LoadTimeZone(b.time_zone, &tz)) {
        ctx->Fail(node["time_zone"], "budget.time_zone",
                  absl::StrCat("unknown time zone '", b.time_zone,
                               "' (an IANA name such as Asia/Tokyo; is tzdata installed?)"));
      }
    }
    m.Integer("estimate_margin_percent", &b.estimate_margin_percent, 0, 1000);
    m.Duration("hold_ttl", &b.hold_ttl, absl::Seconds(1), absl::Hours(24));
    m.Bool("premium_exempt", &b.premium_exempt);
    m.String("floor_model", &b.floor_model);
    m.String("ledger", &b.ledger);
    if (ctx->status.ok() && b.ledger != "sqlite" && b.ledger != "postgres") {
      ctx->Fail(node["ledger"], "budget.ledger", "'" + b.ledger + "' is not one of sqlite|postgres");
    }
    m.String("ledger_sqlite_path", &b.ledger_sqlite_path);
    m.String("ledger_postgres", &b.ledger_postgres);
    if (ctx->status.ok() && b.ledger == "postgres" && b.ledger_postgres.empty()) {
      ctx->Fail(node["ledger"], "budget.ledger", "postgres needs budget.ledger_postgres");
    }
    m.Finish();
  }
  {
    CostBreakerConfig& b = cfg->cost_breaker;
    MapReader m = r.Child("cost_breaker");
    const YAML::Node node = root["cost_breaker"];
    m.Integer("level1_percent", &b.level1_percent, 1, 1000);
    m.Integer("level2_percent", &b.level2_percent, 1, 1000);
    m.Integer("level3_percent", &b.level3_percent, 1, 1000);
    if (ctx->status.ok() &&
        !(b.level1_percent < b.level2_percent && b.level2_percent < b.level3_percent)) {
      ctx->Fail(node, "cost_breaker", "level1_percent < level2_percent < level3_percent must hold");
    }
    m.Duration("velocity_window", &b.velocity_window, absl::Minutes(1), absl::Hours(6));
    if (ctx->status.ok() && b.velocity_window % absl::Minutes(1) != absl::ZeroDuration()) {
      ctx->Fail(node["velocity_window"], "cost_breaker.velocity_window", "must be whole minutes");
    }
    m.Integer("velocity_level1_percent", &b.velocity_level1_percent, 100, 100000);
    m.Integer("velocity_level2_percent", &b.velocity_level2_percent, 100, 100000);
    if (ctx->status.ok() && b.velocity_level1_percent >= b.velocity_level2_percent) {
      ctx->Fail(node, "cost_breaker", "velocity_level1_percent must be below velocity_level2_percent");
    }
    m.Integer("hysteresis_percent", &b.hysteresis_percent, 0, 50);
    m.Duration("min_dwell", &b.min_dwell, absl::ZeroDuration(), absl::Hours(6));
    m.Finish();
  }
  {
    IdempotencyConfig& i = cfg->idempotency;
    MapReader m = r.Child("idempotency");
    m.Bool("enabled", &i.enabled);
    m.Duration("ttl", &i.ttl, absl::Seconds(1), absl::Hours(24 * 7));
    m.Bytes("max_response_bytes", &i.max_response_bytes, 1024, 64ull << 20);
    m.Finish();
  }
}
// --- end traffic control ---------------------------------------------------------------------

void ReadAdmin(const YAML::Node& root, MapReader& r, LoadContext* ctx, Config* cfg) {
  MapReader m = r.Child("admin");
  m.StringList("keys_sha256", &cfg->admin.keys_sha256);
  for (std::string& k : cfg->admin.keys_sha256) {
    k = absl::AsciiStrToLower(k);
    bool hex = k.size() == 64;
    for (char ch : k) hex = hex && absl::ascii_isxdigit(static_cast<unsigned char>(ch));
    if (!hex && ctx->status.ok()) {
      ctx->Fail(root["admin"]["keys_sha256"], "admin.keys_sha256",
                "entries must be 64 hex characters (SHA-256 of the key, e.g. "
                "`printf %s KEY | sha256sum`)");
    }
  }
  m.Finish();
}
// --- end cache -----------------------------------------------------------------------------

// --- control (issue 7) ---------------------------------------------------------------------
// US-08 control sections: flags: and audit:.
void ReadControl(const YAML::Node& root, MapReader& r, LoadContext* ctx, Config* cfg) {
  {
    FlagsConfig& f = cfg->flags;
    MapReader m = r.Child("flags");
    const YAML::Node node = root["flags"];
    m.String("source", &f.source);
    if (ctx->status.ok() && f.source != "config" && f.source != "file" && f.source != "redis") {
      ctx->Fail(node["source"], "flags.source", "'" + f.source + "' is not one of config|file|redis");
    }
    m.String("file", &f.file);
    if (ctx->status.ok() && f.source == "file" && f.file.empty()) {
      ctx->Fail(node["source"], "flags.file", "source: file needs flags.file");
    }
    m.String("redis_url", &f.redis_url);
    if (ctx->status.ok() && !IsRedisUrl(f.redis_url)) {
      ctx->Fail(node["redis_url"], "flags.redis_url", "'" + f.redis_url + "' is not a redis:// URL");
    }
    if (f.redis_url.empty()) f.redis_url = cfg->cache.redis_url;
    if (ctx->status.ok() && f.source == "redis" && f.redis_url.empty()) {
      ctx->Fail(node["source"], "flags.redis_url",
                "source: redis needs flags.redis_url (or cache.redis_url)");
    }
    m.String("redis_key", &f.redis_key);
    if (ctx->status.ok() && f.redis_key.empty()) {
      ctx->Fail(node["redis_key"], "flags.redis_key", "must not be empty");
    }
    m.Duration("poll_interval", &f.poll_interval, absl::Milliseconds(10), absl::Hours(1));
    if (m.Has("values")) {
      MapReader v = m.Child("values");
      const auto& known = KnownFlagNames();
      for (const std::string& name : v.Keys()) {
        if (std::find(known.begin(), known.end(), name) == known.end()) {
          ctx->Fail(node["values"][name], "flags.values." + name,
                    "unknown flag (known: " + absl::StrJoin(known, ", ") + ")");
          break;
        }
        bool b = false;
        v.Bool(name, &b);
        if (!ctx->status.ok()) break;
        f.values[name] = b;
      }
    }
    m.Finish();
  }
  {
    AuditConfig& a = cfg->audit;
    MapReader m = r.Child("audit");
    m.String("store", &a.store);
    if (ctx->status.ok() && a.store != "sqlite" && a.store != "postgres") {
      ctx->Fail(root["audit"]["store"], "audit.store", "'" + a.store + "' is not one of sqlite|postgres");
    }
    m.String("sqlite_path", &a.sqlite_path);
    m.String("postgres", &a.postgres);
    if (ctx->status.ok() && a.store == "postgres" && a.postgres.empty()) {
      ctx->Fail(root["audit"]["store"], "audit.postgres",
                "store: postgres needs audit.postgres (libpq conninfo)");
    }
    m.Finish();
  }
}
// --- end control ---------------------------------------------------------------------------

void ReadConfig(const YAML::Node& root, LoadContext* ctx, Config* cfg) {
  MapReader r(root, "", ctx);
  r.String("data_dir", &cfg->data_dir);
  {
    MapReader s = r.Child("server");
    if (s.Has("listen")) {
      std::string listen;
      s.String("listen", &listen);
      if (ctx->status.ok()) {
        absl::Status st = ParseListen(listen, &cfg->server.host, &cfg->server.port);
        if (!st.ok()) ctx->Fail(root["server"]["listen"], "server.listen", std::string(st.message()));
      }
    }
    s.Integer("threads", &cfg->server.threads, 0, 256);
    s.Bytes("max_body_bytes", &cfg->server.max_body_bytes, 1024, 64ull << 20);
    s.Bytes("max_header_bytes", &cfg->server.max_header_bytes, 1024, 1ull << 20);
    s.Duration("read_timeout", &cfg->server.read_timeout, absl::Milliseconds(10), absl::Hours(1));
    s.Duration("idle_timeout", &cfg->server.idle_timeout, absl::Milliseconds(10), absl::Hours(1));
    s.Duration("write_timeout", &cfg->server.write_timeout, absl::Milliseconds(10), absl::Hours(1));
    s.Integer("max_connections", &cfg->server.max_connections, 1, 1'000'000);
    s.Duration("shutdown_grace", &cfg->server.shutdown_grace, absl::ZeroDuration(), absl::Hours(1));
    s.Integer("max_json_depth", &cfg->server.max_json_depth, 2, 256);
    s.Finish();
  }
  {
    MapReader l = r.Child("log");
    l.String("level", &cfg->log.level);
    static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error", "off"};
    if (ctx->status.ok() && !kLevels.count(cfg->log.level)) {
      ctx->Fail(root["log"]["level"], "log.level",
                absl::StrCat("'", cfg->log.level, "' is not one of trace|debug|info|warn|error|off"));
    }
    l.Bool("access_log", &cfg->log.access_log);
    l.Finish();
  }
  {
    MapReader l = r.Child("limits");
    l.Bytes("max_message_bytes", &cfg->limits.max_message_bytes, 16, 1ull << 20);
    l.Bytes("max_id_bytes", &cfg->limits.max_id_bytes, 8, 4096);
    l.Bytes("max_locale_bytes", &cfg->limits.max_locale_bytes, 2, 64);
    l.Finish();
  }
  {
    MapReader p = r.Child("pipeline");
    p.StringList("stages", &cfg->pipeline.stages);
    if (ctx->status.ok() && cfg->pipeline.stages.empty()) {
      ctx->Fail(root["pipeline"]["stages"], "pipeline.stages", "must name at least one stage");
    }
    p.Finish();
  }
  {
    MapReader p = r.Child("responder");
    p.String("catalog", &cfg->responder.catalog);
    p.String("templates", &cfg->responder.templates);
    p.String("promotions", &cfg->responder.promotions);
    p.Finish();
  }
  // --- normalize (issue 3) ----------------------------------------------------------------
  {
    MapReader m = r.Child("normalize");
    m.Integer("max_chars", &cfg->normalize.max_chars, 1, 1 << 20);
    if (m.Has("on_oversize")) {
      std::string policy;
      m.String("on_oversize", &policy);
      if (policy == "reject") {
        cfg->normalize.on_oversize = Oversize::kReject;
      } else if (policy == "truncate") {
        cfg->normalize.on_oversize = Oversize::kTruncate;
      } else if (ctx->status.ok()) {
        ctx->Fail(root["normalize"]["on_oversize"], "normalize.on_oversize",
                  absl::StrCat("'", policy, "' is not one of reject|truncate"));
      }
    }
    m.Finish();
  }
  // --- end normalize ----------------------------------------------------------------------
  // --- intent (issue 9) -------------------------------------------------------------------
  {
    IntentConfig& in = cfg->intent;
    MapReader m = r.Child("intent");
    m.String("model", &in.model);
    if (ctx->status.ok() && in.model.empty()) {
      ctx->Fail(root["intent"]["model"], "intent.model", "must name the model file");
    }
    m.Double("threshold", &in.threshold, 0, 0.999);
    m.Bool("session_cache", &in.session_cache);
    m.Integer("cpu_ns_per_classification", &in.cpu_ns_per_classification, 0, 1'000'000'000);
    MapReader d = m.Child("drift");
    d.Duration("window", &in.drift_window, absl::Minutes(1), absl::Hours(24 * 31));
    d.Integer("min_requests", &in.drift_min_requests, 1, 1'000'000'000);
    d.String("reference", &in.drift_reference);
    if (ctx->status.ok() && in.drift_reference != "first_window" &&
        in.drift_reference != "previous_window") {
      ctx->Fail(root["intent"]["drift"]["reference"], "intent.drift.reference",
                "'" + in.drift_reference + "' is not one of first_window|previous_window");
    }
    d.Finish();
    m.Finish();
  }
  // --- end intent -------------------------------------------------------------------------
  r.String("pricing_file", &cfg->pricing_file);
  ReadLlm(root, r, ctx, cfg);
  {
    TelemetryConfig& t = cfg->telemetry;
    MapReader m = r.Child("telemetry");
    m.Bool("enabled", &t.enabled);
    m.String("spool_dir", &t.spool_dir);
    m.String("fsync", &t.fsync);
    if (ctx->status.ok() && t.fsync != "batch" && t.fsync != "interval") {
      ctx->Fail(root["telemetry"]["fsync"], "telemetry.fsync",
                "'" + t.fsync + "' is not one of batch|interval");
    }
    m.Duration("fsync_interval", &t.fsync_interval, absl::Milliseconds(1), absl::Minutes(1));
    m.Bytes("quota_bytes", &t.quota_bytes, 1ull << 20, 1ull << 40);
    m.Bytes("segment_bytes", &t.segment_bytes, 64ull << 10, 1ull << 30);
    m.String("sink", &t.sink);
    if (ctx->status.ok() && t.sink != "sqlite" && t.sink != "redis") {
      ctx->Fail(root["telemetry"]["sink"], "telemetry.sink",
                "'" + t.sink + "' is not one of sqlite|redis");
    }
    m.String("sqlite_path", &t.sqlite_path);
    m.Integer("retention_days", &t.retention_days, 0, 3650);
    m.String("redis_host", &t.redis_host);
    m.Integer("redis_port", &t.redis_port, 1, 65535);
    m.String("redis_stream", &t.redis_stream);
    m.String("id_hash_key", &t.id_hash_key);
    if (ctx->status.ok() && t.id_hash_key.empty()) {
      ctx->Fail(root["telemetry"]["id_hash_key"], "telemetry.id_hash_key", "must not be empty");
    }
    m.String("baseline_file", &t.baseline_file);
    m.Bytes("ship_batch", &t.ship_batch, 1, 100000);
    m.Duration("ship_interval", &t.ship_interval, absl::Milliseconds(1), absl::Minutes(1));
    m.String("report_postgres", &t.report_postgres);
    m.Integer("own_cpu_us_per_event", &t.own_cpu_us_per_event, 0, 1'000'000);
    m.Bytes("own_stored_bytes_per_event", &t.own_stored_bytes_per_event, 0, 1ull << 20);
    m.Finish();
  }
  ReadCache(root, r, ctx, cfg);
  ReadTraffic(root, r, ctx, cfg);
  ReadAdmin(root, r, ctx, cfg);
  ReadControl(root, r, ctx, cfg);
  r.Finish();
}

}  // namespace

const std::vector<std::string>& KnownFlagNames() {
  static const auto* names = new std::vector<std::string>{
      "degradation_active",
      "cost_circuit_breaker_enabled",
      "us01_optimization_enabled",
      "us02_optimization_enabled",
      "us03_optimization_enabled",
      "us04_optimization_enabled",
      "us05_optimization_enabled",
      "us06_optimization_enabled",
      "us07_optimization_enabled",
      "us08_optimization_enabled",
      "us01.template_router_enabled",
      "us01.tier_routing_enabled",
      "us01.prompt_compression_enabled",
      "us01.provider_prompt_caching_enabled",
      "us02.session_intent_cache_enabled",
      "us03.response_cache_enabled",
      "us03.semantic_cache_enabled",
      "us04.compute_spot_enabled",
      "us05.session_ttl_enabled",
      "us06.rag_bypass_enabled",
      "us06.embedding_cache_enabled",
      "us07.event_sampling_enabled",
      "us08.rate_limits_enabled",
      "us08.budget_enabled"};
  return *names;
}

absl::StatusOr<std::string> ExpandEnv(const std::string& text) {
  std::string out, error;
  if (!SubstituteEnv(text, &out, &error)) return absl::InvalidArgumentError(error);
  return out;
}

std::string Config::DataPath(const std::string& relative) const {
  if (!relative.empty() && relative.front() == '/') return relative;
  return absl::StrCat(data_dir, "/", relative);
}

const ProviderConfig* Config::FindProvider(std::string_view name) const {
  for (const ProviderConfig& p : providers) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

const CacheKeyspaceConfig& CacheConfig::Keyspace(std::string_view name) const {
  static const auto* defaults = new CacheKeyspaceConfig();
  auto it = keyspaces.find(name);
  return it == keyspaces.end() ? *defaults : it->second;
}

const ModelAliasConfig* Config::FindModel(std::string_view alias) const {
  for (const ModelAliasConfig& m : models) {
    if (m.name == alias) return &m;
  }
  return nullptr;
}

Config DefaultConfig() {
  Config cfg;
  const char* env = std::getenv("MANGAASSIST_DATA_DIR");
  cfg.data_dir = (env != nullptr && *env != '\0') ? env : MANGAASSIST_DATA_DIR;
  ProviderConfig offline;
  offline.name = "offline";
  offline.type = "extractive";
  cfg.providers.push_back(offline);
  for (const char* alias : {"auto", "haiku", "sonnet"}) {
    ModelAliasConfig m;
    m.name = alias;
    m.provider = "offline";
    m.model = "extractive";
    cfg.models.push_back(m);
  }
  // The default audit path follows MANGAASSIST_VAR like a file's ${MANGAASSIST_VAR:-../var}.
  if (auto path = ExpandEnv(cfg.audit.sqlite_path); path.ok()) cfg.audit.sqlite_path = *path;
  return cfg;
}

absl::StatusOr<Config> LoadConfigString(const std::string& yaml, const std::string& source_name) {
  Config cfg = DefaultConfig();
  cfg.source = source_name;
  LoadContext ctx{source_name, absl::OkStatus()};
  try {
    YAML::Node root = YAML::Load(yaml);
    if (root.IsNull()) return cfg;  // an empty file means all defaults
    ReadConfig(root, &ctx, &cfg);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_name, ":", e.mark.line + 1, ": YAML syntax error: ", e.msg));
  }
  if (!ctx.status.ok()) return ctx.status;
  // Relative data_dir in a file is relative to that file's directory.
  if (!cfg.data_dir.empty() && cfg.data_dir.front() != '/' && source_name.find('/') != std::string::npos) {
    cfg.data_dir = absl::StrCat(source_name.substr(0, source_name.rfind('/')), "/", cfg.data_dir);
  }
  return cfg;
}

absl::StatusOr<Config> LoadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open config file ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return LoadConfigString(ss.str(), path);
}

absl::Status ParseListen(const std::string& text, std::string* host, uint16_t* port) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not HOST:PORT"));
  }
  std::string h = text.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h.empty()) return absl::InvalidArgumentError(absl::StrCat("'", text, "' has no host"));
  int p;
  if (!absl::SimpleAtoi(text.substr(colon + 1), &p) || p < 0 || p > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' has no valid port (0-65535)"));
  }
  *host = h;
  *port = static_cast<uint16_t>(p);
  return absl::OkStatus();
}

absl::StatusOr<absl::Duration> ParseDurationText(const std::string& text) {
  absl::Duration d;
  if (!absl::ParseDuration(absl::StripAsciiWhitespace(text), &d) || d < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not a duration (use e.g. 250ms, 10s, 5m)"));
  }
  return d;
}

absl::StatusOr<uint64_t> ParseByteSize(const std::string& text) {
  std::string t(absl::StripAsciiWhitespace(text));
  size_t i = 0;
  while (i < t.size() && absl::ascii_isdigit(static_cast<unsigned char>(t[i]))) ++i;
  uint64_t n;
  if (i == 0 || !absl::SimpleAtoi(t.substr(0, i), &n)) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not a byte size"));
  }
  std::string unit = absl::AsciiStrToLower(absl::StripAsciiWhitespace(t.substr(i)));
  uint64_t mul;
  if (unit.empty() || unit == "b") mul = 1;
  else if (unit == "kib" || unit == "k") mul = 1ull << 10;
  else if (unit == "mib" || unit == "m") mul = 1ull << 20;
  else if (unit == "gib" || unit == "g") mul = 1ull << 30;
  else if (unit == "kb") mul = 1000;
  else if (unit == "mb") mul = 1000 * 1000;
  else return absl::InvalidArgumentError(absl::StrCat("'", text, "' has an unknown unit"));
  return n * mul;
}

std::vector<std::string> ResponseCacheConfig::DefaultPersonalCues() {
  return {
      // English: the customer's own order, payment, delivery or account.
      R"(\bmy (?:orders?|pre-?orders?|packages?|parcels?|deliver(?:y|ies)|shipments?|purchases?|)"
      R"(items?|cop(?:y|ies)|refunds?|returns?|(?:credit |debit )?cards?|payments?|account|password|login|)"
      R"(points|subscription|address|invoice|receipt|charges?)\b)",
      R"(\b(?:i|we)(?: have|'ve| just| already)? (?:pre-?ordered|ordered|bought|purchased|paid|)"
      R"(returned|received|got charged|was charged|were charged|placed an order)\b)",
      R"(\b(?:declined?|declines|double[- ]charged|charged twice|never (?:arrived|came|shipped)|)"
      R"(arrived (?:damaged|broken|torn|late|wet)|hasn'?t (?:arrived|shipped|come))\b)",
      R"(\bMA-\d{4}-\d{3,}\b)",  // an order number
      // Japanese: 予約した / 注文した / 買った …, deliveries, the card, the account.
      R"(予約(?:し(?:た|てい|てる|ました)|済)|注文(?:し(?:た|てい|てる|ました)|済)|購入(?:し(?:た|てい|ました)|済)|買(?:った|いました))",
      R"(届(?:いた|きました|かない|きません|いてな|いていな)|まだ届|いつ届|来ない|発送されて(?:な|いな))",
      R"(落丁|乱丁|破損|汚損|破れて|傷が|返品|返金)",
      R"((?:カード|決済|支払い?)(?:が|は|で).{0,12}(?:通ら|通りません|使えな|使えま|拒否|エラー|失敗))",
      R"(私の|僕の|俺の|自分の|うちの|二重(?:請求|引き落とし)|引き落とされ|請求され)",
  };
}

}  // namespace mangaassist::core
