#include "provbridge/ops/test_connection.hpp"

#include <regex>
#include <string>

#include <gtest/gtest.h>

#include "fake_scim_client.hpp"

namespace provbridge::ops {
namespace {

using test_support::FakeScimClient;
using nlohmann::json;

const std::string kGuid = "0b6f2c8e-3d4a-4f6b-9a51-7c2e8d9f1a30";

bool has(const std::string& text, const std::string& needle) {
    return text.find(needle) != std::string::npos;
}

bool any_detail_has(const ConnectionVerdict& v, const std::string& needle) {
    for (const auto& d : v.details) {
        if (has(d, needle)) {
            return true;
        }
    }
    return false;
}

class TestConnectionTest : public ::testing::Test {
protected:
    ConnectionVerdict run(ScimResponse response) {
        if (response.elapsed.count() == 0) {
            response.elapsed = std::chrono::milliseconds(12);
        }
        client_.push(std::move(response));
        auto verdict = test_connection(client_, kGuid);
        EXPECT_EQ(client_.requests().size(), 1u);
        EXPECT_EQ(verdict.summary.find('\n'), std::string::npos) << verdict.summary;
        EXPECT_FALSE(verdict.summary.empty());
        return verdict;
    }
    FakeScimClient client_;
};

TEST_F(TestConnectionTest, SendsEntraStyleFilterForTheGuid) {
    run(FakeScimClient::list());
    const auto requests = client_.requests();
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].method, HttpMethod::Get);
    EXPECT_EQ(requests[0].path, "/Users");
    ASSERT_EQ(requests[0].query.size(), 1u);
    EXPECT_EQ(requests[0].query[0].first, "filter");
    EXPECT_EQ(requests[0].query[0].second, "userName eq \"" + kGuid + "\"");
    EXPECT_FALSE(requests[0].body.has_value());
}

TEST_F(TestConnectionTest, EmptyListResponseIsOk) {
    const auto v = run(FakeScimClient::list());
    EXPECT_TRUE(v.ok);
    EXPECT_EQ(v.http_status, 200);
    EXPECT_EQ(v.elapsed, std::chrono::milliseconds(12));
    EXPECT_EQ(v.summary, "The SCIM endpoint answered 200 with an empty ListResponse in 12 ms");
    EXPECT_TRUE(any_detail_has(v, "userName eq \"" + kGuid + "\""));
    EXPECT_FALSE(any_detail_has(v, "warning"));
}

TEST_F(TestConnectionTest, EmptyListWithoutListResponseSchemaIsOkWithAWarning) {
    const auto v = run(FakeScimClient::json(200, {{"totalResults", 0}, {"Resources", json::array()}}));
    EXPECT_TRUE(v.ok);
    EXPECT_TRUE(any_detail_has(v, "warning"));
}

TEST_F(TestConnectionTest, UnauthorizedSaysTheTokenWasRejected) {
    const auto v = run(FakeScimClient::error(401, "Missing or invalid bearer token"));
    EXPECT_FALSE(v.ok);
    EXPECT_EQ(v.http_status, 401);
    EXPECT_TRUE(has(v.summary, "The secret token was rejected (HTTP 401)")) << v.summary;
    EXPECT_TRUE(any_detail_has(v, "Missing or invalid bearer token"));
}

TEST_F(TestConnectionTest, ForbiddenSaysTheTokenWasRejected) {
    const auto v = run(FakeScimClient::error(403, "no"));
    EXPECT_FALSE(v.ok);
    EXPECT_TRUE(has(v.summary, "The secret token was rejected (HTTP 403)")) << v.summary;
    EXPECT_TRUE(has(v.summary, "permissions")) << v.summary;
}

