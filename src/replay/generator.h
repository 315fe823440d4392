// TraceGenerator: a synthetic but realistic manga-store chat trace (SPEC §6), deterministic by
// seed: the same seed, message count, days, profile and catalog give byte-identical output on
// every platform (rng.h). Sessions of 1–8 turns from a user pool with stable tiers; a Zipf
// popularity over the catalog; an intent, language and tier mix; a diurnal curve in Asia/Tokyo
// with a new-volume release spike; paraphrase families sharing a canonical_id and near-miss
// pairs that do not; typos; per-intent answer lengths; ground-truth intent and lang. Every
// distribution and its default is documented in docs/replay.md. Records come out in timestamp
// order; memory is bounded by the sessions open at once, not by the trace length.
// A generator is single-use and not thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rag/catalog.h"
#include "replay/trace.h"

namespace mangaassist::replay {

// A burst of traffic when a popular series' new volume goes on sale.
struct ReleaseSpike {
  bool enabled = true;
  int day = 1;                     // day index of the window (clamped to the last day)
  int hour_jst = 10;               // start, Asia/Tokyo
  int title_rank = 1;              // the series, by catalog popularity rank
  int multiplier_permille = 6000;  // traffic at the start of the spike (6x), decaying linearly
  int duration_minutes = 180;
};

struct GeneratorProfile {
  // First day of the window, "YYYY-MM-DD" in Asia/Tokyo (UTC+9, no DST since 1951).
  std::string start_date = "2026-11-01";
  std::vector<std::pair<std::string, uint64_t>> intent_mix;          // intent → weight
  std::vector<std::pair<std::string, uint64_t>> release_intent_mix;  // in release sessions
  std::array<uint64_t, 3> lang_mix{};                                // en, ja, mixed
  std::array<uint64_t, 3> tier_mix{};      // guest, member, premium (per user)
  std::array<uint64_t, 8> turns{};         // sessions of 1..8 turns
  double zipf_exponent = 1.0;              // over the catalog ordered by popularity rank
  int typo_permille = 60;                  // of English and mixed messages
  int near_miss_permille = 200;            // a volume question followed by its neighbour volume
  int users_permille = 400;                // user pool = this share of the expected sessions
  std::array<uint64_t, 24> diurnal_jst{};  // weight of each hour of the day, Asia/Tokyo
  std::array<uint64_t, 7> weekday{};       // Monday..Sunday
  std::array<int64_t, 6> think_ms{};       // gap between turns: quantiles p0..p100, ms
  ReleaseSpike release;
};

// The documented defaults (docs/replay.md).
GeneratorProfile DefaultGeneratorProfile();
// A YAML profile: any subset of the keys of config/trace-profile.yaml over the defaults.
// Unknown keys, unknown intents, negative or all-zero weights fail with "file: key: problem".
absl::StatusOr<GeneratorProfile> LoadGeneratorProfile(const std::string& path);

struct GeneratorOptions {
  uint64_t seed = 1;
  int64_t messages = 10'000;
  int days = 7;
  GeneratorProfile profile = DefaultGeneratorProfile();
  const rag::Catalog* catalog = nullptr;  // REQUIRES: non-null, outlives the generator
};

class TraceGenerator {
 public:
  // InvalidArgument for messages < 1, days < 1 or > 3660, a bad profile or an empty catalog.
  static absl::StatusOr<std::unique_ptr<TraceGenerator>> Create(GeneratorOptions options);
  ~TraceGenerator();

  // Emits exactly options.messages records in timestamp order (ties: generation order).
  void Generate(const std::function<void(const TraceRecord&)>& emit);

 private:
  struct Impl;
  explicit TraceGenerator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The language of `text` by the rule of shared/data/intent/LABELS.md: `en` without kana or
// kanji; `mixed` with kana/kanji and a Latin word of two or more letters (tokens containing a
// digit, like order numbers and coupon codes, and single letters do not count); else `ja`.
core::Lang LabelLanguage(std::string_view text);

}  // namespace mangaassist::replay
