#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

// Entra ID's expression language for attribute mappings
// (learn.microsoft.com: "Reference for writing expressions for attribute mappings").
//
// Values: Entra works in strings. Inside an expression a JSON boolean reads as "True"/"False"
// and a number in invariant form, so `Switch([accountEnabled], , "True", …)` works whether the
// directory sent true or "True". Functions that answer yes/no (Not, CBool, IsNull, IsPresent,
// comparisons…) return JSON booleans, which SCIM wants for `active`. Multi-valued attributes are
// JSON arrays. A missing attribute, a JSON null and an empty argument are all null.

namespace provbridge::transforms {

// Looks up whether a candidate value is already taken in the target, for SelectUniqueValue.
class UniqueValueLookup {
public:
    virtual ~UniqueValueLookup() = default;
    // target_path: the SCIM path being mapped (e.g. "userName"); true when the value is in use.
    // Called on the evaluation path: must not throw.
    virtual bool taken(std::string_view target_path, const nlohmann::json& value) = 0;
};

// What a mapping expression can read about the source object.
struct SourceContext {
    const nlohmann::json& attributes;  // Entra attribute names → values (may be missing or null)
    // Entra's IsSoftDeleted: unassigned, out of scope, soft-deleted, or accountEnabled=false.
    bool soft_deleted = false;
    std::optional<std::string> role{};            // SingleAppRoleAssignment([appRoleAssignments])
    UniqueValueLookup* unique_values = nullptr;   // SelectUniqueValue; null → first non-null candidate
    std::string_view target_path{};               // the mapping's target, passed to the lookup
};

namespace detail {
struct FunctionInfo;     // one row of the function table (expression.cpp)
struct CompiledPattern;  // a Replace regexPattern translated from .NET syntax and compiled once
}  // namespace detail

enum class CompareOp : std::uint8_t { Equal, NotEqual, Less, Greater, LessEqual, GreaterEqual };

// A parsed mapping expression: [attribute], "constant", 42, Function(args…), a comparison
// `a = b`, or an empty argument. Built once at load (names resolved, constant regex patterns
// compiled) and evaluated from this form on every event.
struct Expression {
    enum class Kind : std::uint8_t { Attribute, Constant, Call, Compare, Empty };
    Kind kind = Kind::Constant;
    std::string name;              // attribute or function name
    nlohmann::json constant;       // for Kind::Constant
    std::vector<Expression> args;  // call arguments; for Compare: left, right
    CompareOp op = CompareOp::Equal;                    // for Kind::Compare
    bool soft_deleted = false;                          // the attribute is [IsSoftDeleted]
    const detail::FunctionInfo* function = nullptr;     // resolved at construction, for Kind::Call
    std::shared_ptr<const detail::CompiledPattern> pattern;  // Replace with a constant regexPattern

