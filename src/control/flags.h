// FlagEvaluator: the one place US-08's kill switches and the stories' optimization flags are
// resolved (the seed's "Kill-Switch Precedence (single source of truth)"). Stages take a
// FlagSnapshot from the evaluator once per request and never read a flag source themselves.
//
// Precedence, highest first:
//   1. degradation_active=true — forces the degradation ladder to at least level 2, whatever the
//      other flags say, and keeps the techniques that ladder relies on (FlagInfo::degraded_on:
//      template routing, tier routing, RAG bypass, rate limits, budget) on even where their
//      story or technique flag is off: the cost-side safety net always wins.
//   2. cost_circuit_breaker_enabled=false — the breaker computes level 0 (1 still applies);
//      nothing else changes.
//   3. usNN_optimization_enabled=false — that story reverts to its pre-optimization baseline:
//      every technique of the story is off.
//   4. usNN.<technique>=false — that one technique is off.
//
// Sources (core::FlagsConfig): `config` (flags.values, changed in memory by Set()), `file` (a
// YAML map polled every poll_interval by mtime + size + content hash, written by Set() with an
// atomic rename) or `redis` (a hash polled every poll_interval, written by Set() with HSET).
// When a file or Redis source is unreachable or invalid, the seed's safe defaults apply
// (degradation_active false, every usNN_optimization_enabled false, the breaker on, techniques
// at their defaults) with source_ok=false, until the source is back. Unknown flag names are
// rejected everywhere: by Set(), in files, in Redis and in the config.
//
// Thread-safe. Current() is a mutex-guarded copy of a shared_ptr; snapshots are immutable.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "control/audit.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/metrics.h"

namespace mangaassist::control {

enum class Story { kUS01 = 0, kUS02, kUS03, kUS04, kUS05, kUS06, kUS07, kUS08, kCount };
inline constexpr size_t kStoryCount = static_cast<size_t>(Story::kCount);

// "us01" ... "us08".
std::string_view StoryPrefix(Story s);

enum class FlagKind { kDegradation, kBreaker, kStory, kTechnique };

// One entry of the fixed registry.
struct FlagInfo {
  // "degradation_active", "us03_optimization_enabled", "us03.response_cache_enabled"
  std::string_view name;
  FlagKind kind;
  Story story;         // kStory and kTechnique; kUS08 for the two kill switches
  bool default_value;  // what a source that does not name the flag means
  bool degraded_on;    // a technique degradation_active keeps on (precedence 1)
  std::string_view description;
};

// Every known flag, kill switches first, then stories, then techniques.
const std::vector<FlagInfo>& FlagRegistry();
const FlagInfo* FindFlag(std::string_view name);

// A resolved, immutable view of every flag at one moment. Stages get it from the evaluator once
// per request and never read a source.
struct FlagSnapshot {
  bool degradation_active = false;  // forces the degradation ladder to at least level 2
  // false: the breaker computes level 0 (degradation_active still forces level 2)
  bool cost_circuit_breaker_enabled = true;
  std::array<bool, kStoryCount> story_enabled{};      // usNN_optimization_enabled
  absl::flat_hash_map<std::string, bool> techniques;  // "us03.response_cache_enabled" -> value
  bool source_ok = true;     // false: the source was unreachable and the seed's safe defaults apply
  std::string source_error;  // why, when !source_ok
  uint64_t version = 0;      // increments on every change seen

  // The story's own flag (precedence 3). Not raised by degradation_active: a degraded story
  // keeps only its degraded_on techniques.
  bool StoryEnabled(Story s) const;
  // Precedence applied. `technique` is the name after the story prefix
  // ("response_cache_enabled") or the full name ("us03.response_cache_enabled"); an unknown
  // technique is off (never run an unverified path).
  bool TechniqueEnabled(Story s, std::string_view technique) const;
  int ForcedDegradationLevel() const;  // 2 when degradation_active, else 0
  bool BreakerEnabled() const;
  // The level the request runs at, given what the breaker computed: the breaker's level only
  // while it is enabled, and never below ForcedDegradationLevel().
  int EffectiveDegradationLevel(int breaker_level) const;

  // The flag's own value (no precedence) and its value after precedence; nullopt for an
  // unknown name.
  std::optional<bool> Value(std::string_view name) const;
  std::optional<bool> Resolved(std::string_view name) const;
};

// The registry defaults (everything enabled, degradation_active false) with `values` applied.
// REQUIRES: every name in `values` is in the registry.
FlagSnapshot SnapshotFromValues(const std::map<std::string, bool>& values);
// The seed's "SSM unreachable" defaults, source_ok=false.
FlagSnapshot SafeDefaultsSnapshot(std::string error);

class FlagEvaluator {  // thread-safe
 public:
  virtual ~FlagEvaluator() = default;

  // Cheap (a mutex and a shared_ptr copy); called on every request.
  virtual std::shared_ptr<const FlagSnapshot> Current() const = 0;
  // Validates the name, writes the source, then appends one audit entry ("flag.set", before and
  // after) per flag. InvalidArgument for an unknown name; Unavailable when the source cannot
  // be written (nothing changed); Internal when the change was made but its audit entry failed
  // (the message says so). source: config changes this process's values only.
  virtual absl::Status Set(std::string_view name, bool value, const AuditContext& who) = 0;
  // Several flags in one write (all names validated first; nothing is written if one is bad).
  virtual absl::Status SetMany(const std::vector<std::pair<std::string, bool>>& values,
                               const AuditContext& who) = 0;
  // Reads the source now instead of waiting for the next poll; returns the source's status.
  virtual absl::Status Refresh() = 0;
  virtual std::string_view source() const = 0;  // "config" | "file" | "redis"
};

// Reads the source once (so the first snapshot reflects it, or the safe defaults), then polls
// it every poll_interval on a background thread (file and redis). `audit` (may be null: changes
// are not audited, for tests) and `metrics` (may be null) must outlive the evaluator; null
// `clock` is the system clock. InvalidArgument for a bad config (unknown names, no file, bad
// Redis URL); an unreachable source is not an error.
absl::StatusOr<std::unique_ptr<FlagEvaluator>> MakeFlagEvaluator(const core::FlagsConfig& config,
                                                                 AuditLog* audit,
                                                                 const core::Clock* clock,
                                                                 core::Registry* metrics = nullptr);

}  // namespace mangaassist::control
