#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace provbridge::transforms {

// Entra's scoping-filter operators (define-conditional-rules-for-provisioning-user-accounts.md).
//
// Semantics chosen where the Entra documentation leaves room, so behaviour is predictable:
// - An attribute that is missing, null or the empty string is "null / empty". Every clause on
//   it is false ("Scoping filters will return false if the value is null / empty"), NOT EQUALS
//   and NOT REGEX MATCH included; only IS NULL is true.
// - Multi-valued (array) and complex (object) values are not supported by Entra: any clause on
//   them is false, IS NULL and IS NOT NULL included, and the reason says so.
// - Attribute values are compared in their string form, as Entra does: strings as they are,
//   booleans as .NET renders them ("True" / "False"), numbers in decimal. So accountEnabled=true
//   EQUALS "True" holds and EQUALS "true" does not (EQUALS is case-sensitive).
// - EQUALS, NOT EQUALS, Includes, ENDS_WITH and the regex operators are case-sensitive.
// - REGEX MATCH searches (like .NET Regex.IsMatch): the pattern may match anywhere in the value;
//   anchor it with ^…$ for a whole-value match. Patterns are std::regex ECMAScript, so .NET-only
//   syntax such as (?i) or look-behind is refused when the configuration is loaded.
// - Greater_Than, Greater_Than_OR_EQUALS, & and !& take an integer value and need an integer
//   attribute (a JSON integer or a string of decimal digits); anything else makes them false.
// - & is bitwise AND: true when (attribute & value) != 0, i.e. one of the value's bits is set
//   (the userAccountControl & 2 kind of test); !& is true when none is set. The documentation's
//   wording for these two is vague; this is the reading their names and the AD use suggest.
enum class ScopeOperator {
    Equals,
    NotEquals,
    IsTrue,
    IsFalse,
    IsNull,
    IsNotNull,
    RegexMatch,
    NotRegexMatch,
    GreaterThan,
    GreaterThanOrEquals,
    Includes,
    EndsWith,
    BitAnd,
    NotBitAnd,
};

// The Entra spelling: "EQUALS", "NOT EQUALS", "IS TRUE", "REGEX MATCH", "Greater_Than", "&", …
std::string_view to_string(ScopeOperator op);
// Accepts the Entra spellings, ASCII case-insensitive, with '_' and ' ' interchangeable.
std::optional<ScopeOperator> scope_operator_from_string(std::string_view s);
// True for IS TRUE, IS FALSE, IS NULL and IS NOT NULL, which take no value.
bool is_unary(ScopeOperator op);
// The valid spellings, comma-separated, for error messages.
std::string valid_scope_operators();

// Longer values are not handed to the regex engine: libstdc++'s matcher recurses once per
// character and can exhaust a worker thread's stack. Entra's string attributes are far shorter.
inline constexpr std::size_t kMaxRegexInputBytes = 1024;

// A configuration mistake in scoping; `path` is relative to the filters array, e.g.
// "[0].clauses[1].operator" ("" for the array itself).
struct ScopingError {
    std::string path;
    std::string message;
};

// One condition on one attribute, validated and compiled once at load (regex compiled, integer
// parsed). Build it with compile() or parse_scoping(); changing the public fields afterwards
// does not recompile it.
struct ScopeClause {
    std::string attribute;
    ScopeOperator op = ScopeOperator::Equals;
    std::string value;  // empty for unary operators

    // On error the path is "attribute" or "value" and the message says why.
    static std::variant<ScopeClause, ScopingError> compile(std::string attribute, ScopeOperator op,
                                                           std::string value);

    // e.g. department EQUALS "Sales", employeeId Greater_Than 1000000, accountEnabled IS TRUE
    std::string text() const;

    // Evaluation state, read by evaluate_scope.
    const std::regex* regex() const { return regex_.get(); }
    std::int64_t integer() const { return integer_; }

private:
    // Shared so that copies of a profile do not copy the compiled automaton; matching through a
    // const std::regex is safe from several threads.
    std::shared_ptr<const std::regex> regex_;
    std::int64_t integer_ = 0;
};

// Clauses are ANDed.
struct ScopeFilter {
    std::string name;
    std::vector<ScopeClause> clauses;
};

// Filters are ORed; no filter at all puts everything in scope.
struct Scoping {
    std::vector<ScopeFilter> filters;
    bool empty() const { return filters.empty(); }
};

struct ScopeVerdict {
    bool in_scope = true;
    // When out of scope: for each filter, the clause that excluded the object with the
    // attribute's actual value, joined by "; ", e.g.
    //   filter "France sales": clause department EQUALS "Sales" is false (department is "R&D")
    std::string reason;
    std::string clause;  // text() of the first filter's excluding clause
};

// Runs per event; builds no strings unless the object is out of scope. Never throws.
ScopeVerdict evaluate_scope(const Scoping& scoping, const nlohmann::json& attributes);

// Builds scoping from configuration JSON, an array of filters:
//   [ {"name": "France sales",
//      "clauses": [ {"attribute": "department", "operator": "EQUALS", "value": "Sales"}, … ]}, … ]
// null is the same as []. A value may be a JSON string, integer or boolean (true → "True").
// Unknown fields are refused so that a typo does not silently widen the scope.
std::variant<Scoping, ScopingError> parse_scoping(const nlohmann::json& filters);

}  // namespace provbridge::transforms
