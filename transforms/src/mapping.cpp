#include "provbridge/transforms/mapping.hpp"

#include <algorithm>
#include <stdexcept>

namespace provbridge::transforms {
namespace {

using nlohmann::json;

ScimPath path_of(const char* text) {
    auto parsed = parse_scim_path(text);
    if (!parsed) throw std::logic_error(parsed.error().message);  // built-in table: a bug
    return std::move(*parsed);
}

AttributeMapping direct(const char* target, const char* source, int precedence = 0) {
    AttributeMapping m;
    m.target = path_of(target);
    m.type = MappingType::Direct;
    m.source = Expression::attribute(source);
    m.match_precedence = precedence;
    return m;
}

AttributeMapping expression(const char* target, Expression source) {
    AttributeMapping m;
    m.target = path_of(target);
    m.type = MappingType::Expression;
    m.source = std::move(source);
    return m;
}

bool is_empty_value(const json& v) {
    return v.is_null() || (v.is_string() && v.get_ref<const std::string&>().empty());
}

}  // namespace

std::vector<const AttributeMapping*> ObjectMapping::matching() const {
    std::vector<const AttributeMapping*> out;
    for (const auto& m : attributes) {
        if (m.match_precedence > 0) out.push_back(&m);
    }
    std::stable_sort(out.begin(), out.end(), [](const auto* a, const auto* b) {
        return a->match_precedence < b->match_precedence;
    });
    return out;
}

ObjectMapping default_user_mapping() {
    ObjectMapping mapping;
    mapping.resource_path = "/Users";
    mapping.core_schema = kUserSchema;
    auto& a = mapping.attributes;
    a.push_back(direct("userName", "userPrincipalName", 1));
    a.push_back(expression("active", Expression::call("Not", {Expression::attribute("IsSoftDeleted")})));
    a.push_back(direct("displayName", "displayName"));
    a.push_back(direct("title", "jobTitle"));
    a.push_back(direct("emails[type eq \"work\"].value", "mail"));
    a.push_back(direct("preferredLanguage", "preferredLanguage"));
    a.push_back(direct("name.givenName", "givenName"));
    a.push_back(direct("name.familyName", "surname"));
    a.push_back(expression("name.formatted",
                           Expression::call("Join", {Expression::constant_value(" "),
                                                     Expression::attribute("givenName"),
                                                     Expression::attribute("surname")})));
    a.push_back(direct("phoneNumbers[type eq \"work\"].value", "telephoneNumber"));
    a.push_back(direct("phoneNumbers[type eq \"mobile\"].value", "mobile"));
    a.push_back(direct("externalId", "mailNickname"));
    a.push_back(direct("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
                       "employeeId"));
    a.push_back(direct("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                       "department"));
    return mapping;
}

json desired_attributes(const ObjectMapping& mapping, const SourceContext& context, Phase phase) {
    json out = json::object();
    for (const auto& m : mapping.attributes) {
        if (phase == Phase::Update && m.apply == ApplyOn::OnCreate) continue;
        json value;
        switch (m.type) {
            case MappingType::None:
                break;
            case MappingType::Constant:
            case MappingType::Direct:
            case MappingType::Expression:
                value = evaluate(m.source, context);
                break;
        }
        if (is_empty_value(value) && phase == Phase::Create && m.default_value) {
            value = *m.default_value;
        }
        // Entra never provisions null values; an empty string is treated the same way.
        if (is_empty_value(value)) continue;
        out[m.target.to_string()] = std::move(value);
    }
    return out;
}

json extract_attributes(const ObjectMapping& mapping, const json& resource) {
    json out = json::object();
    for (const auto& m : mapping.attributes) {
        json value = get_value(resource, m.target);
        if (is_empty_value(value)) continue;
        out[m.target.to_string()] = std::move(value);
    }
    return out;
}

json build_resource(const ObjectMapping& mapping, const json& attributes) {
    json resource = json::object();
    json schemas = json::array({mapping.core_schema});
    for (const auto& m : mapping.attributes) {
        const auto key = m.target.to_string();
        const auto it = attributes.find(key);
        if (it == attributes.end()) continue;
        set_value(resource, m.target, *it);
        if (!m.target.urn.empty() &&
            std::find(schemas.begin(), schemas.end(), json(m.target.urn)) == schemas.end()) {
            schemas.push_back(m.target.urn);
        }
    }
    resource["schemas"] = std::move(schemas);
    return resource;
}

PatchPlan diff_attributes(const ObjectMapping& mapping, const json& desired, const json& applied) {
    PatchPlan plan;
    plan.applied_after = applied.is_object() ? applied : json::object();
    for (const auto& m : mapping.attributes) {
        if (m.apply == ApplyOn::OnCreate || m.type == MappingType::None) continue;
        const auto key = m.target.to_string();
        const auto d = desired.find(key);
        const auto a = plan.applied_after.find(key);
        const json new_value = d == desired.end() ? json(nullptr) : *d;
        const json old_value = a == plan.applied_after.end() ? json(nullptr) : *a;
        if (new_value == old_value) continue;
        if (new_value.is_null()) {
            plan.operations.push_back({{"op", "remove"}, {"path", m.target.removal_path()}});
            plan.applied_after.erase(key);
        } else if (old_value.is_null() && m.target.has_filter()) {
            // A filtered path that matches nothing cannot be replaced (RFC 7644 §3.5.2.3:
            // noTarget); add the whole element to the multi-valued attribute instead.
            json element = json::object();
            element[m.target.filter_attribute] = m.target.filter_value;
            if (m.target.sub_attribute.empty()) {
                if (new_value.is_object()) element.update(new_value);
            } else {
                element[m.target.sub_attribute] = new_value;
            }
            ScimPath container = m.target;
            container.filter_attribute.clear();
            container.filter_value = nullptr;
            container.sub_attribute.clear();
            plan.operations.push_back(
                {{"op", "add"}, {"path", container.to_string()}, {"value", json::array({element})}});
            plan.applied_after[key] = new_value;
        } else {
            // replace also adds an absent attribute (RFC 7644 §3.5.2.3).
            plan.operations.push_back({{"op", "replace"}, {"path", key}, {"value", new_value}});
            plan.applied_after[key] = new_value;
        }
        plan.changes.push_back({key, old_value, new_value});
    }
    return plan;
}

json patch_body(const json& operations) {
    return json{{"schemas", json::array({kPatchOpSchema})}, {"Operations", operations}};
}

}  // namespace provbridge::transforms
