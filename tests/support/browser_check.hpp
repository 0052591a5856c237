#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace provbridge::test_support {

// What tests/browser/dashboard_check.mjs (headless Debian Chromium) reported: its last JSON
// line with an "ok" field, everything it printed, and whether it exited 0 in time.
struct BrowserCheck {
    nlohmann::json result;
    std::string transcript;
    bool exited_zero = false;
};

// Runs the check with `args` (--url, --token, --app, ...) to its end.
BrowserCheck run_dashboard_check(const std::vector<std::string>& args);

// Where a test keeps a screenshot: the artifact directory (created), the file removed first.
std::string artifact_path(const std::string& name);

}  // namespace provbridge::test_support
