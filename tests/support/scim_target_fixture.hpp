#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "provbridge/consumers/curl_scim_client.hpp"
#include "provbridge/ops/local_services.hpp"

namespace provbridge::test_support {

// Starts the SCIMMY test target (tests/scim-target) once per test suite, with a random bearer
// token, and resets its store, request log and faults before every test. Derive a suite from
// it: `class MyTest : public ScimTargetTest {};`.
class ScimTargetTest : public ::testing::Test {
protected:
    static void SetUpTestSuite();
    static void TearDownTestSuite();
    void SetUp() override;

    static const std::string& token() { return token_; }
    static const std::string& base_url();  // http://127.0.0.1:P/scim/v2
    static std::string root_url();         // http://127.0.0.1:P

    // Options for a client of the target: its base URL and token, 10 s timeouts.
    static consumers::ScimClientOptions client_options();

    // The admin API (/_admin), called with the right token. Failures are test failures.
    // The last `limit` requests the target received, oldest first:
    // [{method, path, query (decoded), body, status}].
    static nlohmann::json admin_requests(int limit);
    static void admin_reset();
    // Queues a fault: {status, count, retryAfter, match, detail, scimType, delayMs}.
    static void admin_fault(const nlohmann::json& fault);

private:
    static nlohmann::json admin_call(HttpMethod method, const std::string& path,
                                     std::vector<std::pair<std::string, std::string>> query,
                                     std::optional<nlohmann::json> body, long expected_status);

    static std::unique_ptr<ops::LocalScimTarget> target_;
    static std::string token_;
    static std::string start_error_;
};

}  // namespace provbridge::test_support
