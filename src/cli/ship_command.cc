#include "cli/ship_command.h"

#include <signal.h>
#include <unistd.h>

#include <iostream>

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

  auto shipper = telemetry::PgShipper::Create(o);
  if (!shipper.ok()) {
    std::cerr << "mangaassist ship: " << shipper.status().message() << "\n";
    return 2;
  }
  std::cout << "shipping " << o.stream << " from " << o.redis_host << ":" << o.redis_port
            << " to PostgreSQL as consumer '" << o.consumer << "'. Stop with Ctrl-C."
            << std::endl;
  (*shipper)->Start();
  int sig = 0;
  sigwait(&signals, &sig);
  (*shipper)->Stop();
  std::cout << "stopped: " << (*shipper)->shipped() << " entries acknowledged, "
            << (*shipper)->inserted() << " new rows, " << (*shipper)->dead()
            << " undecodable set aside" << std::endl;
  return 0;
}

}  // namespace mangaassist::cli
