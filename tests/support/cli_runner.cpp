#include "cli_runner.hpp"

#include <sys/wait.h>

#include "provbridge/ops/process.hpp"

namespace provbridge::test_support {

CliResult run_cli(std::vector<std::string> args, std::chrono::seconds timeout, std::vector<std::string> env,
                  std::string stdin_file) {
    ops::ChildProcess::Options options;
    options.argv = {PROVBRIDGE_BINARY};
    options.argv.insert(options.argv.end(), args.begin(), args.end());
    options.merge_stderr = true;
    options.extra_env = std::move(env);
    options.stdin_file = std::move(stdin_file);
    ops::ChildProcess process(std::move(options));
    CliResult result;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (auto line = process.read_line(std::chrono::duration_cast<std::chrono::milliseconds>(
               deadline - std::chrono::steady_clock::now()))) {
        result.output += *line + "\n";
    }
    const auto status = process.wait(std::chrono::seconds(5));
    if (status && WIFEXITED(*status)) result.exit_code = WEXITSTATUS(*status);
    return result;
}

}  // namespace provbridge::test_support
