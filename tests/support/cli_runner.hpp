#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace provbridge::test_support {

// What `provbridge <args>` did: its exit code (-1 when it did not exit normally in time) and
// stdout and stderr, in order.
struct CliResult {
    int exit_code = -1;
    std::string output;
};

// Runs the real binary to its end, waiting at most `timeout` for its output to close.
CliResult run_cli(std::vector<std::string> args, std::chrono::seconds timeout = std::chrono::seconds(120),
                  std::vector<std::string> env = {}, std::string stdin_file = {});

}  // namespace provbridge::test_support
