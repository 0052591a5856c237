#include "browser_check.hpp"

#include <sys/wait.h>

#include <filesystem>

#include "provbridge/ops/process.hpp"

namespace provbridge::test_support {

BrowserCheck run_dashboard_check(const std::vector<std::string>& args) {
    ops::ChildProcess::Options options;
    options.argv = {"node", std::string(PROVBRIDGE_SOURCE_DIR) + "/tests/browser/dashboard_check.mjs"};
    options.argv.insert(options.argv.end(), args.begin(), args.end());
    options.merge_stderr = true;
    ops::ChildProcess check(std::move(options));
    BrowserCheck out;
    while (auto line = check.read_line(std::chrono::minutes(5))) {
        out.transcript += *line + "\n";
        auto doc = nlohmann::json::parse(*line, nullptr, false);
        if (!doc.is_discarded() && doc.is_object() && doc.contains("ok")) out.result = doc;
    }
    const auto status = check.wait(std::chrono::seconds(30));
    out.exited_zero = status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0;
    return out;
}

std::string artifact_path(const std::string& name) {
    std::filesystem::create_directories(PROVBRIDGE_ARTIFACT_DIR);
    const std::string path = std::string(PROVBRIDGE_ARTIFACT_DIR) + "/" + name;
    std::filesystem::remove(path);
    return path;
}

}  // namespace provbridge::test_support
