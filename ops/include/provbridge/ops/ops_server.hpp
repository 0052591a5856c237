#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <spdlog/logger.h>

#include "provbridge/core/config.hpp"

namespace provbridge::ops {

class OpsMetrics;

struct OpsServerOptions {
    std::string host = "127.0.0.1";
    int port = 9740;        // 0: any free port
    std::string token;      // the ops bearer token; empty: every mutating request is refused (403)
    std::string bootstrap;  // Kafka, for the lag and replays; empty: neither is available
    // Why the process is not ready yet (nullopt: ready); Redis answering is checked besides.
    std::function<std::optional<std::string>()> not_ready;
};

// The address could not be bound (in use by another process, or not this host's): the caller
// decides whether another port will do (the default one) or the start fails (an explicit one).
class ListenError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The ops HTTP server (endpoints in docs/ops-api.md): the dashboard, /healthz, /readyz,
// /metrics, the read-only JSON API and the mutating endpoints behind the bearer token. Its data
// comes from Redis through its own connections (one request at a time), so it shows every
// worker and never holds up this process's lanes.
class OpsServer {
public:
    // Connects to Redis and binds; throws std::runtime_error when either cannot be done (start-up).
    OpsServer(const Config& config, const std::string& redis_password, OpsServerOptions options, OpsMetrics& metrics,
              std::shared_ptr<spdlog::logger> log);
    ~OpsServer();  // stops serving; requests in progress are finished
    OpsServer(const OpsServer&) = delete;
    OpsServer& operator=(const OpsServer&) = delete;

    int port() const;
    std::string url() const;  // http://host:port/

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Whether an Authorization header value carries the configured bearer token: 200, 401 (no
// bearer credentials at all), or 403 (a wrong token, or none configured). Compared in time
// independent of where the two differ.
int check_bearer(std::string_view authorization, std::string_view token);

// The content type served for an asset's file name, by its extension.
std::string_view content_type_of(std::string_view name);

}  // namespace provbridge::ops