TEST_F(TestConnectionTest, ConnectionRefusedPointsAtHostAndPort) {
    const auto v = run(FakeScimClient::transport_failure(
        TransportStatus::ConnectFailed,
        "Failed to connect to 127.0.0.1 port 9 after 0 ms: Connection refused"));
    EXPECT_FALSE(v.ok);
    EXPECT_EQ(v.http_status, 0);
    EXPECT_TRUE(has(v.summary, "connection refused")) << v.summary;
    EXPECT_TRUE(has(v.summary, "port 9")) << v.summary;
    EXPECT_TRUE(has(v.summary, "base_url")) << v.summary;
}

TEST_F(TestConnectionTest, DnsFailureIsToldApartFromRefused) {
    const auto v = run(FakeScimClient::transport_failure(TransportStatus::ConnectFailed,
                                                         "Could not resolve host: scim.invalid"));
    EXPECT_FALSE(v.ok);
    EXPECT_TRUE(has(v.summary, "Could not resolve the SCIM host")) << v.summary;
    EXPECT_TRUE(has(v.summary, "scim.invalid")) << v.summary;
    EXPECT_FALSE(has(v.summary, "refused")) << v.summary;
}

TEST_F(TestConnectionTest, TlsFailureSuggestsSchemeCaFileAndVerifyTls) {
    const auto v = run(FakeScimClient::transport_failure(
        TransportStatus::TlsError, "SSL certificate problem: self-signed certificate"));
    EXPECT_FALSE(v.ok);
    EXPECT_TRUE(has(v.summary, "TLS")) << v.summary;
    EXPECT_TRUE(has(v.summary, "self-signed")) << v.summary;
    EXPECT_TRUE(has(v.summary, "ca_file")) << v.summary;
    EXPECT_TRUE(has(v.summary, "verify_tls")) << v.summary;
    EXPECT_TRUE(has(v.summary, "base_url")) << v.summary;
}

TEST_F(TestConnectionTest, TimeoutSaysNoAnswerInTime) {
    const auto v = run(FakeScimClient::transport_failure(
        TransportStatus::Timeout, "Operation timed out after 300 milliseconds with 0 bytes received"));
    EXPECT_FALSE(v.ok);
    EXPECT_TRUE(has(v.summary, "did not answer in time")) << v.summary;
    EXPECT_TRUE(has(v.summary, "timeout")) << v.summary;
}

TEST_F(TestConnectionTest, OtherTransportFailureMentionsBaseUrl) {
    const auto v = run(FakeScimClient::transport_failure(TransportStatus::Failed,
                                                         "Recv failure:\nConnection reset by peer"));
    EXPECT_FALSE(v.ok);
    EXPECT_TRUE(has(v.summary, "Connection reset by peer")) << v.summary;
    EXPECT_TRUE(has(v.summary, "base_url")) << v.summary;
}

TEST_F(TestConnectionTest, NotFoundPointsAtTheScimRoot) {
    const auto v = run(FakeScimClient::error(404, "Endpoint Not Found"));
    EXPECT_FALSE(v.ok);
    EXPECT_EQ(v.http_status, 404);
    EXPECT_TRUE(has(v.summary, "no /Users endpoint")) << v.summary;
    EXPECT_TRUE(has(v.summary, "check the base URL, it should end in the SCIM root such as /scim/v2"))
        << v.summary;
}

TEST_F(TestConnectionTest, NonJsonBodyIsNotScimCompliant) {
    const auto v = run(FakeScimClient::http(200, "<html><body>Welcome\n</body></html>"));
    EXPECT_FALSE(v.ok);
    EXPECT_TRUE(has(v.summary, "not SCIM-compliant: response is not JSON")) << v.summary;
    EXPECT_TRUE(any_detail_has(v, "<html><body>Welcome"));
}

TEST_F(TestConnectionTest, JsonWithoutTotalResultsIsNotScimCompliant) {
    const auto v = run(FakeScimClient::json(200, {{"users", json::array()}}));
    EXPECT_FALSE(v.ok);
    EXPECT_TRUE(has(v.summary, "not SCIM-compliant: ListResponse has no integer totalResults"))
        << v.summary;
}

