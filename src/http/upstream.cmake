# The outbound side: upstream HTTP client with per-context connection pools, retries with
# backoff, and per-provider circuit breakers. Included from src/http/CMakeLists.txt.
ma_library(ma_http_client
  SOURCES upstream_client.cc retry.cc circuit_breaker.cc
  DEPS ma_core ma_boost OpenSSL::SSL OpenSSL::Crypto absl::synchronization absl::random_random
       absl::strings absl::time spdlog::spdlog)

ma_test(http_client_test
  SOURCES upstream_client_test.cc retry_test.cc circuit_breaker_test.cc
  DEPS ma_http_client ma_test_support)
