#include "telemetry/pg_shipper.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <cstring>
#include <memory>
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

// Replies live in the shipper's ReplyArena (below) until the next step: nothing to free.
using Reply = redisReply*;

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
  return static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data()));
}

Reply Command(redisContext* c, const std::vector<std::string>& args) { return CommandOf(c, args); }

std::string_view View(const redisReply* r) {
  return r != nullptr && r->str != nullptr ? std::string_view(r->str, r->len) : "";
}

std::string Str(const redisReply* r) { return std::string(View(r)); }

}  // namespace

// Builds the replies of the shipper's Redis connection (hiredis' redisReplyObjectFunctions) in
// blocks kept from step to step, instead of one malloc per element and a free of each at the
// end. A batch reply holds tens of thousands of elements: with malloc their frees (and the
// allocator's consolidation they set off) took a seventh of the shipper's CPU.
class ReplyArena {
 public:
  ReplyArena() = default;
  ReplyArena(const ReplyArena&) = delete;
  ReplyArena& operator=(const ReplyArena&) = delete;

  // Installs the object functions on `c`'s reader.
  void Attach(redisContext* c) {
    c->reader->fn = &kFunctions;
    c->reader->privdata = this;
  }
  // Every reply built so far is dead: their memory is reused.
  void Reset() {
    block_ = 0;
    used_ = 0;
  }

 private:
  static constexpr size_t kBlockSize = 1 << 20;

  void* Allocate(size_t n) {
    n = (n + 15) & ~size_t{15};
    while (block_ < blocks_.size()) {
      Block& b = blocks_[block_];
      if (used_ + n <= b.size) {
        void* p = b.data.get() + used_;
        used_ += n;
        return p;
      }
      ++block_;
      used_ = 0;
    }
    const size_t size = std::max(n, kBlockSize);
    blocks_.push_back({std::make_unique<char[]>(size), size});
    block_ = blocks_.size() - 1;
    used_ = n;
    return blocks_.back().data.get();
  }

  static redisReply* Create(const redisReadTask* task, int type) {
    auto* arena = static_cast<ReplyArena*>(task->privdata);
    auto* r = static_cast<redisReply*>(arena->Allocate(sizeof(redisReply)));
    *r = redisReply{};
    r->type = type;
    if (task->parent != nullptr) {
      auto* parent = static_cast<redisReply*>(task->parent->obj);
      parent->element[task->idx] = r;
    }
    return r;
  }
  static void* CreateString(const redisReadTask* task, char* str, size_t len) {
    redisReply* r = Create(task, task->type);
    auto* copy = static_cast<char*>(static_cast<ReplyArena*>(task->privdata)->Allocate(len + 1));
    std::memcpy(copy, str, len);
    copy[len] = '\0';
    r->str = copy;
    r->len = len;
    return r;
  }
  static void* CreateArray(const redisReadTask* task, int elements) {
    redisReply* r = Create(task, REDIS_REPLY_ARRAY);
    r->elements = static_cast<size_t>(elements);
    if (elements > 0) {
      r->element = static_cast<redisReply**>(static_cast<ReplyArena*>(task->privdata)->Allocate(
          sizeof(redisReply*) * static_cast<size_t>(elements)));
      std::fill_n(r->element, elements, nullptr);
    }
    return r;
  }
  static void* CreateInteger(const redisReadTask* task, long long value) {  // NOLINT: hiredis
    redisReply* r = Create(task, REDIS_REPLY_INTEGER);
    r->integer = value;
    return r;
  }
  static void* CreateNil(const redisReadTask* task) { return Create(task, REDIS_REPLY_NIL); }
  static void FreeObject(void*) {}  // the arena owns everything

  static inline redisReplyObjectFunctions kFunctions = {CreateString, CreateArray, CreateInteger,
                                                        CreateNil, FreeObject};

  struct Block {
    std::unique_ptr<char[]> data;
    size_t size;
  };
  std::vector<Block> blocks_;
  size_t block_ = 0;  // the block being filled
  size_t used_ = 0;   // bytes of it in use
};

absl::StatusOr<std::unique_ptr<PgShipper>> PgShipper::Create(PgShipperOptions options) {
  auto store = PgEventStore::Connect(options.pg_conninfo, options.statement_timeout_ms);
  if (!store.ok()) return store.status();
  return std::unique_ptr<PgShipper>(new PgShipper(std::move(options), *std::move(store)));
}

PgShipper::PgShipper(PgShipperOptions options, std::unique_ptr<PgEventStore> store)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : &core::SystemClock()),
      store_(std::move(store)),
      replies_(std::make_unique<ReplyArena>()) {}

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
  replies_->Attach(redis_);
  // Id 0: entries written before the group existed are shipped too.
  Reply r = Command(redis_, {"XGROUP", "CREATE", options_.stream, options_.group, "0", "MKSTREAM"});
  if (r == nullptr) return RedisFailed("XGROUP CREATE");
  if (r->type == REDIS_REPLY_ERROR && Str(r).rfind("BUSYGROUP", 0) != 0) {
    return absl::InternalError(absl::StrCat("XGROUP CREATE: ", Str(r)));
  }
  reading_pending_ = true;
  return absl::OkStatus();
}

absl::StatusOr<int64_t> PgShipper::ShipOnce() {
  replies_->Reset();  // no reply of the last step is used any more
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
    std::string err = Str(r);
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
  if (a->type == REDIS_REPLY_ERROR) return absl::InternalError("XACK: " + Str(a));
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
