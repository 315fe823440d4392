# US-07 event schema: codec, baseline and savings attribution, event building (ma_telemetry).
# Included from src/telemetry/CMakeLists.txt; paths are relative to this file.
set(_telemetry_codec_dir ${CMAKE_CURRENT_LIST_DIR})

ma_library(ma_telemetry
  SOURCES ${_telemetry_codec_dir}/event_codec.cc ${_telemetry_codec_dir}/baseline.cc
          ${_telemetry_codec_dir}/event_builder.cc
  DEPS ma_core ma_privacy PkgConfig::SIMDJSON nlohmann_json::nlohmann_json yaml-cpp
       OpenSSL::Crypto absl::status absl::statusor absl::strings absl::time)

ma_test(telemetry_codec_test
  SOURCES ${_telemetry_codec_dir}/event_codec_test.cc ${_telemetry_codec_dir}/baseline_test.cc
          ${_telemetry_codec_dir}/event_builder_test.cc
  DEPS ma_telemetry)

ma_benchmark(event_codec_benchmark
  SOURCES ${_telemetry_codec_dir}/event_codec_benchmark.cc
  DEPS ma_telemetry)
if(TARGET event_codec_benchmark)
  # The benchmark loads config/pricing.yaml and config/baseline.yaml from the source tree.
  target_compile_definitions(event_codec_benchmark PRIVATE
    MANGAASSIST_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
endif()
