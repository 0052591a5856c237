#include "provbridge/consumers/curl_scim_client.hpp"

#include <climits>
#include <cstddef>
#include <new>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <utility>

#include <curl/curl.h>

#include "provbridge/consumers/curl_handles.hpp"
#include "provbridge/core/redact.hpp"

namespace provbridge::consumers {
namespace {

// A SCIM list page of 1000 users is a few MB; anything far beyond that is a misbehaving
// server, and buffering it unbounded would take the whole worker down.
constexpr std::size_t kMaxResponseBody = 64u * 1024u * 1024u;

std::string escape(std::string_view text) {
    if (text.empty()) {
        return {};
    }
    if (text.size() > static_cast<std::size_t>(INT_MAX)) {
        throw std::bad_alloc();
    }
    // The handle argument is ignored by libcurl since 7.82, so no easy handle is needed.
    CurlStringPtr escaped(curl_easy_escape(nullptr, text.data(), static_cast<int>(text.size())));
    if (!escaped) {
        throw std::bad_alloc();
    }
    return std::string(escaped.get());
}

void append_header(CurlSlistPtr& list, const std::string& line) {
    curl_slist* head = curl_slist_append(list.get(), line.c_str());
    if (head == nullptr) {
        throw std::bad_alloc();
    }
    // curl_slist_append returns the existing head, or the new node when the list was empty.
    (void)list.release();
    list.reset(head);
}

CurlSlistPtr make_headers(const ScimClientOptions& options, bool with_body) {
    CurlSlistPtr list;
    append_header(list, "Authorization: Bearer " + options.token);
    append_header(list, "Accept: application/scim+json");
    if (with_body) {
        append_header(list, "Content-Type: application/scim+json; charset=utf-8");
        // Bodies are small JSON documents: waiting for 100-continue only adds a round trip.
        append_header(list, "Expect:");
    }
    return list;
}

TransportStatus transport_status_of(CURLcode code) {
    switch (code) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
            return TransportStatus::ConnectFailed;
        case CURLE_OPERATION_TIMEDOUT:
            return TransportStatus::Timeout;
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_ENGINE_NOTFOUND:
        case CURLE_SSL_ENGINE_SETFAILED:
        case CURLE_SSL_ENGINE_INITFAILED:
        case CURLE_SSL_SHUTDOWN_FAILED:
        case CURLE_SSL_CRL_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS:
        case CURLE_SSL_CLIENTCERT:
        case CURLE_USE_SSL_FAILED:
            return TransportStatus::TlsError;
        default:
            return TransportStatus::Failed;
    }
}

// Belt and braces: libcurl's messages name hosts and ports, not headers, but a token that
// also occurs in the URL must still never reach a log. Errors are rare, so the one redaction
// helper is built here rather than kept per handle.
std::string redact(std::string text, const std::string& token) { return Redactor({token}).redact(std::move(text)); }

bool starts_with_ci(std::string_view text, std::string_view prefix) {
    if (text.size() < prefix.size()) {
        return false;
    }
    for (std::size_t i = 0; i < prefix.size(); ++i) {
        const auto a = static_cast<unsigned char>(text[i]);
        const auto b = static_cast<unsigned char>(prefix[i]);
        if ((a | 0x20u) != (b | 0x20u)) {
            return false;
        }
    }
    return true;
}

std::string_view trim(std::string_view text) {
    constexpr std::string_view kSpace = " \t\r\n";
    const auto first = text.find_first_not_of(kSpace);
    if (first == std::string_view::npos) {
        return {};
    }
    const auto last = text.find_last_not_of(kSpace);
    return text.substr(first, last - first + 1);
}

}  // namespace

struct CurlScimClient::Handle {
    CurlEasyPtr easy;
    CurlSlistPtr headers_plain;
    CurlSlistPtr headers_body;
    char error[CURL_ERROR_SIZE] = {};
    // Per-request state written by the callbacks.
    std::string request_body;  // POSTFIELDS is not copied by libcurl: must outlive perform
    std::string response_body;
    std::optional<std::string> retry_after;
    bool body_too_large = false;
    std::uint64_t connections = 0;

