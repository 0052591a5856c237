#include "scim_target_fixture.hpp"

#include <exception>
#include <optional>

#include "provbridge/core/json_util.hpp"
#include "provbridge/ops/test_connection.hpp"

namespace provbridge::test_support {

std::unique_ptr<ops::LocalScimTarget> ScimTargetTest::target_;
std::string ScimTargetTest::token_;
std::string ScimTargetTest::start_error_;

void ScimTargetTest::SetUpTestSuite() {
    // Random per run so a test asserting "the token never appears" cannot pass by accident.
    token_ = "pb-test-token-" + ops::random_guid();
    start_error_.clear();
    try {
        target_ = std::make_unique<ops::LocalScimTarget>(ops::default_scim_target_script(), token_);
    } catch (const std::exception& e) {
        // Reported by SetUp so every test of the suite fails with the reason.
        start_error_ = e.what();
        target_.reset();
    }
}

void ScimTargetTest::TearDownTestSuite() { target_.reset(); }

void ScimTargetTest::SetUp() {
    ASSERT_TRUE(target_) << "SCIM target not running: " << start_error_;
    admin_reset();
}

const std::string& ScimTargetTest::base_url() { return target_->base_url(); }

std::string ScimTargetTest::root_url() { return target_->root_url(); }

consumers::ScimClientOptions ScimTargetTest::client_options() {
    consumers::ScimClientOptions options;
    options.base_url = base_url();
    options.token = token_;
    options.connect_timeout = std::chrono::seconds(10);
    options.timeout = std::chrono::seconds(10);
    return options;
}

nlohmann::json ScimTargetTest::admin_call(HttpMethod method, const std::string& path,
                                          std::vector<std::pair<std::string, std::string>> query,
                                          std::optional<nlohmann::json> body,
                                          long expected_status) {
    consumers::ScimClientOptions options = client_options();
    options.base_url = root_url();
    consumers::CurlScimClient client(options);
    ScimRequest request;
    request.method = method;
    request.path = path;
    request.query = std::move(query);
    request.body = std::move(body);
    const ScimResponse response = client.send(request);
    EXPECT_EQ(response.transport, TransportStatus::Ok) << response.transport_error;
    EXPECT_EQ(response.status, expected_status) << path << ": " << response.body;
    if (response.body.empty()) {
        return nullptr;
    }
    auto doc = parse_json(response.body);
    EXPECT_TRUE(doc.ok()) << path << ": " << response.body;
    return doc ? std::move(doc).value() : nlohmann::json();
}

nlohmann::json ScimTargetTest::admin_requests(int limit) {
    auto log = admin_call(HttpMethod::Get, "/_admin/requests", {{"limit", std::to_string(limit)}},
                          std::nullopt, 200);
    return log.is_array() ? log : nlohmann::json::array();
}

void ScimTargetTest::admin_reset() {
    admin_call(HttpMethod::Post, "/_admin/reset", {}, nlohmann::json::object(), 204);
}

void ScimTargetTest::admin_fault(const nlohmann::json& fault) {
    admin_call(HttpMethod::Post, "/_admin/faults", {}, fault, 201);
}

}  // namespace provbridge::test_support
