// `mangaassist ship`: the distributed half of US-07 — drains the Redis Stream that gateways
// write cost events to (telemetry.sink: redis) into PostgreSQL, exactly once (PgShipper), until
// SIGINT/SIGTERM. Run one per consumer name; a restart with the same name resumes its pending
// entries.
#pragma once

#include <string>

namespace mangaassist::cli {

struct ShipOptions {
  std::string redis = "127.0.0.1:6379";  // HOST:PORT
  std::string stream = "ma:cost_events";
  std::string group = "pg-shipper";
  std::string consumer;                  // default: the host name
  std::string postgres;                  // libpq conninfo (required)
  int batch = 500;
  int retention_days = 0;                // raw events kept in PostgreSQL; 0 = forever
  int workers = 1;  // shippers in this process, consumers "<consumer>-1".."<consumer>-N" if > 1
};

int RunShip(const ShipOptions& options);

}  // namespace mangaassist::cli
