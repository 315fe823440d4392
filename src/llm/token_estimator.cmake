# The calibrated pre-call token estimator (token_estimator.h). A library of its own so that the
# budget code can link it without the providers. Included from src/llm/CMakeLists.txt; paths are
# relative to this file, not to the includer.
set(_token_estimator_dir ${CMAKE_CURRENT_LIST_DIR})

ma_library(ma_token_estimator
  SOURCES ${_token_estimator_dir}/token_estimator.cc
  DEPS ma_core ma_boost yaml-cpp absl::status absl::statusor absl::strings)

ma_test(token_estimator_test
  SOURCES ${_token_estimator_dir}/token_estimator_test.cc
  DEPS ma_token_estimator ma_llm_providers nlohmann_json::nlohmann_json)

ma_benchmark(token_estimator_benchmark
  SOURCES ${_token_estimator_dir}/token_estimator_benchmark.cc
  DEPS ma_token_estimator ma_llm_providers)
