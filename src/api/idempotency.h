// Idempotency-Key on POST /v1/* (US-08; the seed's "idempotency keys on all writes"): a client
// that retries a request with the same key and the same body gets the stored response, marked
// `Idempotent-Replayed: true`, and is not charged again; the same key with another body gets
// 422; a retry while the first is still running gets 409 with Retry-After. Keys are scoped by
// the presented credential and live in the `cost` keyspace (noeviction; shared by replicas
// through Redis, claimed with SET NX). 5xx answers and streamed answers are not stored: a retry
// runs again. With the store unreachable the request runs without the guarantee (logged).
#pragma once

#include <optional>
#include <string>

#include "cache/cache.h"
#include "core/traffic_config.h"
#include "http/server.h"

namespace mangaassist::api {

class Idempotency {
 public:
  // A request's claim on its key; inactive when the request carries none.
  struct Claim {
    std::string key;
    std::string body_hash;
    bool active = false;
  };

  Idempotency(const core::IdempotencyConfig& config, cache::Cache* cache)
      : config_(config), cache_(cache) {}

  // The response for a request answered without running it (a replay, 409, 422, a bad key),
  // or nullopt with `claim` filled when it should run.
  std::optional<http::Response> Begin(const http::Request& req, const http::RequestInfo& info,
                                      Claim* claim);
  // Stores the response of a claimed request (or releases the claim when it is not stored).
  void Finish(const Claim& claim, const http::Response& res, bool streamed);

 private:
  const core::IdempotencyConfig config_;
  cache::Cache* cache_;
};

}  // namespace mangaassist::api
