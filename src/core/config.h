// Gateway configuration: typed structs loaded from YAML (yaml-cpp) and validated at start-up.
// An unknown key or a bad value fails the load with a message naming the file, line and key.
// Scalars may use `${ENV_VAR}` or `${ENV_VAR:-default}` substitution (for secrets).
// A loaded Config is immutable and may be shared read-only across threads.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/llm_config.h"
#include "core/normalize.h"
#include "core/request_context.h"
#include "core/traffic_config.h"

namespace mangaassist::core {

struct ServerConfig {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  int threads = 0;                        // 0 = number of cores
  size_t max_body_bytes = 256 * 1024;
  size_t max_header_bytes = 16 * 1024;
  absl::Duration read_timeout = absl::Seconds(10);   // whole request, first one on a connection
  absl::Duration idle_timeout = absl::Seconds(60);   // keep-alive wait for the next request
  absl::Duration write_timeout = absl::Seconds(10);
  int max_connections = 10'000;
  absl::Duration shutdown_grace = absl::Seconds(10);
  int max_json_depth = 16;
};

struct LogConfig {
  std::string level = "info";  // trace|debug|info|warn|error|off
  bool access_log = false;     // one line per request (debug aid; costs CPU at high load)
};

// Field limits enforced by the `admit` stage.
struct LimitsConfig {
  size_t max_message_bytes = 16 * 1024;
  size_t max_id_bytes = 128;           // session_id, user_id
  size_t max_locale_bytes = 16;
};

struct PipelineConfig {
  std::vector<std::string> stages = {"admit", "normalize", "call"};
};

// --- normalize (issue 3) ----------------------------------------------------------------------
// The `normalize` stage: NFKC, control/bidi removal, language, PII redaction. The byte limit
// on `message` is limits.max_message_bytes (admit); this caps characters after that.
struct NormalizeConfig {
  size_t max_chars = 8000;                   // code points of `message`
  Oversize on_oversize = Oversize::kReject;  // reject (413) | truncate
};
// --- end normalize ------------------------------------------------------------------------------

// --- intent (issue 9) -----------------------------------------------------------------------
// US-02: the `intent` stage's classifier (src/intent). The model path is relative to data_dir; the
// default model is trained at build time (data/intent/model.bin).
struct IntentConfig {
  std::string model = "intent/model.bin";
  double threshold = 0;       // confidence below which the label is `uncertain`; 0: the model's
  bool session_cache = true;  // follow-ups inherit the session's intent (keyspace intent_sess)
  // Measured CPU per classification (intent_benchmark), for US-02's inference cost in the KPI.
  int64_t cpu_ns_per_classification = 3000;
  absl::Duration drift_window = absl::Hours(1);
  int64_t drift_min_requests = 200;
  std::string drift_reference = "first_window";  // first_window | previous_window
};
// --- end intent ---------------------------------------------------------------------------------

struct ResponderConfig {
  std::string catalog = "catalog/catalog.jsonl";         // relative to data_dir
  std::string templates = "templates/extractive.yaml";   // relative to data_dir
  // The store's promotions (rag/promotions.h), relative to data_dir; "" = none run.
  std::string promotions = "promotions/promotions.yaml";
};

// The `call` stage of the native /v1/chat: which model alias answers each tier, and the budget
// of one call. Tier routing by intent (US-01) later narrows this; the aliases are `models:` keys.
struct CallConfig {
  std::string guest_model = "haiku";
  std::string member_model = "haiku";
  std::string premium_model = "sonnet";
  int max_tokens = 512;
  std::string system_prompt =
      "You are MangaAssist, the assistant of a manga web store. Answer briefly, in the "
      "customer's language (English or Japanese).";
  absl::Duration timeout = absl::Seconds(30);