TEST_F(TestConnectionTest, SuccessOtherThan200IsNotScimCompliant) {
    const auto v = run(FakeScimClient::http(204));
    EXPECT_FALSE(v.ok);
    EXPECT_EQ(v.http_status, 204);
    EXPECT_TRUE(has(v.summary, "not SCIM-compliant")) << v.summary;
    EXPECT_TRUE(has(v.summary, "HTTP 204")) << v.summary;
}

TEST_F(TestConnectionTest, MatchesForARandomGuidMeanTheFilterIsIgnored) {
    const json users = json::array({{{"id", "1"}, {"userName", "a"}},
                                    {{"id", "2"}, {"userName", "b"}},
                                    {{"id", "3"}, {"userName", "c"}}});
    const auto v = run(FakeScimClient::list(users));
    EXPECT_FALSE(v.ok);
    EXPECT_EQ(v.http_status, 200);
    EXPECT_TRUE(has(v.summary, "The filter is not applied by the server: a random GUID matched 3 users"))
        << v.summary;
}

TEST_F(TestConnectionTest, TotalResultsWithoutResourcesStillCountsAsMatches) {
    const auto v = run(FakeScimClient::list(json::array(), 1));
    EXPECT_FALSE(v.ok);
    EXPECT_TRUE(has(v.summary, "a random GUID matched 1 user ")) << v.summary;
}

TEST_F(TestConnectionTest, ServiceUnavailableReportsStatusAndRetryAfter) {
    auto response = FakeScimClient::error(503, "maintenance");
    response.retry_after = "7";
    const auto v = run(response);
    EXPECT_FALSE(v.ok);
    EXPECT_EQ(v.http_status, 503);
    EXPECT_TRUE(has(v.summary, "failed with HTTP 503 (ServiceUnavailable)")) << v.summary;
    EXPECT_TRUE(any_detail_has(v, "Retry-After: 7"));
    EXPECT_TRUE(any_detail_has(v, "maintenance"));
}

TEST_F(TestConnectionTest, InternalServerErrorIsReported) {
    const auto v = run(FakeScimClient::http(500, "boom"));
    EXPECT_FALSE(v.ok);
    EXPECT_TRUE(has(v.summary, "failed with HTTP 500")) << v.summary;
}

TEST_F(TestConnectionTest, RejectedFilterSaysFiltersMustBeSupported) {
    const auto v = run(FakeScimClient::error(400, "bad filter", "invalidFilter"));
    EXPECT_FALSE(v.ok);
    EXPECT_TRUE(has(v.summary, "rejected the filter query (HTTP 400 invalidFilter)")) << v.summary;
}

TEST_F(TestConnectionTest, OtherClientErrorIsReported) {
    const auto v = run(FakeScimClient::http(405));
    EXPECT_FALSE(v.ok);
    EXPECT_TRUE(has(v.summary, "refused GET /Users (HTTP 405)")) << v.summary;
}

TEST_F(TestConnectionTest, RedirectIsNotFollowed) {
    const auto v = run(FakeScimClient::http(302));
    EXPECT_FALSE(v.ok);
    EXPECT_TRUE(has(v.summary, "redirected (HTTP 302)")) << v.summary;
    EXPECT_TRUE(has(v.summary, "base_url")) << v.summary;
}

TEST_F(TestConnectionTest, ThrottlingIsReported) {
    const auto v = run(FakeScimClient::error(429, "slow down"));
    EXPECT_FALSE(v.ok);
    EXPECT_TRUE(has(v.summary, "throttling")) << v.summary;
}

TEST(RandomGuid, IsAVersion4Uuid) {
    const std::regex v4("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
    const auto a = random_guid();
    const auto b = random_guid();
    EXPECT_TRUE(std::regex_match(a, v4)) << a;
    EXPECT_TRUE(std::regex_match(b, v4)) << b;
    EXPECT_NE(a, b);
}

}  // namespace
}  // namespace provbridge::ops
