#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "provbridge/core/result.hpp"

namespace provbridge::transforms {

// A SCIM attribute path (RFC 7644 §3.10, the subset mappings and PATCH use):
//   [urn:…:]attr[.sub]                   name.givenName, urn:…:enterprise:2.0:User:department
//   [urn:…:]attr[filterAttr eq value][.sub]   emails[type eq "work"].value
struct ScimPath {
    std::string urn;         // schema URN for extension attributes, empty for the core schema
    std::string attribute;   // top-level attribute name
    std::string sub_attribute;
    // Value filter selecting one element of a multi-valued attribute.
    std::string filter_attribute;
    nlohmann::json filter_value;  // null when there is no filter

    bool has_filter() const { return !filter_attribute.empty(); }

    // Canonical text, as used in PATCH paths and as the key of an attribute set.
    std::string to_string() const;
    // The path that removes the addressed element: emails[type eq "work"] for a filtered
    // path, otherwise the path itself.
    std::string removal_path() const;
};

// Parses a path; the error says what is wrong and at which character.
Result<ScimPath> parse_scim_path(std::string_view text);

// Reads the addressed value from a SCIM resource; null when absent. Attribute names are
// matched case-insensitively, as SCIM requires.
nlohmann::json get_value(const nlohmann::json& resource, const ScimPath& path);

// Writes a value into a resource, creating intermediate objects and the filtered array
// element as needed.
void set_value(nlohmann::json& resource, const ScimPath& path, const nlohmann::json& value);

}  // namespace provbridge::transforms
