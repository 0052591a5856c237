#pragma once

#include <chrono>
#include <memory>
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

// Told of every request an app's clients sent and what came back (for metrics). Called from
// the lanes' threads at once: implementations are thread-safe and must not block.
class ScimObserver {
public:
    virtual ~ScimObserver() = default;
    virtual void observe(std::string_view app, HttpMethod method, const ScimResponse& response) = 0;
};

// A ScimClient that tells an observer of each request it passes on.
class ObservedScimClient final : public ScimClient {
public:
    ObservedScimClient(std::string app, std::unique_ptr<ScimClient> inner, ScimObserver& observer)
        : app_(std::move(app)), inner_(std::move(inner)), observer_(observer) {}
    ScimResponse send(const ScimRequest& request) override {
        auto response = inner_->send(request);
        observer_.observe(app_, request.method, response);
        return response;
    }

private:
    std::string app_;
    std::unique_ptr<ScimClient> inner_;
    ScimObserver& observer_;
};

}  // namespace provbridge