  // The alias a request is answered with: the client's model when it named one, else its
  // tier's. The `call` stage and the response cache key both follow this one rule.
  std::string_view AliasFor(Tier tier, std::string_view requested_model) const {
    if (!requested_model.empty()) return requested_model;
    switch (tier) {
      case Tier::kPremium: return premium_model;
      case Tier::kMember: return member_model;
      case Tier::kGuest: break;
    }
    return guest_model;
  }
};

// The drop-in endpoints (/v1/chat/completions, /v1/messages).
struct CompatConfig {
  int default_max_tokens = 1024;  // OpenAI requests may omit max_tokens; Anthropic's may not
};

// US-07 telemetry: the durable spool every request's cost event goes to, and the sink the
// shipper writes it to. Paths are relative to data_dir. Off in DefaultConfig() (tests run many
// gateways at once; one spool per directory); config/mangaassist.yaml turns it on.
struct TelemetryConfig {
  bool enabled = false;
  std::string spool_dir = "../var/telemetry/spool";
  std::string fsync = "batch";                        // batch | interval
  absl::Duration fsync_interval = absl::Milliseconds(100);
  size_t quota_bytes = 1ull << 30;
  size_t segment_bytes = 8ull << 20;
  std::string sink = "sqlite";                        // sqlite | redis
  std::string sqlite_path = "../var/telemetry/events.db";
  int retention_days = 30;
  std::string redis_host = "127.0.0.1";
  int redis_port = 6379;
  std::string redis_stream = "ma:cost_events";
  // Key of the HMAC that replaces user and session ids in events (set a secret in production).
  std::string id_hash_key = "mangaassist-development-key-change-me";
  std::string baseline_file = "../config/baseline.yaml";
  size_t ship_batch = 512;
  absl::Duration ship_interval = absl::Milliseconds(200);
  // This pipeline's own cost per event (US-07's actual analytics line; see
  // telemetry::OwnAnalyticsCostPerEvent): process CPU and bytes kept per event, as measured
  // (docs/benchmarks.md).
  // libpq conninfo of the PostgreSQL store (sink: redis) that GET /admin/kpi reads; with the
  // SQLite sink the report reads sqlite_path.
  std::string report_postgres;
  int64_t own_cpu_us_per_event = 40;
  size_t own_stored_bytes_per_event = 1536;
};

// --- cache (issue 8) ---------------------------------------------------------------------------
// US-03 shared cache tier (src/cache). Keyspace names are cache::KeyspaceName()s: llmresp,
// intent_sess, product, reco, promo, emb, rate, cost.
struct CacheKeyspaceConfig {
  std::string url;                   // redis://[:pw@]host[:port][/db]; "" = cache.redis_url
  size_t max_bytes = 64ull << 20;    // in-process budget (the keyspace's tier or its fallback)
  std::string fallback = "memory";   // while its Redis is down: memory | skip
  absl::Duration ttl = absl::Hours(1);  // the keyspace's default TTL
};

// The exact response cache (stages `cache` and `cache_fill`, keyspace llmresp).
struct ResponseCacheConfig {
  absl::Duration default_ttl = absl::Hours(1);
  std::map<std::string, absl::Duration, std::less<>> ttl_by_intent;
  // Answers about the customer's own orders, payments or account are never cached.
  std::vector<std::string> personal_intents = {"order_status", "order_change", "returns_refunds",
                                               "payment",      "account",      "complaint_escalation"};
  // Part of every key: bump it when the prompt templates change.
  std::string prompt_template_version = "1";
  // Provider model id -> version, for providers whose ids are not versioned (e.g. a local
  // "llama3"); Anthropic and Bedrock ids carry their version already.
  std::map<std::string, std::string, std::less<>> model_versions;
  size_t max_answer_bytes = 64ull << 10;  // longer answers are not stored
  // Identical questions arriving while the first is still being answered wait up to this long
  // for its answer instead of calling the model too (0: every miss calls).
  absl::Duration coalesce_wait = absl::Seconds(5);
  // Who may share an answer whose intent is unknown (no intent stage yet, or `uncertain`):
  // "user" (the safe path: only the same user, or session for anonymous guests; nothing is
  // cached for a request with neither) or "tenant" (everyone in the tenant). A known intent
  // that is not personal is always shared within the tenant.
  std::string unknown_intent_scope = "user";
  // RE2 patterns (case-insensitive, matched against the normalized, redacted message) of a
  // message about the customer's own orders, payments, deliveries or account ("my card was
  // declined", "I pre-ordered vol 110", 「予約した…」). Such an answer is shared only with the
  // same user (session for anonymous guests) whatever intent the classifier gave it, so a
  // misclassified personal question never reaches another customer. A message that had PII
  // redacted is treated the same way. Empty list: intent alone decides.
  std::vector<std::string> personal_cues = DefaultPersonalCues();
  static std::vector<std::string> DefaultPersonalCues();
};

struct CacheConfig {
  std::string redis_url;  // default for every keyspace; "" (and no keyspace url): in-process
  int pool_size = 4;      // connections per Redis endpoint
  absl::Duration connect_timeout = absl::Milliseconds(100);
  absl::Duration command_timeout = absl::Milliseconds(50);
  absl::Duration backoff_initial = absl::Milliseconds(100);
  absl::Duration backoff_max = absl::Seconds(5);
  int shards = 16;        // in-process shards per keyspace
  std::map<std::string, CacheKeyspaceConfig, std::less<>> keyspaces;  // absent: defaults
  ResponseCacheConfig response;

