#include "core/metrics.h"

#include <algorithm>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace mangaassist::core {

Histogram::Histogram(std::vector<int64_t> bounds, int64_t scale)
    : bounds_(std::move(bounds)),
      scale_(scale),
      buckets_(new std::atomic<int64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(int64_t v) {
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

std::vector<int64_t> LatencyBucketsMicros() {
  return {50,     100,     250,     500,     1'000,     2'500,     5'000,     10'000,
          25'000, 50'000,  100'000, 250'000, 500'000,   1'000'000, 2'500'000, 5'000'000,
          10'000'000, 30'000'000};
}

std::string EscapeLabelValue(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

namespace {

std::string LabelsText(const Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ',';
    absl::StrAppend(&out, labels[i].first, "=\"", EscapeLabelValue(labels[i].second), "\"");
  }
  out += '}';
  return out;
}

// Renders value/scale without floating point drift for integral results.
std::string Scaled(int64_t v, int64_t scale) {
  if (scale == 1) return absl::StrCat(v);
  int64_t whole = v / scale, rem = std::llabs(v % scale);
  if (rem == 0) return absl::StrCat(whole);
  int digits = 0;
  for (int64_t s = scale; s > 1; s /= 10) ++digits;
  std::string frac = absl::StrFormat("%0*d", digits, rem);
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  return absl::StrCat(v < 0 && whole == 0 ? "-" : "", whole, ".", frac);
}

// Adds le="..." to an existing label set text.
std::string WithLe(const std::string& labels_text, const std::string& le) {
  if (labels_text.empty()) return absl::StrCat("{le=\"", le, "\"}");
  return absl::StrCat(labels_text.substr(0, labels_text.size() - 1), ",le=\"", le, "\"}");
}

}  // namespace

Registry::Series& Registry::GetSeries(const std::string& name, const std::string& help, Kind kind,
                                      const Labels& labels) {
  auto [it, inserted] = families_.try_emplace(name);
  Family& fam = it->second;
  if (inserted) {
    fam.help = help;
    fam.kind = kind;
    order_.push_back(name);
  }
  std::string key = LabelsText(labels);
  if (auto s = fam.by_labels.find(key); s != fam.by_labels.end()) return *s->second;
  auto series = std::make_unique<Series>();
  series->labels_text = key;
  Series* raw = series.get();
  fam.series.push_back(std::move(series));
  fam.by_labels.emplace(key, raw);
  return *raw;
}

Counter& Registry::GetCounter(const std::string& name, const std::string& help,
                              const Labels& labels) {
  absl::MutexLock lock(&mu_);
  Series& s = GetSeries(name, help, Kind::kCounter, labels);
  if (!s.counter) s.counter = std::make_unique<Counter>();
  return *s.counter;
}

Gauge& Registry::GetGauge(const std::string& name, const std::string& help, const Labels& labels,
                          int64_t scale) {
  absl::MutexLock lock(&mu_);
  Series& s = GetSeries(name, help, Kind::kGauge, labels);
  if (!s.gauge) {
    s.gauge = std::make_unique<Gauge>();
    s.gauge_scale = scale > 1 ? scale : 1;
  }
  return *s.gauge;
}

Histogram& Registry::GetHistogram(const std::string& name, const std::string& help,
                                  const Labels& labels, const std::vector<int64_t>& bounds,
                                  int64_t scale) {
  absl::MutexLock lock(&mu_);
  Series& s = GetSeries(name, help, Kind::kHistogram, labels);
  if (!s.histogram) s.histogram = std::make_unique<Histogram>(bounds, scale);
  return *s.histogram;
}

std::string Registry::RenderText() const {
  absl::MutexLock lock(&mu_);
  std::string out;
  out.reserve(4096);
  for (const std::string& name : order_) {
    const Family& fam = families_.at(name);
    const char* type = fam.kind == Kind::kCounter ? "counter"
                       : fam.kind == Kind::kGauge ? "gauge"
                                                  : "histogram";
    absl::StrAppend(&out, "# HELP ", name, " ", fam.help, "\n# TYPE ", name, " ", type, "\n");
    for (const auto& s : fam.series) {
      switch (fam.kind) {
        case Kind::kCounter:
          absl::StrAppend(&out, name, s->labels_text, " ", s->counter->Value(), "\n");
          break;
        case Kind::kGauge:
          if (s->gauge_scale > 1) {
            absl::StrAppend(&out, name, s->labels_text, " ",
                            static_cast<double>(s->gauge->Value()) /
                                static_cast<double>(s->gauge_scale),
                            "\n");
          } else {
            absl::StrAppend(&out, name, s->labels_text, " ", s->gauge->Value(), "\n");
          }
          break;
        case Kind::kHistogram: {
          const Histogram& h = *s->histogram;
          int64_t cumulative = 0;
          for (size_t i = 0; i < h.bounds().size(); ++i) {
            cumulative += h.BucketCount(i);
            absl::StrAppend(&out, name, "_bucket",
                            WithLe(s->labels_text, Scaled(h.bounds()[i], h.scale())), " ",
                            cumulative, "\n");
          }
          cumulative += h.BucketCount(h.bounds().size());
          absl::StrAppend(&out, name, "_bucket", WithLe(s->labels_text, "+Inf"), " ", cumulative,
                          "\n", name, "_sum", s->labels_text, " ", Scaled(h.Sum(), h.scale()),
                          "\n", name, "_count", s->labels_text, " ", cumulative, "\n");
          break;
        }
      }
    }
  }
  return out;
}

}  // namespace mangaassist::core