    static std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) noexcept;
    static std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) noexcept;
    ScimResponse perform(const ScimClientOptions& options, const ScimRequest& request);
};

std::size_t CurlScimClient::Handle::on_body(char* data, std::size_t size, std::size_t count,
                                            void* user) noexcept {
    auto* self = static_cast<Handle*>(user);
    const std::size_t bytes = size * count;
    if (self->response_body.size() + bytes > kMaxResponseBody) {
        self->body_too_large = true;
        return 0;  // makes libcurl abort the transfer with CURLE_WRITE_ERROR
    }
    try {
        self->response_body.append(data, bytes);
    } catch (...) {
        return 0;
    }
    return bytes;
}

std::size_t CurlScimClient::Handle::on_header(char* data, std::size_t size, std::size_t count,
                                              void* user) noexcept {
    auto* self = static_cast<Handle*>(user);
    const std::size_t bytes = size * count;
    const std::string_view line(data, bytes);
    constexpr std::string_view kRetryAfter = "retry-after:";
    try {
        if (starts_with_ci(line, "HTTP/")) {
            // A new header block (after a 100 Continue): only the final response counts.
            self->retry_after.reset();
        } else if (starts_with_ci(line, kRetryAfter)) {
            self->retry_after = std::string(trim(line.substr(kRetryAfter.size())));
        }
    } catch (...) {
        return 0;
    }
    return bytes;
}

ScimResponse CurlScimClient::Handle::perform(const ScimClientOptions& options,
                                             const ScimRequest& request) {
    CURL* h = easy.get();
    // Reset drops every option of the previous request (method, body, custom verb) but keeps
    // the connection cache, which is what makes the connection reusable.
    curl_easy_reset(h);
    error[0] = '\0';
    response_body.clear();
    retry_after.reset();
    body_too_large = false;

    const std::string url = build_url(options.base_url, request);
    const bool has_body = request.body.has_value();
    if (has_body) {
        request_body = request.body->dump();
    } else {
        request_body.clear();
    }

    CURLcode rc = CURLE_OK;
    auto set = [&](CURLoption option, auto value) {
        if (rc == CURLE_OK) {
            rc = curl_easy_setopt(h, option, value);
        }
    };
    set(CURLOPT_ERRORBUFFER, static_cast<char*>(error));
    set(CURLOPT_URL, url.c_str());
    set(CURLOPT_PROTOCOLS_STR, "http,https");
    set(CURLOPT_NOSIGNAL, 1L);
    set(CURLOPT_FOLLOWLOCATION, 0L);
    set(CURLOPT_VERBOSE, 0L);
    set(CURLOPT_TCP_KEEPALIVE, 1L);
    set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout.count()));
    set(CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout.count()));
    set(CURLOPT_SSL_VERIFYPEER, options.verify_tls ? 1L : 0L);
    set(CURLOPT_SSL_VERIFYHOST, options.verify_tls ? 2L : 0L);
    if (!options.ca_file.empty()) {
        set(CURLOPT_CAINFO, options.ca_file.c_str());
    }
    if (!options.user_agent.empty()) {
        set(CURLOPT_USERAGENT, options.user_agent.c_str());
    }
    set(CURLOPT_HTTPHEADER, has_body ? headers_body.get() : headers_plain.get());
    set(CURLOPT_WRITEFUNCTION, &Handle::on_body);
    set(CURLOPT_WRITEDATA, static_cast<void*>(this));
    set(CURLOPT_HEADERFUNCTION, &Handle::on_header);
    set(CURLOPT_HEADERDATA, static_cast<void*>(this));

    const std::string verb(to_string(request.method));
    if (request.method == HttpMethod::Post) {
        set(CURLOPT_POST, 1L);
    } else if (request.method == HttpMethod::Get && !has_body) {
        set(CURLOPT_HTTPGET, 1L);
    } else {
        // Also covers a GET with a body: POSTFIELDS alone would turn it into a POST.
        set(CURLOPT_CUSTOMREQUEST, verb.c_str());
    }
    if (has_body || request.method == HttpMethod::Post) {
        set(CURLOPT_POSTFIELDS, request_body.c_str());
        set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request_body.size()));
    }

    ScimResponse response;
    if (rc == CURLE_OK) {
        rc = curl_easy_perform(h);
    }
    long new_connections = 0;
    if (curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &new_connections) == CURLE_OK &&
        new_connections > 0) {
        connections += static_cast<std::uint64_t>(new_connections);
    }
    if (rc != CURLE_OK) {
        response.transport = transport_status_of(rc);
        std::string text = error[0] != '\0' ? std::string(error) : curl_easy_strerror(rc);
        if (rc == CURLE_WRITE_ERROR && body_too_large) {
            text = "response body larger than " + std::to_string(kMaxResponseBody) + " bytes";
        }
        response.transport_error = redact(std::move(text), options.token);
        return response;
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    response.status = status;
    response.body = std::move(response_body);
    response_body.clear();
    response.retry_after = std::move(retry_after);
    retry_after.reset();
    return response;
}

