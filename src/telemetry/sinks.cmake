# US-07 event sinks: SQLite (embedded), PostgreSQL, the Redis Stream producer and the
# Redis Stream → PostgreSQL shipper (distributed). Included from src/telemetry/CMakeLists.txt.
set(_telemetry_sinks_dir ${CMAKE_CURRENT_LIST_DIR})

ma_library(ma_telemetry_sinks
  SOURCES ${_telemetry_sinks_dir}/sql/cost_schema.cc ${_telemetry_sinks_dir}/sqlite_sink.cc
          ${_telemetry_sinks_dir}/pg_sink.cc ${_telemetry_sinks_dir}/redis_stream_sink.cc
          ${_telemetry_sinks_dir}/pg_shipper.cc
  DEPS ma_telemetry ma_core PkgConfig::SQLITE3 PkgConfig::HIREDIS PkgConfig::LIBPQ
       absl::status absl::statusor absl::strings absl::synchronization absl::time)

# The one suite every EventSink passes (SQLite on a temporary file, PostgreSQL started by the
# test harness), and the Redis Stream → PostgreSQL shipper against real servers.
ma_test(telemetry_sinks_test
  SOURCES ${_telemetry_sinks_dir}/sink_test.cc ${_telemetry_sinks_dir}/pg_shipper_test.cc
  DEPS ma_telemetry_sinks ma_test_support
  LABELS integration)
