#include "intent/drift.h"

#include <algorithm>
#include <cmath>

namespace mangaassist::intent {
namespace {

constexpr double kShareFloor = 1e-4;
constexpr int64_t kGaugeScale = 1'000'000;

}  // namespace

std::optional<double> Psi(const std::vector<int64_t>& reference,
                          const std::vector<int64_t>& actual) {
  int64_t rt = 0, at = 0;
  for (int64_t v : reference) rt += v;
  for (int64_t v : actual) at += v;
  if (rt <= 0 || at <= 0 || reference.size() != actual.size()) return std::nullopt;
  double psi = 0;
  for (size_t i = 0; i < reference.size(); ++i) {
    const double r =
        std::max(kShareFloor, static_cast<double>(reference[i]) / static_cast<double>(rt));
    const double a =
        std::max(kShareFloor, static_cast<double>(actual[i]) / static_cast<double>(at));
    psi += (a - r) * std::log(a / r);
  }
  return psi;
}

DriftMonitor::DriftMonitor(std::vector<std::string> labels, const DriftOptions& options,
                           core::Registry* metrics)
    : labels_(std::move(labels)), options_(options), metrics_(metrics) {
  current_.intents.assign(labels_.size(), 0);
  current_.langs.assign(core::kLangCount, 0);
}

void DriftMonitor::Observe(size_t label, core::Lang lang, absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (window_start_ == absl::InfinitePast()) {
    window_start_ =
        absl::FromUnixNanos(absl::ToUnixNanos(now) / absl::ToInt64Nanoseconds(options_.window) *
                            absl::ToInt64Nanoseconds(options_.window));
  }
  if (now >= window_start_ + options_.window) {
    CloseWindow();
    const int64_t w = absl::ToInt64Nanoseconds(options_.window);
    window_start_ = absl::FromUnixNanos(absl::ToUnixNanos(now) / w * w);
  }
  if (label < current_.intents.size()) ++current_.intents[label];
  ++current_.langs[static_cast<size_t>(lang)];
  ++current_.total;
}

void DriftMonitor::CloseWindow() {
  Window done = std::move(current_);
  current_ = Window{};
  current_.intents.assign(labels_.size(), 0);
  current_.langs.assign(core::kLangCount, 0);
  if (done.total < options_.min_requests) return;  // too little traffic to judge
  if (!reference_.has_value()) {
    reference_ = std::move(done);
    last_.has_reference = true;
    return;
  }
  last_.intent_psi = Psi(reference_->intents, done.intents);
  last_.lang_psi = Psi(reference_->langs, done.langs);
  ++last_.windows_judged;
  if (metrics_ != nullptr && intent_psi_ == nullptr) {
    const char* help =
        "Population Stability Index of the last judged window against the reference window "
        "(alert above 0.2)";
    intent_psi_ = &metrics_->GetGauge("mangaassist_intent_drift_psi", help,
                                      {{"dimension", "intent"}}, kGaugeScale);
    lang_psi_ = &metrics_->GetGauge("mangaassist_intent_drift_psi", help, {{"dimension", "lang"}},
                                    kGaugeScale);
    const char* alert_help = "1 when the drift PSI is above 0.2";
    intent_alert_ = &metrics_->GetGauge("mangaassist_intent_drift_alert", alert_help,
                                        {{"dimension", "intent"}});
    lang_alert_ =
        &metrics_->GetGauge("mangaassist_intent_drift_alert", alert_help, {{"dimension", "lang"}});
  }
  auto set = [](core::Gauge* g, core::Gauge* alert, std::optional<double> v) {
    if (g == nullptr || !v.has_value()) return;
    g->Set(static_cast<int64_t>(std::llround(*v * kGaugeScale)));
    alert->Set(*v > kDriftAlertPsi ? 1 : 0);
  };
  set(intent_psi_, intent_alert_, last_.intent_psi);
  set(lang_psi_, lang_alert_, last_.lang_psi);
  if (options_.reference == DriftReference::kPreviousWindow) reference_ = std::move(done);
}

DriftSnapshot DriftMonitor::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return last_;
}

}  // namespace mangaassist::intent
