#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "provbridge/consumers/curl_scim_client.hpp"
#include "provbridge/core/json_util.hpp"
#include "provbridge/ops/process.hpp"
#include "provbridge/ops/test_connection.hpp"
#include "provbridge/transforms/scim_protocol.hpp"
#include "scim_target_fixture.hpp"

namespace provbridge {
namespace {

using consumers::CurlScimClient;
using nlohmann::json;

// A TCP socket that listens but never accepts or answers: the kernel completes the
// handshake from the backlog, so a client connects, sends, and then waits for nothing.
class SilentListener {
public:
    SilentListener() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
        if (fd_ < 0) {
            throw std::runtime_error("socket() failed");
        }
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = 0;
        socklen_t len = sizeof addr;
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
            ::listen(fd_, 8) != 0 ||
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
            ::close(fd_);
            throw std::runtime_error("cannot listen on 127.0.0.1");
        }
        port_ = ntohs(addr.sin_port);
    }
    ~SilentListener() { ::close(fd_); }
    SilentListener(const SilentListener&) = delete;
    SilentListener& operator=(const SilentListener&) = delete;
    int port() const { return port_; }

private:
    int fd_;
    int port_ = 0;
};

class ScimClientIntegrationTest : public test_support::ScimTargetTest {
protected:
    static json body_of(const ScimResponse& response) {
        auto doc = parse_json(response.body);
        EXPECT_TRUE(doc.ok()) << response.body;
        return doc ? std::move(doc).value() : json();
    }

    static std::string create_user(CurlScimClient& client, const std::string& user_name,
                                   bool active = true) {
        const auto response = client.send(transforms::create_request(
            "/Users", {{"schemas", {"urn:ietf:params:scim:schemas:core:2.0:User"}},
                       {"userName", user_name},
                       {"active", active}}));
        EXPECT_EQ(response.transport, TransportStatus::Ok) << response.transport_error;
        EXPECT_EQ(response.status, 201) << response.body;
        const auto body = body_of(response);
        return body.is_object() ? body.value("id", "") : "";
    }

    static ScimRequest get(const std::string& path) {
        ScimRequest request;
        request.path = path;
        return request;
    }

    static void expect_no_token(const std::string& text, const std::string& other_token = {}) {
        EXPECT_EQ(text.find(token()), std::string::npos) << text;
        if (!other_token.empty()) {
            EXPECT_EQ(text.find(other_token), std::string::npos) << text;
        }
    }

    static transforms::ScimPath user_name_path() {
        transforms::ScimPath path;
        path.attribute = "userName";
        return path;
    }
};

TEST_F(ScimClientIntegrationTest, FilterWithQuoteBackslashAndUnicodeFindsTheUser) {
    CurlScimClient client(client_options());
    const std::string name = "o\"brien\\x-j\xC3\xBCrgen-\xE2\x82\xAC@example.com";
    const std::string id = create_user(client, name);
    ASSERT_FALSE(id.empty());

    const ScimRequest find = transforms::find_request("/Users", user_name_path(), name);
    const auto response = client.send(find);
    ASSERT_EQ(response.transport, TransportStatus::Ok) << response.transport_error;
    ASSERT_EQ(response.status, 200) << response.body;
    const auto list = transforms::parse_list_response(response.body);
    ASSERT_TRUE(list.valid) << list.error;
    EXPECT_EQ(list.total_results, 1);
    ASSERT_EQ(list.resources.size(), 1u);
    EXPECT_EQ(list.resources[0].value("id", ""), id);
    EXPECT_EQ(list.resources[0].value("userName", ""), name);

    // The target decodes what it received: it must be exactly the filter we built, and the
    // GET that followed a POST on the same handle must really be a GET without a body.
    const auto log = admin_requests(2);
    ASSERT_EQ(log.size(), 2u) << log.dump();
    EXPECT_EQ(log[0]["method"], "POST");
    EXPECT_EQ(log[0]["body"]["userName"], name);
    EXPECT_EQ(log[1]["method"], "GET");
    EXPECT_EQ(log[1]["path"], "/Users");
    EXPECT_EQ(log[1]["query"]["filter"], find.query.front().second);
    EXPECT_TRUE(log[1]["body"].is_null()) << log[1].dump();
}

TEST_F(ScimClientIntegrationTest, FilterForAnotherNameFindsNothing) {
    CurlScimClient client(client_options());
    ASSERT_FALSE(create_user(client, "a\"b@example.com").empty());
    const auto response =
        client.send(transforms::find_request("/Users", user_name_path(), "a\\\"b@example.com"));
    ASSERT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(transforms::parse_list_response(response.body).total_results, 0);
}

