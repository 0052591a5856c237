#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "provbridge/core/scim.hpp"

namespace provbridge::ops {

// What "Test connection" concluded about an app's SCIM endpoint. summary is one line an
// operator can act on; details add the request sent, the status and what the server said.
// Neither ever holds the token (the client keeps it to itself).
struct ConnectionVerdict {
    bool ok = false;
    std::string summary;
    std::vector<std::string> details;
    long http_status = 0;  // 0 when no HTTP response arrived
    std::chrono::milliseconds elapsed{0};
};

// Entra ID's connection test: GET /Users?filter=userName eq "<random_guid>" must answer 200
// with a ListResponse whose totalResults is 0. Sends exactly one request through `client`
// and reports every failure in the verdict rather than throwing.
ConnectionVerdict test_connection(ScimClient& client, const std::string& random_guid);

// A random version 4 UUID in lowercase 8-4-4-4-12 form, from std::random_device.
std::string random_guid();

}  // namespace provbridge::ops