  // The keyspace's settings, or the defaults when the file does not name it.
  const CacheKeyspaceConfig& Keyspace(std::string_view name) const;
};

// /admin/* endpoints: hex SHA-256 digests of the accepted admin keys (none: /admin is off, 403).
struct AdminConfig {
  std::vector<std::string> keys_sha256;
};
// --- end cache ---------------------------------------------------------------------------------

// --- control (issue 7) -------------------------------------------------------------------------
// US-08 feature flags (src/control/flags.h): where the kill switches and optimization flags come
// from. `values` are the deployment's defaults for the flags the source does not name (and the
// whole state with source: config); names must be control::FlagRegistry() names.
struct FlagsConfig {
  std::string source = "config";  // config | file | redis
  std::string file;               // source: file — a YAML map of flag name -> bool
  std::string redis_url;          // source: redis — "" = cache.redis_url
  std::string redis_key = "flags";
  absl::Duration poll_interval = absl::Seconds(1);
  std::map<std::string, bool> values;
};

// The hash-chained audit trail (src/control/audit.h) of flag, budget and breaker changes.
struct AuditConfig {
  std::string store = "sqlite";  // sqlite | postgres
  // Relative to data_dir; ":memory:" keeps the trail in the process (tests).
  std::string sqlite_path = "${MANGAASSIST_VAR:-../var}/control/audit.db";
  std::string postgres;  // libpq conninfo (store: postgres)
};
// --- end control -------------------------------------------------------------------------------

struct Config {
  std::string source = "<embedded defaults>";  // file the config came from
  std::string data_dir;                        // default: the compiled-in data directory
  ServerConfig server;
  LogConfig log;
  LimitsConfig limits;
  PipelineConfig pipeline;
  ResponderConfig responder;
  NormalizeConfig normalize;
  IntentConfig intent;
  std::string pricing_file = "../config/pricing.yaml";  // relative to data_dir
  // `providers:` and `models:`; a file that names either replaces the default list (one offline
  // `extractive` provider, aliases auto / haiku / sonnet on it).
  std::vector<ProviderConfig> providers;
  std::vector<ModelAliasConfig> models;
  CallConfig call;
  CompatConfig compat;
  TelemetryConfig telemetry;
  CacheConfig cache;
  AdminConfig admin;
  // US-08 traffic control (core/traffic_config.h).
  AuthConfig auth;
  RateLimitsConfig rate_limits;
  BudgetConfig budget;
  CostBreakerConfig cost_breaker;
  IdempotencyConfig idempotency;
  // US-08 kill switches and the audit trail.
  FlagsConfig flags;
  AuditConfig audit;

  const ProviderConfig* FindProvider(std::string_view name) const;
  const ModelAliasConfig* FindModel(std::string_view alias) const;

  // Resolves a data file path: absolute paths stay, relative ones are under data_dir.
  std::string DataPath(const std::string& relative) const;
};

// The built-in defaults (what `serve` runs with when no file is given).
Config DefaultConfig();

// Loads and validates a YAML file. Errors: NotFound (no file), InvalidArgument (bad YAML,
// unknown key, bad value) with "FILE:LINE: key: problem".
absl::StatusOr<Config> LoadConfigFile(const std::string& path);
absl::StatusOr<Config> LoadConfigString(const std::string& yaml, const std::string& source_name);

// The flag names `flags.values` accepts: kept in step with control::FlagRegistry() (core depends
// on nothing of ours; control's tests check that both lists agree).
const std::vector<std::string>& KnownFlagNames();

// ${VAR} and ${VAR:-default} substitution, as config values get it. InvalidArgument for an
// unset variable without a default or an unterminated ${.
absl::StatusOr<std::string> ExpandEnv(const std::string& text);

// Parses "HOST:PORT" (IPv6 as "[::1]:8080").
absl::Status ParseListen(const std::string& text, std::string* host, uint16_t* port);

// Parses "250ms", "10s", "5m", "1h".
absl::StatusOr<absl::Duration> ParseDurationText(const std::string& text);
// Parses "262144", "256KiB", "1MiB", "64KB".
absl::StatusOr<uint64_t> ParseByteSize(const std::string& text);

}  // namespace mangaassist::core
