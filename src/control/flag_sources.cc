#include "control/flag_sources.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "cache/redis_pool.h"
#include "control/flags.h"
#include "core/strings.h"
#include "core/yaml.h"
#include "yaml-cpp/yaml.h"

namespace mangaassist::control::internal {
namespace {

std::optional<bool> ParseBool(std::string_view text) {
  std::string l = absl::AsciiStrToLower(absl::string_view(text.data(), text.size()));
  if (l == "true" || l == "yes" || l == "on" || l == "1") return true;
  if (l == "false" || l == "no" || l == "off" || l == "0") return false;
  return std::nullopt;
}

std::string Errno(const std::string& what, const std::string& path) {
  return absl::StrCat(what, " ", path, ": ", std::strerror(errno));
}

// --- config: in memory -------------------------------------------------------------------------
class MemorySource final : public FlagSource {
 public:
  explicit MemorySource(FlagValues initial) : values_(std::move(initial)) {}
  absl::StatusOr<std::optional<FlagValues>> Read() override { return {values_}; }
  absl::StatusOr<FlagValues> Write(const FlagValues& changes) override {
    FlagValues before;
    for (const auto& [name, value] : changes) {
      if (auto it = values_.find(name); it != values_.end()) before[name] = it->second;
      values_[name] = value;
    }
    return before;
  }

 private:
  FlagValues values_;
};

// --- file --------------------------------------------------------------------------------------
class FileSource final : public FlagSource {
 public:
  explicit FileSource(std::string path) : path_(std::move(path)) {}

  absl::StatusOr<std::optional<FlagValues>> Read() override {
    struct stat st;
    if (::stat(path_.c_str(), &st) != 0) return Fail(Errno("cannot stat flags file", path_));
    const Stamp stamp{st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec,
                      static_cast<int64_t>(st.st_size), st.st_ino};
    if (valid_ && stamp == stamp_) return std::optional<FlagValues>();
    auto text = ReadAll();
    if (!text.ok()) return Fail(std::string(text.status().message()));
    const size_t hash = std::hash<std::string>()(*text);
    stamp_ = stamp;
    if (valid_ && hash == content_hash_) return std::optional<FlagValues>();  // touched only
    auto values = ParseFlagsYaml(*text, path_);
    if (!values.ok()) return Fail(std::string(values.status().message()));
    valid_ = true;
    content_hash_ = hash;
    return std::optional<FlagValues>(*std::move(values));
  }

  absl::StatusOr<FlagValues> Write(const FlagValues& changes) override {
    // One writer at a time across processes; readers never see a half-written file (rename).
    const std::string lock_path = path_ + ".lock";
    int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd < 0) return absl::UnavailableError(Errno("cannot open lock file", lock_path));
    struct LockGuard {
      int fd;
      ~LockGuard() {
        ::flock(fd, LOCK_UN);
        ::close(fd);
      }
    } guard{lock_fd};
    if (::flock(lock_fd, LOCK_EX) != 0) {
      return absl::UnavailableError(Errno("cannot lock", lock_path));
    }
    FlagValues current;
    if (::access(path_.c_str(), F_OK) == 0) {
      auto text = ReadAll();
      if (!text.ok()) return text.status();
      auto parsed = ParseFlagsYaml(*text, path_);
      if (!parsed.ok()) {
        return absl::FailedPreconditionError(
            absl::StrCat("the flags file is invalid, fix it first: ", parsed.status().message()));
      }
      current = *std::move(parsed);
    }
    FlagValues before;
    for (const auto& [name, value] : changes) {
      if (auto it = current.find(name); it != current.end()) before[name] = it->second;
      current[name] = value;
    }
    const std::string tmp = absl::StrCat(path_, ".tmp.", ::getpid());
    const std::string body = FormatFlagsYaml(current);
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return absl::UnavailableError(Errno("cannot create", tmp));
    size_t off = 0;
    while (off < body.size()) {
      ssize_t n = ::write(fd, body.data() + off, body.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        std::string why = Errno("cannot write", tmp);
        ::close(fd);
        ::unlink(tmp.c_str());
        return absl::UnavailableError(why);
      }
      off += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
      std::string why = Errno("cannot sync", tmp);
      ::unlink(tmp.c_str());
      return absl::UnavailableError(why);
    }
    if (::rename(tmp.c_str(), path_.c_str()) != 0) {
      std::string why = Errno("cannot rename onto", path_);
      ::unlink(tmp.c_str());
      return absl::UnavailableError(why);
    }
    const size_t slash = path_.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : path_.substr(0, slash + 1);
    if (int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
      (void)::fsync(dfd);
      ::close(dfd);
    }
    return before;
  }

