# US-07 Unified KPI Rollup: per-story KPIs from the hourly rollups, as text, JSON and HTML
# (`mangaassist report`). Included from src/telemetry/CMakeLists.txt.
set(_telemetry_kpi_dir ${CMAKE_CURRENT_LIST_DIR})

ma_library(ma_telemetry_kpi
  SOURCES ${_telemetry_kpi_dir}/kpi.cc
  DEPS ma_telemetry_sinks nlohmann_json::nlohmann_json absl::strings absl::str_format absl::time)

ma_test(telemetry_kpi_test
  SOURCES ${_telemetry_kpi_dir}/kpi_test.cc
  DEPS ma_telemetry_kpi)

# Where reports read rollups from (SQLite of a config, or PostgreSQL): `mangaassist report` and
# GET /admin/kpi.
ma_library(ma_telemetry_kpi_source
  SOURCES ${_telemetry_kpi_dir}/kpi_source.cc
  DEPS ma_telemetry_kpi ma_telemetry_sinks ma_core absl::strings absl::time)
