# The LLM providers (anthropic, bedrock, openai-compatible, extractive, simulated), the shared HTTP provider
# machinery, the fallback chain and the provider registry. Included from src/llm/CMakeLists.txt
# after bedrock/bedrock.cmake, so paths are relative to this file, not to the includer.
set(_providers_dir ${CMAKE_CURRENT_LIST_DIR})

ma_library(ma_llm_providers
  SOURCES ${_providers_dir}/sse_decoder.cc
          ${_providers_dir}/token_count.cc
          ${_providers_dir}/provider_metrics.cc
          ${_providers_dir}/http_provider.cc
          ${_providers_dir}/anthropic/anthropic_events.cc
          ${_providers_dir}/anthropic/anthropic_provider.cc
          ${_providers_dir}/openai/openai_provider.cc
          ${_providers_dir}/bedrock/bedrock_provider.cc
          ${_providers_dir}/extractive/extractive_provider.cc
          ${_providers_dir}/simulated/answer_lengths.cc
          ${_providers_dir}/simulated/simulated_provider.cc
          ${_providers_dir}/fallback_provider.cc
          ${_providers_dir}/provider_registry.cc
          ${_providers_dir}/models.cc
  DEPS ma_core ma_http_client ma_bedrock_sigv4 ma_llm ma_boost PkgConfig::SIMDJSON
       nlohmann_json::nlohmann_json absl::status absl::statusor absl::strings absl::synchronization
       absl::time absl::flat_hash_map)

ma_test(llm_providers_test
  SOURCES ${_providers_dir}/sse_decoder_test.cc
          ${_providers_dir}/provider_test.cc
          ${_providers_dir}/anthropic/anthropic_provider_test.cc
          ${_providers_dir}/openai/openai_provider_test.cc
          ${_providers_dir}/bedrock/bedrock_provider_test.cc
          ${_providers_dir}/fallback_provider_test.cc
          ${_providers_dir}/provider_registry_test.cc
          ${_providers_dir}/simulated/simulated_provider_test.cc
  DEPS ma_llm_providers ma_test_support)
