#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "provbridge/core/config.hpp"
#include "provbridge/core/scim.hpp"

namespace provbridge::consumers {

struct ScimClientOptions {
    std::string base_url;  // SCIM root without trailing slash, e.g. https://host/scim/v2
    std::string token;     // bearer token; only ever put in the Authorization header
    std::chrono::milliseconds connect_timeout{5000};
    std::chrono::milliseconds timeout{30000};
    bool verify_tls = true;
    std::string ca_file;  // PEM bundle used instead of the system store when set
    std::string user_agent = "provbridge/0.1";
};

// Options for one app's endpoint; the token is resolved by the caller (resolve_app_token).
ScimClientOptions scim_client_options(const AppConfig& app, const std::string& token);

// The URL a request is sent to: base + path + "?" + query. Path segments and every query key
// and value are percent-encoded with curl_easy_escape ('/' between segments is kept), so
// ScimRequest carries them unencoded. Throws std::bad_alloc only when memory runs out.
std::string build_url(const std::string& base, const ScimRequest& request);

// ScimClient over one libcurl easy handle.
//
// The handle is reused for every request so the TCP/TLS connection to the app stays open
// between calls. Not thread-safe: each worker lane owns its own client. send() never throws;
// failures below HTTP come back as ScimResponse::transport. Redirects are not followed, so
// the token is only ever sent to base_url, and it never appears in transport_error.
class CurlScimClient final : public ScimClient {
public:
    // Throws std::runtime_error when libcurl cannot be initialised (start-up only).
    explicit CurlScimClient(ScimClientOptions options);
    ~CurlScimClient() override;
    CurlScimClient(const CurlScimClient&) = delete;
    CurlScimClient& operator=(const CurlScimClient&) = delete;
    CurlScimClient(CurlScimClient&&) noexcept;
    CurlScimClient& operator=(CurlScimClient&&) noexcept;

    ScimResponse send(const ScimRequest& request) override;

    // New connections opened so far (CURLINFO_NUM_CONNECTS summed over requests); stays at 1
    // while the server keeps the connection alive.
    std::uint64_t connections_opened() const;

    const ScimClientOptions& options() const { return options_; }

private:
    struct Handle;  // the curl easy handle and per-request buffers, defined in the .cpp
    ScimClientOptions options_;
    std::unique_ptr<Handle> handle_;
};

}  // namespace provbridge::consumers