 private:
  struct Stamp {
    int64_t mtime_ns = -1;
    int64_t size = -1;
    ino_t inode = 0;
    bool operator==(const Stamp&) const = default;
  };

  absl::StatusOr<std::string> ReadAll() const {
    int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return absl::UnavailableError(Errno("cannot open flags file", path_));
    std::string out;
    char buf[8192];
    while (true) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        std::string why = Errno("cannot read flags file", path_);
        ::close(fd);
        return absl::UnavailableError(why);
      }
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
      if (out.size() > (1u << 20)) {
        ::close(fd);
        return absl::InvalidArgumentError(absl::StrCat(path_, ": larger than 1 MiB"));
      }
    }
    ::close(fd);
    return out;
  }

  // A failure forgets what was read, so the next poll reads the file again whatever its stamp.
  absl::Status Fail(std::string message) {
    valid_ = false;
    stamp_ = Stamp{};
    return absl::UnavailableError(std::move(message));
  }

  const std::string path_;
  bool valid_ = false;
  Stamp stamp_;
  size_t content_hash_ = 0;
};

// --- redis -------------------------------------------------------------------------------------
// HGET old values and HSET new ones in one atomic step.
constexpr const char* kWriteScript = R"lua(
local out = {}
for i = 1, #ARGV, 2 do
  local old = redis.call('HGET', KEYS[1], ARGV[i])
  out[#out + 1] = old or ''
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
return out
)lua";

class RedisSource final : public FlagSource {
 public:
  RedisSource(cache::RedisEndpoint endpoint, std::string key, absl::Duration timeout)
      : where_(absl::StrCat("redis ", endpoint.Display(), " key ", key)),
        key_(std::move(key)),
        pool_(std::move(endpoint), PoolOptions(timeout)) {}

