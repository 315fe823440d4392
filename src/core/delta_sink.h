// DeltaSink: where a streamed answer goes, piece by piece, as the provider produces it — the
// HTTP layer's SSE writer for a streaming client; absent (null) otherwise. A sink is owned by
// whoever runs the request and used from that request's flow only (not thread-safe).
#pragma once

#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).

#include <string_view>

#include <boost/asio/awaitable.hpp>

namespace mangaassist::core {

class DeltaSink {
 public:
  virtual ~DeltaSink() = default;
  // Delivers one text delta. False when the client has gone away: the caller cancels the
  // upstream call and accounts what was consumed so far.
  virtual boost::asio::awaitable<bool> OnDelta(std::string_view text) = 0;
};

}  // namespace mangaassist::core