TEST_F(ScimClientIntegrationTest, PatchActiveFalseDisablesTheUser) {
    CurlScimClient client(client_options());
    const std::string id = create_user(client, "patch.me@example.com", true);
    ASSERT_FALSE(id.empty());

    const auto patched =
        client.send(transforms::patch_request("/Users", id, transforms::disable_operations()));
    ASSERT_EQ(patched.transport, TransportStatus::Ok) << patched.transport_error;
    EXPECT_EQ(patched.status, 200) << patched.body;
    EXPECT_EQ(transforms::classify(patched).kind, transforms::ResponseClass::Success);

    const auto read = client.send(get("/Users/" + id));
    ASSERT_EQ(read.status, 200) << read.body;
    const auto user = body_of(read);
    ASSERT_TRUE(user.contains("active")) << user.dump();
    EXPECT_EQ(user["active"], json(false));

    const auto log = admin_requests(2);
    ASSERT_EQ(log.size(), 2u);
    EXPECT_EQ(log[0]["method"], "PATCH");
    EXPECT_EQ(log[0]["path"], "/Users/" + id);
    EXPECT_EQ(log[0]["body"]["Operations"][0]["op"], "replace");
    EXPECT_EQ(log[0]["body"]["Operations"][0]["value"], json(false));
    EXPECT_EQ(log[1]["method"], "GET");
    EXPECT_TRUE(log[1]["body"].is_null());
}

TEST_F(ScimClientIntegrationTest, DeleteThenDeleteAgainIsNotFound) {
    CurlScimClient client(client_options());
    const std::string id = create_user(client, "delete.me@example.com");
    ASSERT_FALSE(id.empty());

    const auto first = client.send(transforms::delete_request("/Users", id));
    ASSERT_EQ(first.transport, TransportStatus::Ok) << first.transport_error;
    EXPECT_EQ(first.status, 204) << first.body;
    EXPECT_TRUE(first.body.empty());

    const auto second = client.send(transforms::delete_request("/Users", id));
    EXPECT_EQ(second.status, 404) << second.body;
    EXPECT_EQ(transforms::classify(second).kind, transforms::ResponseClass::NotFound);

    EXPECT_EQ(client.send(get("/Users/" + id)).status, 404);
}

TEST_F(ScimClientIntegrationTest, WrongTokenIsUnauthorized) {
    auto options = client_options();
    const std::string wrong = "wrong-token-" + ops::random_guid();
    options.token = wrong;
    CurlScimClient client(options);
    const auto response = client.send(get("/Users"));
    ASSERT_EQ(response.transport, TransportStatus::Ok) << response.transport_error;
    EXPECT_EQ(response.status, 401);
    EXPECT_EQ(transforms::classify(response).kind, transforms::ResponseClass::Unauthorized);
    expect_no_token(response.body, wrong);
    expect_no_token(transforms::classify(response).detail, wrong);
}

TEST_F(ScimClientIntegrationTest, ClosedPortIsConnectFailed) {
    auto options = client_options();
    options.base_url = "http://127.0.0.1:" + std::to_string(ops::pick_free_port()) + "/scim/v2";
    CurlScimClient client(options);
    const auto response = client.send(get("/Users"));
    EXPECT_EQ(response.transport, TransportStatus::ConnectFailed) << response.transport_error;
    EXPECT_EQ(response.status, 0);
    EXPECT_FALSE(response.transport_error.empty());
    expect_no_token(response.transport_error);
    EXPECT_EQ(transforms::classify(response).kind, transforms::ResponseClass::TransportError);
}

TEST_F(ScimClientIntegrationTest, ServiceUnavailableCarriesRetryAfter) {
    admin_fault({{"status", 503}, {"count", 1}, {"retryAfter", "7"}, {"match", "GET /Users"}});
    CurlScimClient client(client_options());
    const auto failed = client.send(get("/Users"));
    ASSERT_EQ(failed.transport, TransportStatus::Ok) << failed.transport_error;
    EXPECT_EQ(failed.status, 503);
    EXPECT_EQ(failed.retry_after, std::optional<std::string>("7"));
    const auto verdict = transforms::classify(failed);
    EXPECT_EQ(verdict.kind, transforms::ResponseClass::ServerError);
    EXPECT_EQ(verdict.code, "ServiceUnavailable");
    EXPECT_TRUE(verdict.retryable);

    // The fault is used up, and a header from the previous response must not linger.
    const auto next = client.send(get("/Users"));
    EXPECT_EQ(next.status, 200) << next.body;
    EXPECT_FALSE(next.retry_after.has_value());
}

