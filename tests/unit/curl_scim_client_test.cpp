#include "provbridge/consumers/curl_scim_client.hpp"

#include <cctype>
#include <string>

#include <gtest/gtest.h>

#include "provbridge/transforms/scim_protocol.hpp"

namespace provbridge::consumers {
namespace {

const std::string kBase = "https://scim.example.com/scim/v2";

ScimRequest get(std::string path, std::vector<std::pair<std::string, std::string>> query = {}) {
    ScimRequest request;
    request.path = std::move(path);
    request.query = std::move(query);
    return request;
}

// Inverse of percent-encoding, written independently of libcurl to check round trips.
std::string percent_decode(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%' && i + 2 < text.size()) {
            out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else {
            out += text[i];
        }
    }
    return out;
}

bool only_unreserved_or_escapes(std::string_view text) {
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            continue;
        }
        if (c == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
            i += 2;
            continue;
        }
        return false;
    }
    return true;
}

TEST(BuildUrl, PathWithoutQueryHasNoQuestionMark) {
    EXPECT_EQ(build_url(kBase, get("/Users")), kBase + "/Users");
    EXPECT_EQ(build_url(kBase, get("/Users/2819c223-7f76-453a-919d-413861904646")),
              kBase + "/Users/2819c223-7f76-453a-919d-413861904646");
    EXPECT_EQ(build_url(kBase, get("")), kBase);
}

TEST(BuildUrl, FilterWithQuoteAndBackslashIsPercentEncoded) {
    // What find_request builds for userName a"b\c: a JSON string literal inside the filter.
    const std::string filter = "userName eq \"a\\\"b\\\\c\"";
    EXPECT_EQ(build_url(kBase, get("/Users", {{"filter", filter}})),
              kBase + "/Users?filter=userName%20eq%20%22a%5C%22b%5C%5Cc%22");
}

TEST(BuildUrl, ReservedCharactersInValuesAreEncoded) {
    EXPECT_EQ(build_url(kBase, get("/Users", {{"filter", "a&b=c+d%e f"}})),
              kBase + "/Users?filter=a%26b%3Dc%2Bd%25e%20f");
}

TEST(BuildUrl, UnicodeIsEncodedAsUtf8Bytes) {
    EXPECT_EQ(build_url(kBase, get("/Users", {{"filter", "userName eq \"j\xC3\xBCrgen\xE2\x82\xAC\""}})),
              kBase + "/Users?filter=userName%20eq%20%22j%C3%BCrgen%E2%82%AC%22");
}

TEST(BuildUrl, KeysAreEncodedAndPairsJoinedWithAmpersand) {
    EXPECT_EQ(build_url(kBase, get("/Users", {{"filter", "x"}, {"a key&", "v=1"}, {"count", "10"}})),
              kBase + "/Users?filter=x&a%20key%26=v%3D1&count=10");
}

TEST(BuildUrl, EmptyValueKeepsTheKey) {
    EXPECT_EQ(build_url(kBase, get("/Users", {{"attributes", ""}})), kBase + "/Users?attributes=");
}

TEST(BuildUrl, PathSegmentsAreEncodedButSlashesKept) {
    EXPECT_EQ(build_url(kBase, get("/Users/a b?c#d%e/x")), kBase + "/Users/a%20b%3Fc%23d%25e/x");
    EXPECT_EQ(build_url(kBase, get("/Users/.search")), kBase + "/Users/.search");
}

TEST(BuildUrl, EveryByteRoundTrips) {
    std::string all;
    for (int c = 1; c < 256; ++c) {
        all += static_cast<char>(c);
    }
    const std::string url = build_url(kBase, get("/Users", {{"filter", all}}));
    const std::string prefix = kBase + "/Users?filter=";
    ASSERT_EQ(url.substr(0, prefix.size()), prefix);
    const std::string encoded = url.substr(prefix.size());
    EXPECT_TRUE(only_unreserved_or_escapes(encoded)) << encoded;
    EXPECT_EQ(percent_decode(encoded), all);
}

TEST(BuildUrl, FindRequestFilterSurvivesEncoding) {
    transforms::ScimPath user_name;
    user_name.attribute = "userName";
    const auto request = transforms::find_request("/Users", user_name, "o\"brien\\x\xC3\xA9");
    const std::string url = build_url(kBase, request);
    const auto query = url.substr(url.find("?filter=") + 8);
    EXPECT_EQ(percent_decode(query), request.query.front().second);
}

