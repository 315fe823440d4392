#include "cache/redis_pool.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"

namespace mangaassist::cache {

timeval TimevalOf(absl::Duration d) {
  const int64_t us = std::max<int64_t>(1000, absl::ToInt64Microseconds(d));
  return timeval{static_cast<time_t>(us / 1'000'000), static_cast<suseconds_t>(us % 1'000'000)};
}

Reply Command(redisContext* c, const std::vector<std::string_view>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (std::string_view a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return Reply(static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data())));
}

absl::Status ReplyError(const redisReply* r, std::string_view what) {
  return absl::InternalError(
      absl::StrCat("redis ", core::ToAbsl(what), ": ", absl::string_view(r->str, r->len)));
}


std::string RedisEndpoint::Display() const {
  return absl::StrCat("redis://", host, ":", port, "/", db);
}

absl::StatusOr<RedisEndpoint> ParseRedisUrl(std::string_view url, int default_db) {
  constexpr std::string_view kScheme = "redis://";
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", core::ToAbsl(url), "' is not a Redis URL (", core::ToAbsl(why),
                     "; expected redis://[:password@]host[:port][/db])"));
  };
  if (url.substr(0, kScheme.size()) != kScheme) return bad("no redis:// scheme");
  std::string_view rest = url.substr(kScheme.size());
  RedisEndpoint ep;
  ep.db = default_db;
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view auth = rest.substr(0, at);
    rest = rest.substr(at + 1);
    // ":password" or "user:password" (ACL users are not supported: the user part must be empty).
    size_t colon = auth.find(':');
    if (colon == std::string_view::npos || colon != 0) return bad("credentials must be :password");
    ep.password = std::string(auth.substr(1));
  }
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    std::string_view db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!db.empty() && (!absl::SimpleAtoi(core::ToAbsl(db), &ep.db) || ep.db < 0 || ep.db > 15)) {
      return bad("the db must be 0..15");
    }
  }
  std::string_view host = rest;
  if (size_t colon = rest.rfind(':');
      colon != std::string_view::npos && rest.find(']') == std::string_view::npos) {
    host = rest.substr(0, colon);
    if (!absl::SimpleAtoi(core::ToAbsl(rest.substr(colon + 1)), &ep.port) || ep.port < 1 ||
        ep.port > 65535) {
      return bad("the port must be 1..65535");
    }
  }
  if (host.empty()) return bad("no host");
  ep.host = std::string(host);
  return ep;
}

}  // namespace mangaassist::cache
