# The libFuzzer target (tests/fuzz) needs clang, while the main build stays on its own compiler
# (g++): the fuzz project is configured and built as an ExternalProject of this build, with
# clang++, only when a clang++ that links -fsanitize=fuzzer,address,undefined is found.
# Otherwise it is skipped with a message and nothing else changes.
#
# Sets, in the cache, PROVBRIDGE_FUZZ_BINARY (the fuzzer's path, empty when skipped) and
# PROVBRIDGE_FUZZ_STATUS (why it was skipped), which scripts/fuzz reads.
function(provbridge_add_fuzz_target)
  set(PROVBRIDGE_FUZZ_BINARY "" CACHE INTERNAL "")
  if(NOT PROVBRIDGE_BUILD_FUZZ)
    set(PROVBRIDGE_FUZZ_STATUS "PROVBRIDGE_BUILD_FUZZ is OFF" CACHE INTERNAL "")
    return()
  endif()
  find_program(PROVBRIDGE_FUZZ_CXX
    NAMES clang++ clang++-19 clang++-18 clang++-17 clang++-16 clang++-15 clang++-14
    DOC "clang++ used for the libFuzzer target")
  if(NOT PROVBRIDGE_FUZZ_CXX)
    set(PROVBRIDGE_FUZZ_STATUS "no clang++ found (Debian: apt-get install clang-14 libclang-rt-14-dev)"
        CACHE INTERNAL "")
    message(STATUS "Fuzz target: skipped, ${PROVBRIDGE_FUZZ_STATUS}")
    return()
  endif()

  # clang without its runtime package compiles but cannot link libFuzzer: try once per
  # compiler and remember the answer, so a reconfigure costs nothing.
  if(NOT PROVBRIDGE_FUZZ_CHECKED STREQUAL PROVBRIDGE_FUZZ_CXX)
    set(dir ${CMAKE_BINARY_DIR}/CMakeFiles/provbridge-fuzz-check)
    file(WRITE ${dir}/check.cpp
      "#include <cstddef>\n#include <cstdint>\n"
      "extern \"C\" int LLVMFuzzerTestOneInput(const std::uint8_t*, std::size_t) { return 0; }\n")
    execute_process(
      COMMAND ${PROVBRIDGE_FUZZ_CXX} -fsanitize=fuzzer,address,undefined check.cpp -o check
      WORKING_DIRECTORY ${dir} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    if(rc EQUAL 0)
      set(works ON)
    else()
      set(works OFF)
    endif()
    set(PROVBRIDGE_FUZZ_WORKS ${works} CACHE INTERNAL "")
    set(PROVBRIDGE_FUZZ_CHECKED ${PROVBRIDGE_FUZZ_CXX} CACHE INTERNAL "")
  endif()
  if(NOT PROVBRIDGE_FUZZ_WORKS)
    set(PROVBRIDGE_FUZZ_STATUS
        "${PROVBRIDGE_FUZZ_CXX} cannot link -fsanitize=fuzzer (Debian: apt-get install libclang-rt-14-dev)"
        CACHE INTERNAL "")
    message(STATUS "Fuzz target: skipped, ${PROVBRIDGE_FUZZ_STATUS}")
    return()
  endif()

  include(ExternalProject)
  set(binary_dir ${CMAKE_BINARY_DIR}/tests/fuzz)
  set(args -DCMAKE_CXX_COMPILER=${PROVBRIDGE_FUZZ_CXX}
           -Dnlohmann_json_DIR=${nlohmann_json_DIR}
           -Dspdlog_DIR=${spdlog_DIR})
  if(CMAKE_CXX_COMPILER_LAUNCHER)
    list(APPEND args -DCMAKE_CXX_COMPILER_LAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER})
  endif()
  if(fmt_DIR)
    list(APPEND args -Dfmt_DIR=${fmt_DIR})
  endif()
  ExternalProject_Add(provbridge_fuzz
    SOURCE_DIR ${PROJECT_SOURCE_DIR}/tests/fuzz
    BINARY_DIR ${binary_dir}
    PREFIX ${CMAKE_BINARY_DIR}/tests/fuzz-prefix
    CMAKE_ARGS ${args}
    # The inner build tracks its own sources (core, transforms, the processor); running it
    # every time is what makes an edit there rebuild the fuzzer.
    BUILD_ALWAYS ON
    INSTALL_COMMAND "")
  set(PROVBRIDGE_FUZZ_BINARY ${binary_dir}/provbridge_fuzz_record CACHE INTERNAL "")
  set(PROVBRIDGE_FUZZ_STATUS "built with ${PROVBRIDGE_FUZZ_CXX}" CACHE INTERNAL "")
  message(STATUS "Fuzz target: provbridge_fuzz_record with ${PROVBRIDGE_FUZZ_CXX}")

  # The committed seeds once through the sanitized binary (no fuzzing): a second, quick check
  # of every seed with ASan and UBSan next to the unit tests.
  add_test(NAME FuzzSeedCorpus
           COMMAND ${PROVBRIDGE_FUZZ_BINARY} -runs=0 ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus
           WORKING_DIRECTORY ${binary_dir})
  set_tests_properties(FuzzSeedCorpus PROPERTIES LABELS "unit;fuzz" TIMEOUT 120)
endfunction()