TEST(ScimClientOptionsFromConfig, CopiesEndpointSettingsAndTrimsTrailingSlash) {
    AppConfig app;
    app.id = "contoso";
    app.scim.base_url = "https://contoso.example/scim/v2/";
    app.scim.connect_timeout = std::chrono::milliseconds(1500);
    app.scim.timeout = std::chrono::milliseconds(9000);
    app.scim.verify_tls = false;
    app.scim.ca_file = "/etc/ssl/contoso.pem";
    const auto options = scim_client_options(app, "s3cret");
    EXPECT_EQ(options.base_url, "https://contoso.example/scim/v2");
    EXPECT_EQ(options.token, "s3cret");
    EXPECT_EQ(options.connect_timeout, std::chrono::milliseconds(1500));
    EXPECT_EQ(options.timeout, std::chrono::milliseconds(9000));
    EXPECT_FALSE(options.verify_tls);
    EXPECT_EQ(options.ca_file, "/etc/ssl/contoso.pem");
    EXPECT_EQ(options.user_agent, "provbridge/0.1");
}

ScimClientOptions options_for(std::string base_url, std::string token) {
    ScimClientOptions options;
    options.base_url = std::move(base_url);
    options.token = std::move(token);
    return options;
}

// The cases below fail inside libcurl or before it, never on the network.
TEST(CurlScimClient, NonHttpSchemeIsRefusedWithoutLeakingTheToken) {
    const std::string token = "tok-unit-5b1f0d";
    CurlScimClient client(options_for("ftp://" + token + "@127.0.0.1/scim", token));
    const auto response = client.send(get("/Users"));
    EXPECT_EQ(response.transport, TransportStatus::Failed);
    EXPECT_FALSE(response.transport_error.empty());
    EXPECT_EQ(response.transport_error.find(token), std::string::npos) << response.transport_error;
    EXPECT_EQ(response.status, 0);
    EXPECT_EQ(client.connections_opened(), 0u);
}

TEST(CurlScimClient, TokenEchoedByLibcurlIsRedacted) {
    // libcurl quotes an unknown scheme in its error text, which puts the token in it here.
    const std::string token = "tok-unit-9c2a";
    CurlScimClient client(options_for(token + "://127.0.0.1/scim", token));
    const auto response = client.send(get("/Users"));
    EXPECT_EQ(response.transport, TransportStatus::Failed);
    EXPECT_EQ(response.transport_error.find(token), std::string::npos) << response.transport_error;
    EXPECT_NE(response.transport_error.find("[redacted]"), std::string::npos)
        << response.transport_error;
}

TEST(CurlScimClient, RedactionTerminatesWhenTheMaskContainsTheToken) {
    CurlScimClient client(options_for("re://127.0.0.1/scim", "re"));
    const auto response = client.send(get("/Users"));
    EXPECT_EQ(response.transport, TransportStatus::Failed);
    EXPECT_NE(response.transport_error.find("[redacted]"), std::string::npos)
        << response.transport_error;
}

TEST(CurlScimClient, BodyThatIsNotUtf8IsAFailedResponseNotAnException) {
    CurlScimClient client(options_for("http://127.0.0.1:9/scim/v2", "unit-token"));
    ScimRequest request = get("/Users");
    request.method = HttpMethod::Post;
    request.body = nlohmann::json{{"userName", std::string("bad\xFF")}};
    ScimResponse response;
    EXPECT_NO_THROW(response = client.send(request));
    EXPECT_EQ(response.transport, TransportStatus::Failed);
    EXPECT_NE(response.transport_error.find("cannot be serialised"), std::string::npos)
        << response.transport_error;
}

TEST(CurlScimClient, MovedFromClientFailsInsteadOfCrashing) {
    CurlScimClient first(options_for("ftp://127.0.0.1", "t"));
    CurlScimClient second(std::move(first));
    const auto response = first.send(get("/Users"));  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(response.transport, TransportStatus::Failed);
    EXPECT_EQ(second.send(get("/Users")).transport, TransportStatus::Failed);
}

}  // namespace
}  // namespace provbridge::consumers
