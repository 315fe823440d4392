#include "cache/cache.h"

#include "absl/strings/str_cat.h"
#include "core/strings.h"

namespace mangaassist::cache {

absl::StatusOr<std::string> SingleFlight::Do(std::string_view key,
                                             absl::FunctionRef<absl::StatusOr<std::string>()> fn) {
  std::shared_ptr<Call> call;
  bool leader = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = calls_.find(core::ToAbsl(key));
    if (it == calls_.end()) {
      call = std::make_shared<Call>();
      calls_.emplace(std::string(key), call);
      leader = true;
    } else {
      call = it->second;
    }
  }
  if (!leader) {
    call->done.WaitForNotification();
    return call->result;
  }
  call->result = fn();
  {
    absl::MutexLock lock(&mu_);
    calls_.erase(core::ToAbsl(key));
  }
  call->done.Notify();
  return call->result;
}

size_t SingleFlight::InFlight() const {
  absl::MutexLock lock(&mu_);
  return calls_.size();
}

absl::Status CheckTtl(absl::Duration ttl) {
  if (ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cache TTL must be positive, got ", absl::FormatDuration(ttl)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Cache::GetOrCompute(
    Keyspace ks, std::string_view key, absl::Duration ttl,
    absl::FunctionRef<absl::StatusOr<std::string>()> compute) {
  if (absl::Status s = CheckTtl(ttl); !s.ok()) return s;
  return GetOrComputeWithTtl(ks, key, [&]() -> absl::StatusOr<Computed> {
    absl::StatusOr<std::string> computed = compute();
    if (!computed.ok()) return computed.status();
    return Computed{*std::move(computed), ttl};
  });
}

absl::StatusOr<std::string> Cache::GetOrComputeWithTtl(
    Keyspace ks, std::string_view key, absl::FunctionRef<absl::StatusOr<Computed>()> compute) {
  absl::StatusOr<std::string> cached = Get(ks, key);
  if (cached.ok()) return cached;
  const std::string flight_key = absl::StrCat(core::ToAbsl(KeyspacePrefix(ks)), core::ToAbsl(key));
  return flight_.Do(flight_key, [&]() -> absl::StatusOr<std::string> {
    // A leader that arrives just after another flight finished finds its value here, so a
    // burst of misses computes once even when it straddles two flights.
    absl::StatusOr<std::string> again = Recheck(ks, key);
    if (again.ok()) return again;
    absl::StatusOr<Computed> computed = compute();
    if (!computed.ok()) return computed.status();
    if (computed->ttl > absl::ZeroDuration()) (void)Set(ks, key, computed->value, computed->ttl);
    return std::move(computed->value);
  });
}

absl::StatusOr<std::string> ForwardingCache::Get(Keyspace ks, std::string_view key) {
  return inner_->Get(ks, key);
}
absl::Status ForwardingCache::Set(Keyspace ks, std::string_view key, std::string_view value,
                                  absl::Duration ttl) {
  return inner_->Set(ks, key, value, ttl);
}
absl::StatusOr<bool> ForwardingCache::Add(Keyspace ks, std::string_view key,
                                          std::string_view value, absl::Duration ttl) {
  return inner_->Add(ks, key, value, ttl);
}
absl::Status ForwardingCache::Delete(Keyspace ks, std::string_view key) {
  return inner_->Delete(ks, key);
}
std::vector<absl::StatusOr<std::string>> ForwardingCache::GetMany(
    Keyspace ks, const std::vector<std::string>& keys) {
  return inner_->GetMany(ks, keys);
}
absl::StatusOr<int64_t> ForwardingCache::DeletePrefix(Keyspace ks, std::string_view prefix) {
  return inner_->DeletePrefix(ks, prefix);
}
std::vector<KeyspaceHealth> ForwardingCache::Health() const { return inner_->Health(); }
absl::StatusOr<std::string> ForwardingCache::Recheck(Keyspace ks, std::string_view key) {
  return inner_->Get(ks, key);
}

}  // namespace mangaassist::cache
