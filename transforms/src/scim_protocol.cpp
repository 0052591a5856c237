#include "provbridge/transforms/scim_protocol.hpp"

#include <algorithm>

#include "provbridge/core/json_util.hpp"
#include "provbridge/transforms/mapping.hpp"

namespace provbridge::transforms {
namespace {

using nlohmann::json;

std::string error_detail(const ScimResponse& response, std::string& scim_type) {
    std::string detail = "HTTP " + std::to_string(response.status);
    auto body = parse_json(response.body);
    if (body && body->is_object()) {
        if (const auto it = body->find("scimType"); it != body->end() && it->is_string()) {
            scim_type = it->get<std::string>();
            detail += " (" + scim_type + ")";
        }
        if (const auto it = body->find("detail"); it != body->end() && it->is_string()) {
            detail += ": " + it->get<std::string>();
        }
    }
    return detail;
}

}  // namespace

std::string scim_string_literal(std::string_view value) {
    // nlohmann's serializer escapes exactly what JSON requires: quote, backslash and control
    // characters; UTF-8 passes through unchanged.
    return json(std::string(value)).dump();
}

std::string eq_filter(const ScimPath& path, const json& value) {
    const std::string literal =
        value.is_string() ? scim_string_literal(value.get_ref<const std::string&>()) : value.dump();
    return path.to_string() + " eq " + literal;
}

ScimRequest find_request(const std::string& resource_path, const ScimPath& path, const json& value) {
    ScimRequest request;
    request.method = HttpMethod::Get;
    request.path = resource_path;
    request.query.emplace_back("filter", eq_filter(path, value));
    return request;
}

ScimRequest create_request(const std::string& resource_path, json resource) {
    ScimRequest request;
    request.method = HttpMethod::Post;
    request.path = resource_path;
    request.body = std::move(resource);
    return request;
}

std::optional<std::string> unsafe_scim_id(std::string_view id) {
    constexpr std::size_t kMaxIdBytes = 256;
    if (id.empty()) return "it is empty";
    if (id.size() > kMaxIdBytes) return "it is " + std::to_string(id.size()) + " bytes long (at most 256)";
    if (id.find("..") != std::string_view::npos) return "it contains \"..\"";
    for (const char c : id) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) return "it contains a control character";
        if (c == ' ') return "it contains a space";
        if (c == '/' || c == '?' || c == '#' || c == '%' || c == '\\') return std::string("it contains '") + c + "'";
    }
    return std::nullopt;
}

ScimRequest patch_request(const std::string& resource_path, const std::string& id,
                          const json& operations) {
    ScimRequest request;
    request.method = HttpMethod::Patch;
    request.path = resource_path + "/" + id;
    request.body = patch_body(operations);
    return request;
}

ScimRequest delete_request(const std::string& resource_path, const std::string& id) {
    ScimRequest request;
    request.method = HttpMethod::Delete;
    request.path = resource_path + "/" + id;
    return request;
}

json disable_operations() {
    return json::array({{{"op", "replace"}, {"path", "active"}, {"value", false}}});
}

std::vector<json> membership_operations(const std::vector<std::string>& add, const std::vector<std::string>& remove,
                                        std::size_t batch) {
    batch = std::max<std::size_t>(1, batch);
    std::vector<json> lists;
    json current = json::array();
    std::size_t in_current = 0;
    const auto close = [&] {
        if (in_current == 0) return;
        lists.push_back(std::move(current));
        current = json::array();
        in_current = 0;
    };
    for (std::size_t i = 0; i < add.size(); i += batch) {
        json values = json::array();
        for (std::size_t j = i; j < std::min(add.size(), i + batch); ++j) values.push_back({{"value", add[j]}});
        in_current = values.size();
        current.push_back({{"op", "add"}, {"path", "members"}, {"value", std::move(values)}});
        if (in_current == batch) close();
    }
    for (const auto& id : remove) {
        current.push_back({{"op", "remove"}, {"path", "members[value eq " + scim_string_literal(id) + "]"}});
        if (++in_current == batch) close();
    }
    close();
    return lists;
}

ResponseVerdict classify(const ScimResponse& response) {
    ResponseVerdict v;
    if (response.transport != TransportStatus::Ok) {
        v.kind = ResponseClass::TransportError;
        v.code = response.transport == TransportStatus::Timeout ? "Timeout" : "ConnectionFailed";
        v.detail = std::string(to_string(response.transport)) +
                   (response.transport_error.empty() ? "" : ": " + response.transport_error);
        v.retryable = true;
        return v;
    }
    const long s = response.status;
    if (s >= 200 && s < 300) {
        v.kind = ResponseClass::Success;
        return v;
    }
    v.detail = error_detail(response, v.scim_type);
    if (s == 404) {
        v.kind = ResponseClass::NotFound;
        v.code = "InvalidAnchor";
    } else if (s == 409) {
        v.kind = ResponseClass::Conflict;
        v.code = "EntryConflict";
    } else if (s == 429) {
        v.kind = ResponseClass::RateLimited;
        v.code = "TooManyRequests";
        v.retryable = true;
    } else if (s == 401) {
        v.kind = ResponseClass::Unauthorized;
        v.code = "Unauthorized";
    } else if (s == 403) {
        v.kind = ResponseClass::Forbidden;
        v.code = "InsufficientRights";
    } else if (s >= 500) {
        v.kind = ResponseClass::ServerError;
        v.code = s == 501 ? "NotImplemented" : (s == 503 ? "ServiceUnavailable" : "InternalServerError");
        v.retryable = s != 501;
    } else if (s >= 400) {
        v.kind = ResponseClass::ClientError;
        v.code = s == 422 ? "UnprocessableEntity" : (s == 405 ? "MethodNotAllowed" : "BadRequest");
        v.retryable = s == 408;
    } else {
        v.kind = ResponseClass::Unexpected;
        v.code = "ServiceIncompatible";
    }
    return v;
}

ListResult parse_list_response(const std::string& body) {
    ListResult result;
    auto doc = parse_json(body);
    if (!doc) {
        result.error = "response is not JSON: " + doc.error().message;
        return result;
    }
    if (!doc->is_object()) {
        result.error = "response is not a JSON object";
        return result;
    }
    const auto total = doc->find("totalResults");
    if (total == doc->end() || !total->is_number_integer()) {
        result.error = "ListResponse has no integer totalResults";
        return result;
    }
    result.total_results = total->get<std::int64_t>();
    if (const auto res = doc->find("Resources"); res != doc->end() && !res->is_null()) {
        if (!res->is_array()) {
            result.error = "ListResponse Resources is not an array";
            return result;
        }
        result.resources = *res;
    }
    result.valid = true;
    return result;
}

}  // namespace provbridge::transforms
