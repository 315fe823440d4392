// Drift of the intent classifier's traffic (US-02): the intent distribution and the language mix
// of each time window compared with a reference window by the Population Stability Index,
//   PSI = Σ_i (a_i − r_i) · ln(a_i / r_i)   over the shares a (window) and r (reference),
// shares floored at 1e-4 so an empty bucket does not make it infinite. Alert threshold: PSI > 0.2
// (the usual reading: < 0.1 stable, 0.1–0.2 moderate shift, > 0.2 significant shift: look at
// the traffic and re-measure the classifier). Exported in /metrics as
// mangaassist_intent_drift_psi{dimension="intent"|"lang"} and
// mangaassist_intent_drift_alert{dimension} (1 when PSI > 0.2), from the first judged window on;
// docs/operations.md.
// DriftMonitor is thread-safe (one mutex, held for a few increments per request).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/language.h"
#include "core/metrics.h"

namespace mangaassist::intent {

inline constexpr double kDriftAlertPsi = 0.2;

// PSI of `actual` against `reference` (counts per bucket, same length). nullopt when either
// side is empty.
std::optional<double> Psi(const std::vector<int64_t>& reference,
                          const std::vector<int64_t>& actual);

enum class DriftReference {
  kFirstWindow,     // the first window with enough traffic, pinned (slow drift shows)
  kPreviousWindow,  // the window before (sudden shifts show)
};

struct DriftOptions {
  absl::Duration window = absl::Hours(1);
  int64_t min_requests = 200;  // a window with fewer requests is not judged (nor a reference)
  DriftReference reference = DriftReference::kFirstWindow;
};

struct DriftSnapshot {
  std::optional<double> intent_psi, lang_psi;  // the last judged window against the reference
  int64_t windows_judged = 0;
  bool has_reference = false;
};

class DriftMonitor {
 public:
  // `labels`: every label Observe() may see (the model's, plus "uncertain"). `metrics` may be
  // null (no export).
  DriftMonitor(std::vector<std::string> labels, const DriftOptions& options,
               core::Registry* metrics);

  // Counts one classified request at `now`; closes the current window first when `now` is past
  // its end. REQUIRES: 0 ≤ label < labels.size().
  void Observe(size_t label, core::Lang lang, absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);
  DriftSnapshot Snapshot() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Window {
    std::vector<int64_t> intents;
    std::vector<int64_t> langs;
    int64_t total = 0;
  };
  void CloseWindow() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::vector<std::string> labels_;
  const DriftOptions options_;
  core::Registry* const metrics_;
  mutable absl::Mutex mu_;
  // Created when the first window is judged, so /metrics never shows a PSI of 0 that was not
  // measured. PSI gauges hold value × 1e6.
  core::Gauge* intent_psi_ ABSL_GUARDED_BY(mu_) = nullptr;
  core::Gauge* lang_psi_ ABSL_GUARDED_BY(mu_) = nullptr;
  core::Gauge* intent_alert_ ABSL_GUARDED_BY(mu_) = nullptr;
  core::Gauge* lang_alert_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::Time window_start_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  Window current_ ABSL_GUARDED_BY(mu_);
  std::optional<Window> reference_ ABSL_GUARDED_BY(mu_);
  DriftSnapshot last_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mangaassist::intent