ScimClientOptions scim_client_options(const AppConfig& app, const std::string& token) {
    ScimClientOptions options;
    options.base_url = app.scim.base_url;
    while (!options.base_url.empty() && options.base_url.back() == '/') {
        options.base_url.pop_back();
    }
    options.token = token;
    options.connect_timeout = app.scim.connect_timeout;
    options.timeout = app.scim.timeout;
    options.verify_tls = app.scim.verify_tls;
    options.ca_file = app.scim.ca_file;
    return options;
}

std::string build_url(const std::string& base, const ScimRequest& request) {
    ensure_curl_global();
    std::string url = base;
    // Segment by segment so '/' separates resources while an id's own characters
    // ('?', '#', '%', spaces) cannot change the meaning of the URL.
    std::string_view path = request.path;
    std::size_t start = 0;
    while (start <= path.size()) {
        const auto slash = path.find('/', start);
        const auto end = slash == std::string_view::npos ? path.size() : slash;
        url += escape(path.substr(start, end - start));
        if (slash == std::string_view::npos) {
            break;
        }
        url += '/';
        start = slash + 1;
    }
    char separator = '?';
    for (const auto& [key, value] : request.query) {
        url += separator;
        url += escape(key);
        url += '=';
        url += escape(value);
        separator = '&';
    }
    return url;
}

CurlScimClient::CurlScimClient(ScimClientOptions options)
    : options_(std::move(options)), handle_(std::make_unique<Handle>()) {
    if (!ensure_curl_global()) {
        throw std::runtime_error("libcurl global initialisation failed");
    }
    handle_->easy.reset(curl_easy_init());
    if (!handle_->easy) {
        throw std::runtime_error("curl_easy_init failed");
    }
    handle_->headers_plain = make_headers(options_, false);
    handle_->headers_body = make_headers(options_, true);
}

CurlScimClient::~CurlScimClient() = default;
CurlScimClient::CurlScimClient(CurlScimClient&&) noexcept = default;
CurlScimClient& CurlScimClient::operator=(CurlScimClient&&) noexcept = default;

ScimResponse CurlScimClient::send(const ScimRequest& request) {
    const auto started = std::chrono::steady_clock::now();
    ScimResponse response;
    if (!handle_) {
        response.transport = TransportStatus::Failed;
        response.transport_error = "the SCIM client was moved from";
        return response;
    }
    try {
        response = handle_->perform(options_, request);
    } catch (const nlohmann::json::exception& e) {
        // dump() rejects strings that are not UTF-8; the message names the byte, not the data.
        response = ScimResponse{};
        response.transport = TransportStatus::Failed;
        response.transport_error = std::string("request body cannot be serialised: ") + e.what();
    } catch (...) {
        response = ScimResponse{};
        response.transport = TransportStatus::Failed;
        response.transport_error = "out of memory while sending the request";
    }
    response.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - started);
    return response;
}

std::uint64_t CurlScimClient::connections_opened() const { return handle_ ? handle_->connections : 0; }

}  // namespace provbridge::consumers
