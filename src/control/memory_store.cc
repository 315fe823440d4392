// The in-process ControlStore: one replica's limits and caps under one mutex (a decision is a
// few hash lookups; control_benchmark measures it).
#include <algorithm>
#include <deque>
#include <map>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "control/store.h"

namespace mangaassist::control {
namespace {

constexpr int64_t kNanosPerMinute = 60'000'000'000;
// How long a settled hold id is remembered (a retried settle inside this is a no-op).
constexpr int64_t kSettledMemoryNs = 3'600'000'000'000;

class MemoryStore final : public ControlStore {
 public:
  absl::StatusOr<AcquireResult> Acquire(const AcquireRequest& req) override {
    absl::MutexLock lock(&mu_);
    ExpireHolds(req.now_ns);
    AcquireResult r;
    std::vector<GcraResult> decided(req.limits.size());
    for (size_t i = 0; i < req.limits.size(); ++i) {
      const LimitCheck& l = req.limits[i];
      auto it = tat_.find(l.key);
      decided[i] = GcraDecide(l.limit, it == tat_.end() ? 0 : it->second, req.now_ns, l.cost);
      if (!decided[i].allowed && r.outcome == AcquireOutcome::kOk) {
        r.outcome = AcquireOutcome::kRateLimited;
        r.denied = static_cast<int>(i);
        r.retry_after_ns = decided[i].retry_after_ns;
      }
      if (r.tightest < 0 || decided[i].remaining < r.remaining) {
        r.tightest = static_cast<int>(i);
        r.remaining = decided[i].remaining;
        r.reset_after_ns = decided[i].reset_after_ns;
      }
    }
    r.caps.resize(req.caps.size());
    for (size_t i = 0; i < req.caps.size(); ++i) {
      const CapState& s = caps_[req.caps[i].key];
      r.caps[i] = s;
      if (r.outcome == AcquireOutcome::kOk && req.amount > core::Money::Zero() &&
          s.spent + s.held + req.amount > req.caps[i].cap) {
        r.outcome = AcquireOutcome::kOverBudget;
        r.denied = static_cast<int>(i);
      }
    }
    if (r.outcome == AcquireOutcome::kOk) {
      for (size_t i = 0; i < req.limits.size(); ++i) tat_[req.limits[i].key] = decided[i].tat_ns;
      // A TAT in the past is a full bucket, the same as no entry: drop them now and then so
      // one-off users and IPs do not accumulate.
      if (++acquires_ % 65536 == 0) absl::erase_if(tat_, [&](const auto& kv) {
        return kv.second <= req.now_ns;
      });
      if (req.amount > core::Money::Zero() && !req.caps.empty()) {
        Hold& h = holds_[req.hold_id];
        h.amount += req.amount;
        for (size_t i = 0; i < req.caps.size(); ++i) {
          caps_[req.caps[i].key].held += req.amount;
          r.caps[i].held += req.amount;
          h.keys.push_back(req.caps[i].key);
        }
        h.expires_ns = req.now_ns + req.hold_ttl_ns;
        expiry_.push_back({h.expires_ns, req.hold_id});
      }
    }
    if (!req.caps.empty()) r.velocity = Velocity(req.caps[0].key, req.now_ns, req.velocity_minutes);
    return r;
  }

  absl::Status Settle(const SettleRequest& req) override {
    absl::MutexLock lock(&mu_);
    if (settled_.contains(req.hold_id)) return absl::OkStatus();
    settled_[req.hold_id] = req.now_ns + kSettledMemoryNs;
    settled_order_.push_back({req.now_ns + kSettledMemoryNs, req.hold_id});
    while (!settled_order_.empty() && settled_order_.front().first <= req.now_ns) {
      settled_.erase(settled_order_.front().second);
      settled_order_.pop_front();
    }
    if (auto it = holds_.find(req.hold_id); it != holds_.end()) {
      for (const std::string& key : it->second.keys) caps_[key].held -= it->second.amount;
      holds_.erase(it);
    }
    for (size_t i = 0; i < req.caps.size(); ++i) {
      caps_[req.caps[i].key].spent += req.actual;
      if (i == 0 && req.actual != core::Money::Zero()) {
        velocity_[req.caps[0].key][req.now_ns / kNanosPerMinute] += req.actual;
      }
    }
    for (const LimitCheck& l : req.adjust) {
      if (l.cost == 0) continue;
      auto it = tat_.find(l.key);
      if (it == tat_.end()) continue;
      it->second = GcraAdjust(l.limit, it->second, req.now_ns, l.cost);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<AcquireResult> Read(const std::vector<CapCheck>& caps, int64_t now_ns,
                                     int velocity_minutes) override {
    absl::MutexLock lock(&mu_);
    ExpireHolds(now_ns);
    AcquireResult r;
    for (const CapCheck& c : caps) {
      auto it = caps_.find(c.key);
      r.caps.push_back(it == caps_.end() ? CapState{} : it->second);
    }
    if (!caps.empty()) r.velocity = Velocity(caps[0].key, now_ns, velocity_minutes);
    return r;
  }

  absl::Status Preload(const std::vector<std::string>& keys,
                       const std::vector<core::Money>& spent) override {
    absl::MutexLock lock(&mu_);
    for (size_t i = 0; i < keys.size() && i < spent.size(); ++i) {
      CapState& c = caps_[keys[i]];
      c.spent = std::max(c.spent, spent[i]);
    }
    return absl::OkStatus();
  }

  std::string_view backend() const override { return "memory"; }

 private:
  struct Hold {
    core::Money amount;
    std::vector<std::string> keys;
    int64_t expires_ns = 0;
  };

  void ExpireHolds(int64_t now_ns) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    while (!expiry_.empty() && expiry_.front().first <= now_ns) {
      auto it = holds_.find(expiry_.front().second);
      if (it != holds_.end() && it->second.expires_ns <= now_ns) {
        for (const std::string& key : it->second.keys) caps_[key].held -= it->second.amount;
        holds_.erase(it);
      }
      expiry_.pop_front();
    }
  }

  core::Money Velocity(const std::string& key, int64_t now_ns, int minutes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    core::Money sum;
    if (minutes <= 0) return sum;
    auto vit = velocity_.find(key);
    if (vit == velocity_.end()) return sum;
    std::map<int64_t, core::Money>& buckets = vit->second;
    const int64_t now_min = now_ns / kNanosPerMinute;
    // Keep six hours of minutes at most.
    buckets.erase(buckets.begin(), buckets.lower_bound(now_min - 360));
    for (auto it = buckets.lower_bound(now_min - minutes + 1); it != buckets.end(); ++it) {
      if (it->first <= now_min) sum += it->second;
    }
    return sum;
  }

  absl::Mutex mu_;
  uint64_t acquires_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, int64_t> tat_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, CapState> caps_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Hold> holds_ ABSL_GUARDED_BY(mu_);
  std::deque<std::pair<int64_t, std::string>> expiry_ ABSL_GUARDED_BY(mu_);  // hold_ttl is fixed
  absl::flat_hash_map<std::string, int64_t> settled_ ABSL_GUARDED_BY(mu_);
  std::deque<std::pair<int64_t, std::string>> settled_order_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::map<int64_t, core::Money>> velocity_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<ControlStore> NewMemoryStore() { return std::make_unique<MemoryStore>(); }

}  // namespace mangaassist::control
