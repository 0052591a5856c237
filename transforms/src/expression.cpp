#include "provbridge/transforms/expression.hpp"

#include <algorithm>
#include <array>
#include <string_view>

#include "provbridge/core/text.hpp"

namespace provbridge::transforms {
namespace {

using nlohmann::json;

std::string as_text(const json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_boolean()) return v.get<bool>() ? "True" : "False";
    if (v.is_null()) return {};
    return v.dump();
}

std::optional<bool> as_bool(const json& v) {
    if (v.is_boolean()) return v.get<bool>();
    if (v.is_string()) {
        const std::string s = ascii_lower(v.get_ref<const std::string&>());
        if (s == "true") return true;
        if (s == "false") return false;
    }
    return std::nullopt;
}

using Fn = json (*)(const std::vector<Expression>&, const SourceContext&);

// Join(separator, value1, value2, …): null and empty values are left out.
json fn_join(const std::vector<Expression>& args, const SourceContext& ctx) {
    if (args.empty()) return nullptr;
    const std::string sep = as_text(evaluate(args[0], ctx));
    std::string out;
    bool any = false;
    for (std::size_t i = 1; i < args.size(); ++i) {
        const json v = evaluate(args[i], ctx);
        const auto append = [&](const json& item) {
            const std::string text = as_text(item);
            if (text.empty()) return;
            if (any) out += sep;
            out += text;
            any = true;
        };
        if (v.is_array()) {
            for (const auto& item : v) append(item);
        } else {
            append(v);
        }
    }
    return any ? json(out) : json(nullptr);
}

json fn_not(const std::vector<Expression>& args, const SourceContext& ctx) {
    if (args.size() != 1) return nullptr;
    const auto b = as_bool(evaluate(args[0], ctx));
    return b ? json(!*b) : json(nullptr);
}

json fn_coalesce(const std::vector<Expression>& args, const SourceContext& ctx) {
    for (const auto& a : args) {
        json v = evaluate(a, ctx);
        if (!v.is_null() && !(v.is_string() && v.get_ref<const std::string&>().empty())) return v;
    }
    return nullptr;
}

json fn_single_app_role_assignment(const std::vector<Expression>& /*args*/, const SourceContext& ctx) {
    return ctx.role ? json(*ctx.role) : json(nullptr);
}

constexpr std::array<std::pair<std::string_view, Fn>, 4> kFunctions{{
    {"Join", &fn_join},
    {"Not", &fn_not},
    {"Coalesce", &fn_coalesce},
    {"SingleAppRoleAssignment", &fn_single_app_role_assignment},
}};

}  // namespace

Expression Expression::attribute(std::string name) {
    Expression e;
    e.kind = Kind::Attribute;
    e.name = std::move(name);
    return e;
}

Expression Expression::constant_value(json value) {
    Expression e;
    e.kind = Kind::Constant;
    e.constant = std::move(value);
    return e;
}

Expression Expression::call(std::string name, std::vector<Expression> args) {
    Expression e;
    e.kind = Kind::Call;
    e.name = std::move(name);
    e.args = std::move(args);
    return e;
}

bool is_known_function(const std::string& name) {
    return std::any_of(kFunctions.begin(), kFunctions.end(),
                       [&](const auto& f) { return f.first == name; });
}

json evaluate(const Expression& expression, const SourceContext& context) {
    switch (expression.kind) {
        case Expression::Kind::Constant:
            return expression.constant;
        case Expression::Kind::Attribute: {
            if (expression.name == "IsSoftDeleted") return context.soft_deleted;
            const auto it = context.attributes.find(expression.name);
            return it == context.attributes.end() ? json(nullptr) : *it;
        }
        case Expression::Kind::Call:
            for (const auto& [name, fn] : kFunctions) {
                if (name == expression.name) return fn(expression.args, context);
            }
            return nullptr;
    }
    return nullptr;
}

}  // namespace provbridge::transforms