  absl::StatusOr<std::optional<FlagValues>> Read() override {
    auto reply = Command({"HGETALL", key_});
    if (!reply.ok()) return reply.status();
    const redisReply* r = reply->get();
    if (r->type != REDIS_REPLY_ARRAY) {
      return absl::UnavailableError(absl::StrCat(where_, ": HGETALL: unexpected reply"));
    }
    FlagValues values;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
      std::string name(r->element[i]->str, r->element[i]->len);
      std::string raw(r->element[i + 1]->str, r->element[i + 1]->len);
      if (FindFlag(name) == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(where_, ": unknown flag '", name, "'"));
      }
      std::optional<bool> v = ParseBool(raw);
      if (!v.has_value()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where_, ": ", name, ": '", raw, "' is not a boolean"));
      }
      values[name] = *v;
    }
    return std::optional<FlagValues>(std::move(values));
  }

  absl::StatusOr<FlagValues> Write(const FlagValues& changes) override {
    std::vector<std::string_view> args = {"EVAL", kWriteScript, "1", key_};
    for (const auto& [name, value] : changes) {
      args.push_back(name);
      args.push_back(value ? "true" : "false");
    }
    auto reply = Command(args);
    if (!reply.ok()) return reply.status();
    const redisReply* r = reply->get();
    if (r->type != REDIS_REPLY_ARRAY || r->elements != changes.size()) {
      return absl::InternalError(absl::StrCat(where_, ": EVAL: unexpected reply"));
    }
    FlagValues before;
    size_t i = 0;
    for (const auto& [name, value] : changes) {
      const redisReply* old = r->element[i++];
      if (old->type != REDIS_REPLY_STRING || old->len == 0) continue;
      if (std::optional<bool> v = ParseBool(std::string_view(old->str, old->len)))
        before[name] = *v;
    }
    return before;
  }

 private:
  // One pooled connection with the cache tier's reconnect backoff, capped so an outage ends
  // within about a second of Redis coming back.
  static cache::RedisPoolOptions PoolOptions(absl::Duration timeout) {
    cache::RedisPoolOptions o;
    o.pool_size = 1;
    o.connect_timeout = o.command_timeout = timeout;
    o.backoff_initial = absl::Milliseconds(10);
    o.backoff_max = absl::Seconds(1);
    o.log_name = "flags";
    return o;
  }

  // The reply; Unavailable (naming the source) when Redis cannot be reached or answers an error.
  absl::StatusOr<cache::Reply> Command(const std::vector<std::string_view>& args) {
    cache::Reply reply;
    absl::Status st = pool_.Run([&](redisContext* c) -> absl::Status {
      reply = cache::Command(c, args);
      if (reply != nullptr && reply->type == REDIS_REPLY_ERROR) {
        return absl::UnavailableError(absl::StrCat(
            core::ToAbsl(args[0]), ": ", absl::string_view(reply->str, reply->len)));
      }
      return absl::OkStatus();
    });
    if (!st.ok()) return absl::UnavailableError(absl::StrCat(where_, ": ", st.message()));
    return reply;
  }

  const std::string where_;
  const std::string key_;
  cache::RedisPool pool_;
};

}  // namespace

absl::StatusOr<FlagValues> ParseFlagsYaml(const std::string& text, const std::string& source_name) {
  FlagValues values;
  absl::StatusOr<YAML::Node> parsed = core::ParseYaml(text, source_name);
  if (!parsed.ok()) return parsed.status();
  YAML::Node root = *std::move(parsed);
  if (!root.IsDefined() || root.IsNull()) return values;
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_name, ": must be a mapping of flag name to true|false"));
  }
  for (const auto& kv : root) {
    const std::string name = kv.first.Scalar();
    const int line = kv.first.Mark().line + 1;
    if (FindFlag(name) == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(source_name, ":", line, ": ", name, ": unknown flag"));
    }
    std::optional<bool> v;
    if (kv.second.IsScalar()) v = ParseBool(kv.second.Scalar());
    if (!v.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source_name, ":", line, ": ", name, ": must be true or false"));
    }
    values[name] = *v;
  }
  return values;
}

std::string FormatFlagsYaml(const FlagValues& values) {
  std::string out =
      "# MangaAssist feature flags (US-08): `name: true|false`, read by the gateway on change.\n"
      "# Written by `mangaassist flags set` and PUT /admin/flags (each change is audited); hand\n"
      "# edits are picked up too but are not audited. Names and precedence: docs/operations.md.\n";
  for (const FlagInfo& f : FlagRegistry()) {
    auto it = values.find(std::string(f.name));
    if (it == values.end()) continue;
    absl::StrAppend(&out, std::string(f.name), ": ", it->second ? "true" : "false", "\n");
  }
  return out;
}

std::unique_ptr<FlagSource> NewMemoryFlagSource(FlagValues initial) {
  return std::make_unique<MemorySource>(std::move(initial));
}

std::unique_ptr<FlagSource> NewFileFlagSource(std::string path) {
  return std::make_unique<FileSource>(std::move(path));
}

absl::StatusOr<std::unique_ptr<FlagSource>> NewRedisFlagSource(const std::string& url,
                                                               std::string key,
                                                               absl::Duration timeout) {
  auto endpoint = cache::ParseRedisUrl(url, 0);
  if (!endpoint.ok()) return endpoint.status();
  return std::make_unique<RedisSource>(*std::move(endpoint), std::move(key), timeout);
}

}  // namespace mangaassist::control::internal
