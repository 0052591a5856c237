#include "provbridge/ops/test_connection.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <string_view>

#include "provbridge/core/json_util.hpp"
#include "provbridge/transforms/scim_protocol.hpp"

namespace provbridge::ops {
namespace {

constexpr const char* kListResponseSchema = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
constexpr std::size_t kBodyExcerpt = 200;

// Summaries are printed as one line, and server or curl text may carry line breaks.
std::string one_line(std::string text) {
    for (char& c : text) {
        if (c == '\r' || c == '\n' || c == '\t') {
            c = ' ';
        }
    }
    return text;
}

std::string excerpt(const std::string& body) {
    if (body.empty()) {
        return "(empty body)";
    }
    std::string text = one_line(body.substr(0, kBodyExcerpt));
    if (body.size() > kBodyExcerpt) {
        text += "…";
    }
    return text;
}

bool contains_ci(std::string_view text, std::string_view needle) {
    if (needle.size() > text.size()) {
        return false;
    }
    for (std::size_t i = 0; i + needle.size() <= text.size(); ++i) {
        bool match = true;
        for (std::size_t j = 0; j < needle.size() && match; ++j) {
            match = (static_cast<unsigned char>(text[i + j]) | 0x20u) ==
                    (static_cast<unsigned char>(needle[j]) | 0x20u);
        }
        if (match) {
            return true;
        }
    }
    return false;
}

std::string plural(std::int64_t n, const char* word) {
    return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

void transport_verdict(const ScimResponse& response, ConnectionVerdict& v) {
    const std::string why = one_line(response.transport_error.empty()
                                         ? std::string(to_string(response.transport))
                                         : response.transport_error);
    switch (response.transport) {
        case TransportStatus::ConnectFailed:
            // TransportStatus folds DNS into ConnectFailed; curl's text tells them apart and
            // the fix differs (host name vs. port/firewall/server down).
            if (contains_ci(why, "resolve")) {
                v.summary = "Could not resolve the SCIM host (" + why +
                            "): check the host name in base_url";
            } else {
                v.summary = "Could not connect to the SCIM endpoint, connection refused or "
                            "unreachable (" + why +
                            "): check the host and port in base_url and that the server is running";
            }
            break;
        case TransportStatus::Timeout:
            v.summary = "The SCIM endpoint did not answer in time (" + why +
                        "): check base_url and any firewall or proxy in between, or raise the "
                        "app's scim timeout";
            break;
        case TransportStatus::TlsError:
            v.summary = "TLS failure talking to the SCIM endpoint (" + why +
                        "): check that base_url uses the right scheme (https vs http), set "
                        "ca_file to the CA that signed the server certificate, or set "
                        "verify_tls=false for testing only";
            break;
        case TransportStatus::Failed:
        case TransportStatus::Ok:
            v.summary = "The request to the SCIM endpoint failed before any HTTP response (" +
                        why + "): check base_url";
            break;
    }
    v.details.push_back(std::string("transport: ") + std::string(to_string(response.transport)));
}

void list_verdict(const ScimResponse& response, const std::string& took, ConnectionVerdict& v) {
    const auto list = transforms::parse_list_response(response.body);
    if (!list.valid) {
        v.summary = "The SCIM endpoint is not SCIM-compliant: " + list.error +
                    " (expected a ListResponse for GET /Users?filter=…)";
        v.details.push_back("body: " + excerpt(response.body));
        return;
    }
    const auto matched = std::max<std::int64_t>(list.total_results,
                                                static_cast<std::int64_t>(list.resources.size()));
    if (matched != 0) {
        v.summary = "The filter is not applied by the server: a random GUID matched " +
                    plural(matched, "user") +
                    " (totalResults " + std::to_string(list.total_results) + ")";
        v.details.push_back("Entra relies on `userName eq` filters to match existing users; "
                            "without them every user would be created again");
        return;
    }
    v.ok = true;
    v.summary = "The SCIM endpoint answered 200 with an empty ListResponse" + took;
    if (auto doc = parse_json(response.body); doc && doc->is_object()) {
        const auto schemas = doc->find("schemas");
        const bool listed = schemas != doc->end() && schemas->is_array() &&
                            std::find(schemas->begin(), schemas->end(), kListResponseSchema) !=
                                schemas->end();
        if (!listed) {
            v.details.push_back(std::string("warning: the response does not list the schema ") +
                                kListResponseSchema);
        }
    }
}

}  // namespace

ConnectionVerdict test_connection(ScimClient& client, const std::string& random_guid) {
    transforms::ScimPath user_name;
    user_name.attribute = "userName";
    const ScimRequest request = transforms::find_request("/Users", user_name, random_guid);
    const ScimResponse response = client.send(request);

    ConnectionVerdict v;
    v.http_status = response.transport == TransportStatus::Ok ? response.status : 0;
    v.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(response.elapsed);
    const std::string took = " in " + std::to_string(v.elapsed.count()) + " ms";
    v.details.push_back("request: GET " + request.path + "?filter=" + request.query.front().second);

    if (response.transport != TransportStatus::Ok) {
        transport_verdict(response, v);
        v.details.push_back("failed after " + std::to_string(v.elapsed.count()) + " ms");
        return v;
    }

    const long s = response.status;
    const std::string http = "HTTP " + std::to_string(s);
    v.details.push_back("response: " + http + took);
    const auto verdict = transforms::classify(response);
    if (!verdict.detail.empty()) {
        v.details.push_back("server said: " + one_line(verdict.detail));
    }
    if (response.retry_after) {
        v.details.push_back("Retry-After: " + one_line(*response.retry_after));
    }

    switch (verdict.kind) {
        case transforms::ResponseClass::Success:
            if (s == 200) {
                list_verdict(response, took, v);
            } else {
                v.summary = "The SCIM endpoint is not SCIM-compliant: expected 200 with a "
                            "ListResponse, got " + http;
                v.details.push_back("body: " + excerpt(response.body));
            }
            break;
        case transforms::ResponseClass::Unauthorized:
            v.summary = "The secret token was rejected (" + http +
                        "): check the token configured for this app (token_env / token_file)";
            break;
        case transforms::ResponseClass::Forbidden:
            v.summary = "The secret token was rejected (" + http +
                        "): it was recognised but is not allowed to read /Users; check its "
                        "permissions in the target app";
            break;
        case transforms::ResponseClass::NotFound:
            v.summary = "The SCIM endpoint has no /Users endpoint (" + http +
                        "): check the base URL, it should end in the SCIM root such as /scim/v2";
            break;
        case transforms::ResponseClass::RateLimited:
            v.summary = "The SCIM endpoint is throttling requests (" + http +
                        "): the connection works, try again later";
            break;
        case transforms::ResponseClass::ServerError:
            v.summary = "The SCIM endpoint failed with " + http + " (" + verdict.code +
                        "): the server has a problem, try again later or check its logs";
            break;
        case transforms::ResponseClass::ClientError:
        case transforms::ResponseClass::Conflict:
            if (s == 400) {
                v.summary = "The SCIM endpoint rejected the filter query (" + http +
                            (verdict.scim_type.empty() ? "" : " " + verdict.scim_type) +
                            "): it must support filter=userName eq \"…\" on /Users";
            } else {
                v.summary = "The SCIM endpoint refused GET /Users (" + http +
                            "): it is not SCIM-compliant or base_url points elsewhere";
            }
            break;
        case transforms::ResponseClass::Unexpected:
        case transforms::ResponseClass::TransportError:
            if (s >= 300 && s < 400) {
                v.summary = "The SCIM endpoint redirected (" + http +
                            "): redirects are not followed so the token is never sent elsewhere; "
                            "set base_url to the final SCIM root";
            } else {
                v.summary = "The SCIM endpoint is not SCIM-compliant: unexpected " + http;
            }
            break;
    }
    return v;
}

std::string random_guid() {
    std::random_device device;
    std::array<std::uint8_t, 16> bytes{};
    for (std::size_t i = 0; i < bytes.size(); i += 4) {
        const std::uint32_t word = device();
        for (std::size_t j = 0; j < 4; ++j) {
            bytes[i + j] = static_cast<std::uint8_t>(word >> (8 * j));
        }
    }
    bytes[6] = static_cast<std::uint8_t>((bytes[6] & 0x0Fu) | 0x40u);  // version 4
    bytes[8] = static_cast<std::uint8_t>((bytes[8] & 0x3Fu) | 0x80u);  // RFC 4122 variant
    constexpr const char* kHex = "0123456789abcdef";
    std::string text;
    text.reserve(36);
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            text += '-';
        }
        text += kHex[bytes[i] >> 4];
        text += kHex[bytes[i] & 0x0Fu];
    }
    return text;
}

}  // namespace provbridge::ops
