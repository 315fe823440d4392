// Redis Stream producer (US-07, distributed mode): each event is one entry
//   XADD <stream> MAXLEN ~ <max_len> * e <EncodeCostEventJson(event)>
// pipelined per batch; PgShipper (pg_shipper.h) moves the stream into PostgreSQL. A batch that
// fails half-way may leave some entries in the stream; the caller retries the whole batch and
// the shipper's ON CONFLICT (request_id) makes the repeats harmless.
// Connect and command timeouts bound every call: Redis down means Unavailable promptly, never a
// hang. Thread-safe (one connection behind a mutex, re-established after an error).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "telemetry/sink.h"

namespace mangaassist::telemetry {

inline constexpr char kDefaultCostStream[] = "ma:cost_events";

struct RedisStreamSinkOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string stream = kDefaultCostStream;
  // Approximate cap of the stream (MAXLEN ~): bounds Redis memory if the shipper stalls; entries
  // trimmed before shipping are lost, so size it for the longest PostgreSQL outage to ride out.
  int64_t max_len = 1'000'000;
  std::chrono::milliseconds connect_timeout{200};
  std::chrono::milliseconds command_timeout{1000};
};

// Never fails: the connection is made on the first Write().
std::unique_ptr<EventWriter> NewRedisStreamSink(const RedisStreamSinkOptions& options);

}  // namespace mangaassist::telemetry