    static Expression attribute(std::string name);
    static Expression constant_value(nlohmann::json value);
    // Resolves the function and checks its arguments. For expressions built in code at start-up:
    // throws std::invalid_argument for an unknown or unsupported function, a wrong argument
    // count, a nested SelectUniqueValue or an invalid constant regex.
    static Expression call(std::string name, std::vector<Expression> args);
    static Expression compare(CompareOp op, Expression left, Expression right);
    static Expression empty();  // an omitted argument, as in Switch([IsSoftDeleted], , …)
};

// Why an expression text was rejected; column is 1-based and counts characters (code points).
struct ExpressionError {
    std::string message;
    std::size_t column = 0;
};

inline constexpr std::size_t kMaxExpressionLength = 10'000;  // characters, as in Entra

// Parses an expression in Entra's syntax. Never throws; on failure the error names the column
// and what is wrong (unknown or unsupported function, wrong argument count, expected ')',
// unterminated string, unexpected characters, bad attribute brackets, too long…).
std::variant<Expression, ExpressionError> parse_expression(std::string_view text);

// Evaluates an expression. Never throws. Missing attributes evaluate to null; functions follow
// Entra's documented null handling (see expression.cpp for each function).
nlohmann::json evaluate(const Expression& expression, const SourceContext& context);

// Same, without copying: the result refers into context.attributes, into the expression's
// constants, to a static value, or to `scratch` when it had to be computed. Valid as long as
// all four are.
const nlohmann::json& evaluate_ref(const Expression& expression, const SourceContext& context,
                                   nlohmann::json& scratch);

// True when the function name is one this evaluator implements (case-sensitive, like Entra).
bool is_known_function(const std::string& name);

namespace detail {

// A problem found while resolving a call; argument is the index of the offending argument, or
// npos when it is the call itself (name, argument count).
struct CallProblem {
    std::string message;
    std::size_t argument = static_cast<std::size_t>(-1);
};

// Resolves call.name into call.function, checks the argument count and precompiles a constant
// Replace pattern. Shared by Expression::call and the parser.
std::optional<CallProblem> resolve_call(Expression& call);

// What is wrong with a function name on its own (unknown, unsupported), if anything; lets the
// parser report it before reading the arguments.
std::optional<std::string> function_name_problem(std::string_view name);

// The pure text and date algorithms behind the functions (expression_functions.cpp), declared
// here so the evaluator and their own tests can reach them. All take and return UTF-8; invalid
// bytes pass through unchanged. None throws.

std::size_t utf8_length(std::string_view text);                        // in code points
std::size_t utf8_offset(std::string_view text, std::size_t code_points);  // byte offset, clamped
std::string to_lower(std::string_view text);  // invariant, simple (1:1) case mapping
std::string to_upper(std::string_view text);
// Entra's documented table (Zoë → Zoe, ß → ss, Ø → OE…); combining marks after a Latin letter
// are dropped, so decomposed forms (a + U+0331) normalize too.
std::string normalize_diacritics(std::string_view text);
// PCase: each word's first character upper case, the rest lower case. Without separators the
// .NET ToTitleCase set is used: white space, controls, punctuation and symbols.
std::string proper_case(std::string_view text, std::optional<std::string_view> separators);
// Word: the 1-based number-th run of characters not in delimiters; empty when there is none.
std::string_view word_at(std::string_view text, std::int64_t number, std::string_view delimiters);
// InStr: 1-based position (code points) of needle at or after start; 0 when absent.
std::int64_t find_text(std::string_view haystack, std::string_view needle, std::int64_t start,
                       bool ignore_case);
std::string base64_utf16le(std::string_view text);  // ConvertToBase64: .NET "Unicode" bytes
std::string utf8_hex(std::string_view text);        // ConvertToUTF8Hex: upper-case hex
// FormatDateTime with .NET custom (and single-letter standard) format strings, invariant
// culture. Null when the source does not match the input format or a format is invalid.
std::optional<std::string> format_date_time(std::string_view source, std::string_view styles,
                                            std::string_view input_format,
                                            std::string_view output_format);

// Replace's regular expressions: .NET syntax translated to ECMAScript std::regex.
struct PatternOrError {
    std::shared_ptr<const CompiledPattern> pattern;
    std::string error;  // set when pattern is null
};
PatternOrError compile_pattern(std::string_view dotnet_pattern);
// Every match replaced by `replacement`, which may use .NET substitutions ($1, ${name}, $$, $&…).
std::optional<std::string> regex_replace_all(const CompiledPattern& pattern, std::string_view source,
                                             std::string_view replacement);
// Within every match, the named group's text replaced by `replacement` (literally). Source
// unchanged when the group does not exist.
std::optional<std::string> regex_replace_group(const CompiledPattern& pattern, std::string_view source,
                                               std::string_view group, std::string_view replacement);
// The named group's text in the first match; null when there is no match or no such group.
std::optional<std::string> regex_extract_group(const CompiledPattern& pattern, std::string_view source,
                                               std::string_view group);

}  // namespace detail

}  // namespace provbridge::transforms
