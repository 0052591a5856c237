#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "provbridge/core/scim.hpp"
#include "provbridge/transforms/scim_path.hpp"

namespace provbridge::transforms {

// A filter value as a SCIM string literal (RFC 7644 §3.4.2.2: a JSON string, so `"` and `\`
// are escaped). URL encoding is the client's job.
std::string scim_string_literal(std::string_view value);

// `<path> eq <literal>`, e.g. userName eq "ada@contoso.com".
std::string eq_filter(const ScimPath& path, const nlohmann::json& value);

ScimRequest find_request(const std::string& resource_path, const ScimPath& path,
                         const nlohmann::json& value);
ScimRequest create_request(const std::string& resource_path, nlohmann::json resource);
// Why a server-chosen resource id must not be used, or nullopt when it may. Ids go into request
// paths (/Users/<id>, carrying the app's token) and into references (members, manager): one
// with '/', "..", '?', '#', '%', '\\', whitespace or a control character, empty, or over 256
// bytes would address another resource than the one it names.
std::optional<std::string> unsafe_scim_id(std::string_view id);

ScimRequest patch_request(const std::string& resource_path, const std::string& id,
                          const nlohmann::json& operations);
ScimRequest delete_request(const std::string& resource_path, const std::string& id);

// The soft delete: one replace of active with the JSON boolean false.
nlohmann::json disable_operations();

// Membership changes of one group as PatchOp operation lists (RFC 7644 §3.5.2), each touching
// at most `batch` members (at least 1): the additions as one `add` of `members` per list, the
// removals as one `remove` with the path `members[value eq "<id>"]` each, which servers that
// refuse a value on remove accept too. Additions fill the first lists; removals follow. Ids are
// the members' ids in the target.
std::vector<nlohmann::json> membership_operations(const std::vector<std::string>& add,
                                                  const std::vector<std::string>& remove, std::size_t batch);

// How a SCIM response is to be treated, and the Entra-style error code for the log.
enum class ResponseClass {
    Success,         // 2xx
    NotFound,        // 404: the resource is gone
    Conflict,        // 409
    RateLimited,     // 429
    ServerError,     // 5xx
    Unauthorized,    // 401
    Forbidden,       // 403
    ClientError,     // other 4xx
    TransportError,  // no HTTP response
    Unexpected,      // 1xx/3xx or an unusable body
};

struct ResponseVerdict {
    ResponseClass kind = ResponseClass::Success;
    std::string code;    // e.g. TooManyRequests, InternalServerError, Unauthorized
    std::string detail;  // human text: status, scimType and detail from the error body
    bool retryable = false;
    std::string scim_type;  // scimType of a SCIM error body (uniqueness, invalidFilter, …)
};

ResponseVerdict classify(const ScimResponse& response);

// A ListResponse read back from a filter query.
struct ListResult {
    bool valid = false;
    std::string error;  // why the body is not a usable ListResponse
    std::int64_t total_results = 0;
    nlohmann::json resources = nlohmann::json::array();
};
ListResult parse_list_response(const std::string& body);

}  // namespace provbridge::transforms
