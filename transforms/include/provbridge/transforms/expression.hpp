#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace provbridge::transforms {

// What a mapping expression can read about the source object.
struct SourceContext {
    const nlohmann::json& attributes;  // Entra attribute names → values (may be missing or null)
    // Entra's IsSoftDeleted: unassigned, out of scope, soft-deleted, or accountEnabled=false.
    bool soft_deleted = false;
    std::optional<std::string> role;  // the app role of the assignment
};

// A parsed mapping expression in Entra's syntax: [attribute], "constant", Function(args…).
// Expressions are built once at load and evaluated from this form on every event.
struct Expression {
    enum class Kind { Attribute, Constant, Call };
    Kind kind = Kind::Constant;
    std::string name;         // attribute or function name
    nlohmann::json constant;  // for Kind::Constant
    std::vector<Expression> args;

    static Expression attribute(std::string name);
    static Expression constant_value(nlohmann::json value);
    static Expression call(std::string name, std::vector<Expression> args);
};

// Evaluates an expression. Missing attributes evaluate to null; functions follow Entra's null
// handling (Join skips nulls, Not(null) is null).
nlohmann::json evaluate(const Expression& expression, const SourceContext& context);

// True when the function name is one this evaluator implements.
bool is_known_function(const std::string& name);

}  // namespace provbridge::transforms
