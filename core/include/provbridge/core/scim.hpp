#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace provbridge {

enum class HttpMethod { Get, Post, Put, Patch, Delete };
std::string_view to_string(HttpMethod method);

// A SCIM request as data: transforms build it, a ScimClient sends it, and a preview can print
// it. Query values are not encoded here; the client encodes them.
struct ScimRequest {
    HttpMethod method = HttpMethod::Get;
    std::string path;  // relative to the app's base URL, e.g. "/Users/abc"
    std::vector<std::pair<std::string, std::string>> query;
    std::optional<nlohmann::json> body;
};

enum class TransportStatus {
    Ok,             // an HTTP response was received (any status)
    ConnectFailed,  // DNS, refused, unreachable
    Timeout,        // connect or total timeout
    TlsError,       // certificate or handshake failure
    Failed,         // anything else below HTTP
};
std::string_view to_string(TransportStatus status);

struct ScimResponse {
    TransportStatus transport = TransportStatus::Ok;
    std::string transport_error;  // set when transport != Ok; never contains the token
    long status = 0;
    std::string body;
    std::optional<std::string> retry_after;
    std::chrono::microseconds elapsed{0};
};

// Sends SCIM requests to one app. Implementations own their connection (reused across
// calls) and are used by one thread at a time.
class ScimClient {
public:
    virtual ~ScimClient() = default;
    virtual ScimResponse send(const ScimRequest& request) = 0;
};

}  // namespace provbridge
