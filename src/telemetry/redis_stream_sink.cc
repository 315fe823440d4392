#include "telemetry/redis_stream_sink.h"

#include <hiredis/hiredis.h>

#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace mangaassist::telemetry {
namespace {

timeval ToTimeval(std::chrono::milliseconds ms) {
  return timeval{static_cast<time_t>(ms.count() / 1000),
                 static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

class RedisStreamSink final : public EventWriter {
 public:
  explicit RedisStreamSink(RedisStreamSinkOptions options)
      : options_(std::move(options)), max_len_(absl::StrCat(options_.max_len)) {}
  ~RedisStreamSink() override {
    absl::MutexLock lock(&mu_);
    Drop();
  }

  absl::Status WriteEncoded(const std::vector<EncodedEvent>& batch) override
      ABSL_LOCKS_EXCLUDED(mu_) {
    if (batch.empty()) return absl::OkStatus();
    absl::MutexLock lock(&mu_);
    if (absl::Status s = Connect(); !s.ok()) return s;
    for (const EncodedEvent& e : batch) {
      const std::string& json = e.json;
      const char* argv[] = {
          "XADD", options_.stream.c_str(), "MAXLEN", "~", max_len_.c_str(), "*", "e", json.c_str()};
      size_t lens[] = {4, options_.stream.size(), 6, 1, max_len_.size(), 1, 1, json.size()};
      if (redisAppendCommandArgv(ctx_, 8, argv, lens) != REDIS_OK) return Failed("XADD");
    }
    absl::Status status;
    for (size_t i = 0; i < batch.size(); ++i) {
      void* raw = nullptr;
      if (redisGetReply(ctx_, &raw) != REDIS_OK) return Failed("XADD reply");
      auto* reply = static_cast<redisReply*>(raw);
      if (reply->type == REDIS_REPLY_ERROR && status.ok()) {
        status = absl::InternalError(
            absl::StrCat("XADD ", options_.stream, ": ", std::string(reply->str, reply->len)));
      }
      freeReplyObject(reply);
    }
    return status;
  }

 private:
  absl::Status Connect() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (ctx_ != nullptr) return absl::OkStatus();
    ctx_ = redisConnectWithTimeout(options_.host.c_str(), options_.port,
                                   ToTimeval(options_.connect_timeout));
    if (ctx_ == nullptr || ctx_->err != 0 ||
        redisSetTimeout(ctx_, ToTimeval(options_.command_timeout)) != REDIS_OK) {
      return Failed("connect");
    }
    return absl::OkStatus();
  }

  // An I/O error or timeout leaves the context unusable: drop it, reconnect on the next call.
  absl::Status Failed(const char* what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::string msg =
        absl::StrCat("Redis stream ", options_.stream, " at ", options_.host, ":", options_.port,
                     ": ", what, ": ", ctx_ != nullptr ? ctx_->errstr : "out of memory");
    Drop();
    return absl::UnavailableError(msg);
  }

  void Drop() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (ctx_ != nullptr) redisFree(ctx_);
    ctx_ = nullptr;
  }

  const RedisStreamSinkOptions options_;
  const std::string max_len_;
  absl::Mutex mu_;
  redisContext* ctx_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace

std::unique_ptr<EventWriter> NewRedisStreamSink(const RedisStreamSinkOptions& options) {
  return std::make_unique<RedisStreamSink>(options);
}

}  // namespace mangaassist::telemetry
