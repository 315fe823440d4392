# Bedrock building blocks: SigV4 signing, region pinning and the event-stream framing.
# Included from src/llm/CMakeLists.txt, so paths are relative to this file, not to the includer.
if(NOT TARGET ZLIB::ZLIB)
  find_package(ZLIB REQUIRED)
  # Consumers in other directories (api, tests) link ma_bedrock_sigv4 and need to see ZLIB::ZLIB.
  set_target_properties(ZLIB::ZLIB PROPERTIES IMPORTED_GLOBAL TRUE)
endif()

ma_library(ma_bedrock_sigv4
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/sigv4.cc ${CMAKE_CURRENT_LIST_DIR}/eventstream.cc
  DEPS ma_core OpenSSL::Crypto ZLIB::ZLIB absl::strings absl::time absl::status absl::statusor
       nlohmann_json::nlohmann_json PkgConfig::SIMDJSON)

# sigv4_test runs tests/support/sigv4_botocore.py (python3 + python3-botocore) as a second,
# independent SigV4 implementation.
ma_test(bedrock_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/sigv4_test.cc ${CMAKE_CURRENT_LIST_DIR}/eventstream_test.cc
  DEPS ma_bedrock_sigv4)
