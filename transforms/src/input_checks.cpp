#include "provbridge/transforms/input_checks.hpp"

#include <algorithm>

#include "provbridge/core/event.hpp"
#include "provbridge/core/text.hpp"

namespace provbridge::transforms {
namespace {

using nlohmann::json;

void add_once(std::vector<std::string>& names, const std::string& name) {
    if (!name.empty() && std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
}

void collect(const Expression& e, std::vector<std::string>& names) {
    if (e.kind == Expression::Kind::Attribute) {
        add_once(names, e.soft_deleted ? std::string("accountEnabled") : e.name);
    }
    for (const auto& arg : e.args) collect(arg, names);
}

bool is_scalar(const json& v) { return v.is_string() || v.is_number() || v.is_boolean() || v.is_null(); }

const char* type_name(const json& v) {
    switch (v.type()) {
        case json::value_t::object: return "an object";
        case json::value_t::array: return "a list";
        case json::value_t::string: return "a string";
        case json::value_t::boolean: return "a boolean";
        case json::value_t::null: return "null";
        default: return "a number";
    }
}

bool is_identifier(const ObjectMapping& mapping, const AttributeMapping& m) {
    if (m.match_precedence > 0) return true;
    if (!m.target.urn.empty() || !m.target.sub_attribute.empty() || m.target.has_filter()) return false;
    if (iequals(m.target.attribute, "userName") || iequals(m.target.attribute, "externalId")) return true;
    return mapping.core_schema == kGroupSchema && iequals(m.target.attribute, "displayName");
}

}  // namespace

std::vector<std::string> attributes_read(const ObjectMapping& mapping, const Scoping& scoping) {
    std::vector<std::string> names;
    for (const auto& m : mapping.attributes) {
        if (m.type == MappingType::Direct || m.type == MappingType::Expression) collect(m.source, names);
    }
    for (const auto& filter : scoping.filters) {
        for (const auto& clause : filter.clauses) add_once(names, clause.attribute);
    }
    return names;
}

std::optional<InputProblem> check_source_attributes(const std::vector<std::string>& names, const json& attributes) {
    if (!attributes.is_object()) return std::nullopt;
    for (const auto& name : names) {
        const auto it = attributes.find(name);
        if (it == attributes.end() || is_scalar(*it)) continue;
        if (it->is_array()) {
            const auto bad = std::find_if(it->begin(), it->end(), [](const json& v) { return !is_scalar(v); });
            if (bad == it->end()) continue;
            return InputProblem{"InvalidAttributeType",
                                "data.object.attributes." + name + ": a list may hold only strings, numbers and "
                                "booleans, but it holds " + type_name(*bad)};
        }
        return InputProblem{"InvalidAttributeType", "data.object.attributes." + name +
                                                        ": must be a string, a number, a boolean or a list of "
                                                        "them, but it is " + type_name(*it)};
    }
    return std::nullopt;
}

std::optional<InputProblem> check_identifier_sources(const ObjectMapping& mapping, const json& attributes) {
    if (!attributes.is_object()) return std::nullopt;
    for (const auto& m : mapping.attributes) {
        if (m.type != MappingType::Direct || !is_identifier(mapping, m) ||
            m.source.kind != Expression::Kind::Attribute || m.source.soft_deleted) {
            continue;
        }
        const auto it = attributes.find(m.source.name);
        if (it == attributes.end() || !it->is_string() || !has_control_character(it->get_ref<const std::string&>())) {
            continue;
        }
        return InputProblem{"InvalidIdentifier",
                            m.key + " (from " + m.source_text + "): " +
                                json(*it).dump(-1, ' ', true, json::error_handler_t::replace) +
                                " contains a control character, which no identifier may hold"};
    }
    return std::nullopt;
}

std::optional<InputProblem> check_identifiers(const ObjectMapping& mapping, const AttributeSet& values) {
    for (std::size_t row = 0; row < mapping.attributes.size() && row < values.rows(); ++row) {
        const auto& m = mapping.attributes[row];
        if (!values.has(row) || !is_identifier(mapping, m)) continue;
        const json& v = values.value(row);
        const std::string from = m.type == MappingType::Direct ? " (from " + m.source_text + ")" : "";
        if (!v.is_string()) {
            return InputProblem{"InvalidAttributeType",
                                m.key + from + ": an identifier must be a string, but the value is " + type_name(v)};
        }
        if (has_control_character(v.get_ref<const std::string&>())) {
            return InputProblem{"InvalidIdentifier",
                                m.key + from + ": " +
                                    json(v).dump(-1, ' ', true, json::error_handler_t::replace) +
                                    " contains a control character, which no identifier may hold"};
        }
    }
    return std::nullopt;
}

}  // namespace provbridge::transforms
