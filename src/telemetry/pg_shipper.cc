#include "telemetry/pg_shipper.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "telemetry/event_codec.h"

namespace mangaassist::telemetry {
namespace {

timeval ToTimeval(std::chrono::milliseconds ms) {
  return timeval{static_cast<time_t>(ms.count() / 1000),
                 static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

struct ReplyDeleter {
  void operator()(redisReply* r) const {
    if (r != nullptr) freeReplyObject(r);
  }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

template <typename S>  // std::string or std::string_view
Reply CommandOf(redisContext* c, const std::vector<S>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const S& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return Reply(static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data())));
}

Reply Command(redisContext* c, const std::vector<std::string>& args) { return CommandOf(c, args); }

std::string Str(const redisReply* r) {
  return r != nullptr && r->str != nullptr ? std::string(r->str, r->len) : "";
}

std::string_view View(const redisReply* r) {
  return r != nullptr && r->str != nullptr ? std::string_view(r->str, r->len) : "";
}

}  // namespace

absl::StatusOr<std::unique_ptr<PgShipper>> PgShipper::Create(PgShipperOptions options) {
  auto store = PgEventStore::Connect(options.pg_conninfo, options.statement_timeout_ms);
  if (!store.ok()) return store.status();
  return std::unique_ptr<PgShipper>(new PgShipper(std::move(options), *std::move(store)));
}

PgShipper::PgShipper(PgShipperOptions options, std::unique_ptr<PgEventStore> store)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : &core::SystemClock()),
      store_(std::move(store)) {}

PgShipper::~PgShipper() {
  Stop();
  if (redis_ != nullptr) redisFree(redis_);
}

absl::Status PgShipper::RedisFailed(const std::string& what) {
  std::string msg =
      absl::StrCat("PgShipper: Redis ", options_.redis_host, ":", options_.redis_port, ": ", what,
                   ": ", redis_ != nullptr ? redis_->errstr : "out of memory");
  if (redis_ != nullptr) redisFree(redis_);
  redis_ = nullptr;
  return absl::UnavailableError(msg);
}

absl::Status PgShipper::ConnectRedis() {
  if (redis_ != nullptr) return absl::OkStatus();
  redis_ = redisConnectWithTimeout(options_.redis_host.c_str(), options_.redis_port,
                                   ToTimeval(options_.connect_timeout));
  // Reads block up to `block`; the socket timeout must outlast it.
  if (redis_ == nullptr || redis_->err != 0 ||
      redisSetTimeout(redis_, ToTimeval(options_.block + options_.connect_timeout +
                                        std::chrono::milliseconds(1000))) != REDIS_OK) {
    return RedisFailed("connect");
  }
  // Id 0: entries written before the group existed are shipped too.
  Reply r = Command(redis_, {"XGROUP", "CREATE", options_.stream, options_.group, "0", "MKSTREAM"});
  if (r == nullptr) return RedisFailed("XGROUP CREATE");
  if (r->type == REDIS_REPLY_ERROR && Str(r.get()).rfind("BUSYGROUP", 0) != 0) {
    return absl::InternalError(absl::StrCat("XGROUP CREATE: ", Str(r.get())));
  }
  reading_pending_ = true;
  return absl::OkStatus();
}

absl::StatusOr<int64_t> PgShipper::ShipOnce() {
  if (absl::Status s = ConnectRedis(); !s.ok()) return s;
  const bool pending = reading_pending_;
  std::vector<std::string> args = {"XREADGROUP",      "GROUP", options_.group,
                                   options_.consumer, "COUNT", absl::StrCat(options_.batch_size)};
  if (!pending) {
    args.push_back("BLOCK");
    args.push_back(absl::StrCat(options_.block.count()));
  }
  args.insert(args.end(), {"STREAMS", options_.stream, pending ? "0" : ">"});
  Reply r = Command(redis_, args);
  if (r == nullptr) return RedisFailed("XREADGROUP");
  if (r->type == REDIS_REPLY_ERROR) {
    // NOGROUP: the stream was deleted; recreate the group on the next step.
    std::string err = Str(r.get());
    if (redis_ != nullptr) redisFree(redis_);
    redis_ = nullptr;
    return absl::InternalError(absl::StrCat("XREADGROUP: ", err));
  }

  // Reply: nil (timeout) or [[stream, [[id, [field, value, ...] or nil], ...]]].
  std::vector<std::string_view> ids;  // into `r`, which outlives the XACK
  std::vector<CostEvent> events;
  std::vector<std::string> dead_payloads;
  if (r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
    const redisReply* entries = r->element[0]->element[1];
    ids.reserve(entries->elements);
    events.reserve(entries->elements);
    for (size_t i = 0; i < entries->elements; ++i) {
      const redisReply* entry = entries->element[i];
      ids.push_back(View(entry->element[0]));
      const redisReply* fields = entry->element[1];
      // A pending entry trimmed by MAXLEN comes back without fields: nothing left to ship.
      if (fields == nullptr || fields->type != REDIS_REPLY_ARRAY) continue;
      std::string_view payload;
      for (size_t f = 0; f + 1 < fields->elements; f += 2) {
        if (View(fields->element[f]) == "e") payload = View(fields->element[f + 1]);
      }
      absl::StatusOr<CostEvent> event = DecodeCostEventJson(payload);
      if (event.ok()) {
        events.push_back(*std::move(event));
      } else {
        dead_payloads.emplace_back(payload);
      }
    }
  }
  if (ids.empty()) {
    if (pending) reading_pending_ = false;  // caught up with our own pending entries
    return 0;
  }

  const int64_t horizon = options_.retention_days > 0 ? absl::ToUnixMillis(clock_->Now()) -
                                                            options_.retention_days * kMillisPerDay
                                                      : std::numeric_limits<int64_t>::min();
  // From here on, any failure leaves the entries pending and the next step re-reads them.
  reading_pending_ = true;
  std::vector<const CostEvent*> rows;
  rows.reserve(events.size());
  for (const CostEvent& e : events) rows.push_back(&e);
  absl::StatusOr<int64_t> inserted = store_->WriteBatch(rows, horizon, options_.before_commit);
  if (!inserted.ok()) return inserted.status();
  if (options_.before_ack) {
    if (absl::Status s = options_.before_ack(); !s.ok()) return s;
  }
  for (const std::string& payload : dead_payloads) {
    Reply d = Command(redis_, {"XADD", options_.stream + ":dead", "*", "e", payload});
    if (d == nullptr) return RedisFailed("XADD dead letter");
  }
  std::vector<std::string_view> ack = {"XACK", options_.stream, options_.group};
  ack.reserve(3 + ids.size());
  ack.insert(ack.end(), ids.begin(), ids.end());
  Reply a = CommandOf(redis_, ack);
  if (a == nullptr) return RedisFailed("XACK");
  if (a->type == REDIS_REPLY_ERROR) return absl::InternalError("XACK: " + Str(a.get()));
  // Still in the pending phase: keep draining it; otherwise carry on with new entries.
  reading_pending_ = pending;
  inserted_ += *inserted;
  dead_ += static_cast<int64_t>(dead_payloads.size());
  shipped_ += static_cast<int64_t>(ids.size());
  return static_cast<int64_t>(ids.size());
}

void PgShipper::Start() {
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] {
    auto backoff = std::chrono::milliseconds(100);
    while (!stop_.load()) {
      if (ShipOnce().ok()) {
        backoff = std::chrono::milliseconds(100);
        continue;
      }
      // Sleep in small steps so Stop() stays prompt.
      for (auto slept = std::chrono::milliseconds(0); slept < backoff && !stop_.load();
           slept += std::chrono::milliseconds(20)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
  });
}

void PgShipper::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

}  // namespace mangaassist::telemetry