TEST_F(ScimClientIntegrationTest, OneConnectionServesEveryRequest) {
    CurlScimClient client(client_options());
    EXPECT_EQ(client.connections_opened(), 0u);
    const std::string id = create_user(client, "reuse@example.com");
    ASSERT_FALSE(id.empty());
    EXPECT_EQ(client.connections_opened(), 1u);

    EXPECT_EQ(client.send(get("/Users/" + id)).status, 200);
    EXPECT_EQ(client.send(transforms::patch_request("/Users", id, transforms::disable_operations()))
                  .status,
              200);
    EXPECT_EQ(client.send(transforms::find_request("/Users", user_name_path(), "reuse@example.com"))
                  .status,
              200);
    EXPECT_EQ(client.send(transforms::delete_request("/Users", id)).status, 204);
    EXPECT_EQ(client.send(get("/Users/" + id)).status, 404);
    EXPECT_EQ(client.connections_opened(), 1u);
}

TEST_F(ScimClientIntegrationTest, SilentServerTimesOutQuickly) {
    SilentListener silent;
    auto options = client_options();
    options.base_url = "http://127.0.0.1:" + std::to_string(silent.port()) + "/scim/v2";
    options.timeout = std::chrono::milliseconds(300);
    CurlScimClient client(options);
    const auto started = std::chrono::steady_clock::now();
    const auto response = client.send(get("/Users"));
    const auto took = std::chrono::steady_clock::now() - started;
    EXPECT_EQ(response.transport, TransportStatus::Timeout) << response.transport_error;
    EXPECT_GE(response.elapsed, std::chrono::milliseconds(250));
    EXPECT_LT(took, std::chrono::seconds(3));
    expect_no_token(response.transport_error);
}

TEST_F(ScimClientIntegrationTest, TestConnectionAgainstTheTargetIsOk) {
    CurlScimClient client(client_options());
    const std::string guid = ops::random_guid();
    const auto verdict = ops::test_connection(client, guid);
    EXPECT_TRUE(verdict.ok) << verdict.summary;
    EXPECT_EQ(verdict.http_status, 200);
    EXPECT_NE(verdict.summary.find("answered 200 with an empty ListResponse"), std::string::npos)
        << verdict.summary;
    const auto log = admin_requests(1);
    ASSERT_EQ(log.size(), 1u);
    EXPECT_EQ(log[0]["query"]["filter"], "userName eq \"" + guid + "\"");
    expect_no_token(verdict.summary);
    for (const auto& detail : verdict.details) {
        expect_no_token(detail);
    }
}

TEST_F(ScimClientIntegrationTest, TestConnectionWithWrongTokenSaysItWasRejected) {
    auto options = client_options();
    const std::string wrong = "wrong-token-" + ops::random_guid();
    options.token = wrong;
    CurlScimClient client(options);
    const auto verdict = ops::test_connection(client, ops::random_guid());
    EXPECT_FALSE(verdict.ok);
    EXPECT_EQ(verdict.http_status, 401);
    EXPECT_NE(verdict.summary.find("The secret token was rejected (HTTP 401)"), std::string::npos)
        << verdict.summary;
    expect_no_token(verdict.summary, wrong);
    for (const auto& detail : verdict.details) {
        expect_no_token(detail, wrong);
    }
}

TEST_F(ScimClientIntegrationTest, TestConnectionWithoutScimRootIsNotFound) {
    auto options = client_options();
    options.base_url = root_url();
    CurlScimClient client(options);
    const auto verdict = ops::test_connection(client, ops::random_guid());
    EXPECT_FALSE(verdict.ok);
    EXPECT_EQ(verdict.http_status, 404);
    EXPECT_NE(verdict.summary.find("/scim/v2"), std::string::npos) << verdict.summary;
}

TEST_F(ScimClientIntegrationTest, TestConnectionToClosedPortSaysConnectionRefused) {
    auto options = client_options();
    options.base_url = "http://127.0.0.1:" + std::to_string(ops::pick_free_port()) + "/scim/v2";
    CurlScimClient client(options);
    const auto verdict = ops::test_connection(client, ops::random_guid());
    EXPECT_FALSE(verdict.ok);
    EXPECT_EQ(verdict.http_status, 0);
    EXPECT_NE(verdict.summary.find("connection refused"), std::string::npos) << verdict.summary;
    expect_no_token(verdict.summary);
}

}  // namespace
}  // namespace provbridge
