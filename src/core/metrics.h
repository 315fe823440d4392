// A small Prometheus metrics registry: counters, gauges and histograms with labels, rendered in
// the text exposition format (version 0.0.4). Components declare their metrics together in one
// struct built from a Registry. Metric objects are thread-safe (relaxed atomics); the registry
// hands out stable references that live as long as the registry.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace mangaassist::core {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Inc(int64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  int64_t Value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

class Gauge {
 public:
  void Set(int64_t v) { v_.store(v, std::memory_order_relaxed); }
  void Add(int64_t n) { v_.fetch_add(n, std::memory_order_relaxed); }
  int64_t Value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

// Histogram over integer observations (e.g. microseconds); buckets are upper bounds. The
// rendered `le` labels and sum are divided by `scale` (1e6 turns µs into seconds).
class Histogram {
 public:
  Histogram(std::vector<int64_t> bounds, int64_t scale);
  void Observe(int64_t v);
  int64_t Count() const { return count_.load(std::memory_order_relaxed); }
  int64_t Sum() const { return sum_.load(std::memory_order_relaxed); }
  const std::vector<int64_t>& bounds() const { return bounds_; }
  int64_t BucketCount(size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
  int64_t scale() const { return scale_; }

 private:
  std::vector<int64_t> bounds_;
  int64_t scale_;
  std::unique_ptr<std::atomic<int64_t>[]> buckets_;  // one per bound, plus +Inf
  std::atomic<int64_t> count_{0};
  std::atomic<int64_t> sum_{0};
};

// Latency buckets in microseconds: 50µs .. 30s.
std::vector<int64_t> LatencyBucketsMicros();

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Returns the series for (name, labels), creating it on first use. `help` is taken from the
  // first call for a name. Names and label names must be valid Prometheus identifiers.
  Counter& GetCounter(const std::string& name, const std::string& help, const Labels& labels = {});
  // `scale` > 1: the gauge holds value × scale and is rendered as value (a ratio such as a PSI
  // or a precision, kept in an integer); the first call for a series fixes it.
  Gauge& GetGauge(const std::string& name, const std::string& help, const Labels& labels = {},
                  int64_t scale = 1);
  Histogram& GetHistogram(const std::string& name, const std::string& help, const Labels& labels,
                          const std::vector<int64_t>& bounds, int64_t scale);

  // The whole registry in Prometheus text format.
  std::string RenderText() const;

 private:
  enum class Kind { kCounter, kGauge, kHistogram };
  struct Series {
    std::string labels_text;  // `{a="b",c="d"}` or empty
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    int64_t gauge_scale = 1;
    std::unique_ptr<Histogram> histogram;
  };
  struct Family {
    std::string help;
    Kind kind;
    std::vector<std::unique_ptr<Series>> series;  // in creation order
    absl::flat_hash_map<std::string, Series*> by_labels;
  };
  Series& GetSeries(const std::string& name, const std::string& help, Kind kind,
                    const Labels& labels) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::vector<std::string> order_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Family> families_ ABSL_GUARDED_BY(mu_);
};

// Escapes a label value per the exposition format (\\, \", \n).
std::string EscapeLabelValue(const std::string& v);

}  // namespace mangaassist::core
