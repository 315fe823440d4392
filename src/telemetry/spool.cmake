# US-07 durable local spool: segment files (length + checksum framing, zstd-sealed), the Spool
# with its writer thread, quota and consumer cursor; unit, crash and micro-benchmark targets.
ma_library(ma_telemetry_spool
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/segment.cc ${CMAKE_CURRENT_LIST_DIR}/spool.cc
  DEPS ma_core PkgConfig::XXHASH PkgConfig::ZSTD absl::status absl::statusor absl::strings
       absl::str_format absl::synchronization absl::time spdlog::spdlog)

# Appends numbered cost records and prints each one as soon as it is acknowledged; the crash
# test SIGKILLs it mid-stream.
add_executable(spool_crash_writer ${CMAKE_CURRENT_LIST_DIR}/spool_crash_writer.cc)
target_link_libraries(spool_crash_writer PRIVATE ma_telemetry_spool)

ma_test(telemetry_spool_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/spool_test.cc
  DEPS ma_telemetry_spool)

ma_test(telemetry_spool_crash_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/spool_crash_test.cc
  DEPS ma_telemetry_spool)
if(TARGET telemetry_spool_crash_test)
  target_compile_definitions(telemetry_spool_crash_test PRIVATE
    SPOOL_CRASH_WRITER="$<TARGET_FILE:spool_crash_writer>")
  add_dependencies(telemetry_spool_crash_test spool_crash_writer)
endif()

ma_benchmark(telemetry_spool_benchmark
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/spool_benchmark.cc
  DEPS ma_telemetry_spool)
