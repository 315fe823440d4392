# ma_library(NAME SOURCES ... DEPS ...): a static library of the project, includes rooted at src/.
function(ma_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# ma_test(NAME SOURCES ... DEPS ...): a GoogleTest binary registered with CTest.
function(ma_test name)
  if(NOT MANGAASSIST_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE
    MANGAASSIST_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    MANGAASSIST_DATA_DIR_FOR_TESTS="${MANGAASSIST_DATA_DIR}"
    MANGAASSIST_SHARED_DIR="${MANGAASSIST_SHARED_DIR}"
    MANGAASSIST_BINARY_DIR="${PROJECT_BINARY_DIR}")
  set(labels unit)
  if(ARG_LABELS)
    set(labels ${ARG_LABELS})
  endif()
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS "${labels}" TIMEOUT 300)
endfunction()

# ma_benchmark(NAME SOURCES ... DEPS ...): a Google Benchmark binary (run by `make bench`).
function(ma_benchmark name)
  if(NOT MANGAASSIST_BUILD_BENCH)
    return()
  endif()
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} benchmark::benchmark)
  target_compile_definitions(${name} PRIVATE MANGAASSIST_DATA_DIR_FOR_TESTS="${MANGAASSIST_DATA_DIR}")
endfunction()
