# `mangaassist redact` (issue 3). Included from src/cli/CMakeLists.txt; paths are relative to this
# file so that it works from any including directory.
ma_library(ma_cli_redact SOURCES ${CMAKE_CURRENT_LIST_DIR}/redact_command.cc
  DEPS ma_privacy ma_core nlohmann_json::nlohmann_json PkgConfig::SIMDJSON)
ma_test(redact_command_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/redact_command_test.cc
  DEPS ma_cli_redact)
