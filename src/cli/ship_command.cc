#include "cli/ship_command.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "telemetry/pg_shipper.h"

namespace mangaassist::cli {

int RunShip(const ShipOptions& options) {
  telemetry::PgShipperOptions o;
  uint16_t port = 0;
  if (absl::Status s = core::ParseListen(options.redis, &o.redis_host, &port); !s.ok()) {
    std::cerr << "mangaassist ship: --redis: " << s.message() << "\n";
    return 2;
  }
  o.redis_port = port;
  o.stream = options.stream;
  o.group = options.group;
  o.consumer = options.consumer;
  if (o.consumer.empty()) {
    char host[256] = {0};
    o.consumer = ::gethostname(host, sizeof(host) - 1) == 0 ? host : "shipper-1";
  }
  o.pg_conninfo = options.postgres;
  o.batch_size = options.batch;
  o.retention_days = options.retention_days;

  // Signals are taken synchronously (sigwait) so the shipper's step finishes cleanly.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Workers share the consumer group; each has its own consumer name (and so its own pending
  // entries to resume after a restart), Redis connection and PostgreSQL session.
  const int workers = std::max(1, options.workers);
  std::vector<std::unique_ptr<telemetry::PgShipper>> shippers;
  for (int w = 1; w <= workers; ++w) {
    telemetry::PgShipperOptions wo = o;
    if (workers > 1) wo.consumer = o.consumer + "-" + std::to_string(w);
    auto shipper = telemetry::PgShipper::Create(wo);
    if (!shipper.ok()) {
      std::cerr << "mangaassist ship: " << shipper.status().message() << "\n";
      return 2;
    }
    shippers.push_back(*std::move(shipper));
  }
  std::cout << "shipping " << o.stream << " from " << o.redis_host << ":" << o.redis_port
            << " to PostgreSQL as consumer '" << o.consumer << "'"
            << (workers > 1 ? " (" + std::to_string(workers) + " workers)" : std::string())
            << ". Stop with Ctrl-C." << std::endl;
  for (auto& shipper : shippers) shipper->Start();
  int sig = 0;
  sigwait(&signals, &sig);
  int64_t shipped = 0, inserted = 0, dead = 0;
  for (auto& shipper : shippers) {
    shipper->Stop();
    shipped += shipper->shipped();
    inserted += shipper->inserted();
    dead += shipper->dead();
  }
  std::cout << "stopped: " << shipped << " entries acknowledged, " << inserted << " new rows, "
            << dead << " undecodable set aside" << std::endl;
  return 0;
}

}  // namespace mangaassist::cli
