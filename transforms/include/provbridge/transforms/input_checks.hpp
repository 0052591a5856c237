#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "provbridge/transforms/mapping.hpp"
#include "provbridge/transforms/scoping.hpp"

// Checks on what an event brings before anything reaches a target: a hostile or broken
// producer must get a clear refusal, never a filter such as userName eq {"x":"y"} or an account
// whose userName holds a NUL byte.
namespace provbridge::transforms {

struct InputProblem {
    std::string code;    // InvalidAttributeType, InvalidIdentifier
    std::string reason;  // names the attribute and what is wrong with it
};

// Every source attribute an object's mappings and scoping read: direct sources, [names] in
// expressions, scoping clause attributes and accountEnabled ([IsSoftDeleted]); each once, in
// the order first met.
std::vector<std::string> attributes_read(const ObjectMapping& mapping, const Scoping& scoping);

// The attributes the bridge reads must hold what Entra's do: null, a string, a number, a
// boolean, or a list of those (multi-valued attributes). An object or a nested list is refused.
std::optional<InputProblem> check_source_attributes(const std::vector<std::string>& names,
                                                    const nlohmann::json& attributes);

// The source attributes mapped directly onto identifiers (userName ← userPrincipalName, say):
// checked for control characters before anything is evaluated, so a refused event sends not
// even a SelectUniqueValue lookup.
std::optional<InputProblem> check_identifier_sources(const ObjectMapping& mapping, const nlohmann::json& attributes);

// Identifiers (userName, externalId, a group's displayName and every matching attribute) must
// be strings without control characters; they end up in filters, URLs and the target's
// uniqueness checks.
std::optional<InputProblem> check_identifiers(const ObjectMapping& mapping, const AttributeSet& values);

}  // namespace provbridge::transforms
