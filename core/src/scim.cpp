#include "provbridge/core/scim.hpp"

namespace provbridge {

std::string_view to_string(HttpMethod method) {
    switch (method) {
        case HttpMethod::Get: return "GET";
        case HttpMethod::Post: return "POST";
        case HttpMethod::Put: return "PUT";
        case HttpMethod::Patch: return "PATCH";
        case HttpMethod::Delete: return "DELETE";
    }
    return "GET";
}

std::string_view to_string(TransportStatus status) {
    switch (status) {
        case TransportStatus::Ok: return "ok";
        case TransportStatus::ConnectFailed: return "connect failed";
        case TransportStatus::Timeout: return "timeout";
        case TransportStatus::TlsError: return "tls error";
        case TransportStatus::Failed: return "transport failed";
    }
    return "transport failed";
}

}  // namespace provbridge
