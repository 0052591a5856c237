#include "provbridge/transforms/profile.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>

#include "provbridge/core/json_util.hpp"
#include "provbridge/core/text.hpp"
#include "provbridge/transforms/input_checks.hpp"

namespace provbridge::transforms {

// Generated at build time from transforms/profiles/*.json (see transforms/CMakeLists.txt).
struct EmbeddedFile {
    std::string_view name;
    std::string_view text;
};
extern const EmbeddedFile kEmbeddedProfiles[];
extern const std::size_t kEmbeddedProfilesCount;

namespace {

using nlohmann::json;

std::string join_path(const std::string& base, const std::string& part) {
    if (base.empty()) return part;
    if (!part.empty() && part.front() == '[') return base + part;
    return base + "." + part;
}

std::string index_path(const std::string& base, std::size_t i) { return base + "[" + std::to_string(i) + "]"; }

[[noreturn]] void fail(const std::string& file, const std::string& field, const std::string& why) {
    throw ConfigError(file, field.empty() ? "(document)" : field, why);
}

void check_keys(const json& obj, std::initializer_list<std::string_view> known, const std::string& file,
                const std::string& field) {
    for (const auto& [key, value] : obj.items()) {
        if (std::find(known.begin(), known.end(), key) == known.end()) {
            std::string list;
            for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
            fail(file, join_path(field, key), "unknown field (known fields here: " + list + ")");
        }
    }
}

std::string string_field(const json& obj, const char* key, const std::string& file, const std::string& field,
                         bool required) {
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
        if (required) fail(file, join_path(field, key), "is required");
        return {};
    }
    if (!it->is_string()) fail(file, join_path(field, key), "must be a string");
    return it->get<std::string>();
}

std::vector<std::string> string_list(const json& obj, const char* key, const std::string& file,
                                     const std::string& field) {
    std::vector<std::string> out;
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return out;
    if (!it->is_array()) fail(file, join_path(field, key), "must be a list of strings");
    for (std::size_t i = 0; i < it->size(); ++i) {
        if (!(*it)[i].is_string()) fail(file, index_path(join_path(field, key), i), "must be a string");
        out.push_back((*it)[i].get<std::string>());
    }
    return out;
}

bool bool_field(const json& obj, const char* key, bool fallback, const std::string& file, const std::string& field) {
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) fail(file, join_path(field, key), "must be true or false");
    return it->get<bool>();
}

bool uses_function(const Expression& e, std::string_view name) {
    if (e.kind == Expression::Kind::Call && e.name == name) return true;
    return std::any_of(e.args.begin(), e.args.end(), [&](const Expression& a) { return uses_function(a, name); });
}

AttributeMapping parse_row(const json& row, const std::string& file, const std::string& field, bool allow_delete) {
    if (!row.is_object()) fail(file, field, "a mapping must be an object");
    check_keys(row, {"target", "type", "source", "value", "expression", "apply", "default", "match", "reference", "delete"},
               file, field);
    AttributeMapping m;
    const std::string target = string_field(row, "target", file, field, true);
    auto path = parse_scim_path(target);
    if (!path) fail(file, join_path(field, "target"), path.error().message);
    m.target = std::move(*path);
    m.key = m.target.to_string();
    if (bool_field(row, "delete", false, file, field)) {
        if (!allow_delete) fail(file, join_path(field, "delete"), "only an app's own mappings can delete a row");
        if (row.size() != 2) fail(file, field, "a row with \"delete\": true names only its target");
        m.remove = true;
        return m;
    }

    const bool has_source = row.contains("source");
    const bool has_value = row.contains("value");
    const bool has_expression = row.contains("expression");
    std::string type = string_field(row, "type", file, field, false);
    if (int(has_source) + int(has_value) + int(has_expression) > 1) {
        fail(file, field, "give only one of source (direct), value (constant) or expression");
    }
    if (type.empty()) {
        if (has_expression) type = "expression";
        else if (has_value) type = "constant";
        else if (has_source) type = "direct";
        else fail(file, field, "give a source attribute, a constant value or an expression (or \"type\": \"none\")");
    }
    const auto only = [&](bool wanted_source, bool wanted_value, bool wanted_expression) {
        if (has_source != wanted_source) {
            fail(file, join_path(field, "source"), wanted_source ? "is required for a " + type + " mapping"
                                                                 : "does not belong in a " + type + " mapping");
        }
        if (has_value != wanted_value) {
            fail(file, join_path(field, "value"), wanted_value ? "is required for a constant mapping"
                                                               : "does not belong in a " + type + " mapping");
        }
        if (has_expression != wanted_expression) {
            fail(file, join_path(field, "expression"), wanted_expression ? "is required for an expression mapping"
                                                                         : "does not belong in a " + type + " mapping");
        }
    };
    if (type == "direct") {
        only(true, false, false);
        m.type = MappingType::Direct;
        m.source_text = string_field(row, "source", file, field, true);
        if (m.source_text.empty()) fail(file, join_path(field, "source"), "must name a source attribute");
        m.source = Expression::attribute(m.source_text);
    } else if (type == "constant") {
        only(false, true, false);
        m.type = MappingType::Constant;
        const json& value = row["value"];
        if (!(value.is_string() || value.is_boolean() || value.is_number())) {
            fail(file, join_path(field, "value"), "must be a string, a number or true/false");
        }
        m.source_text = value.dump();
        m.source = Expression::constant_value(value);
    } else if (type == "expression") {
        only(false, false, true);
        m.type = MappingType::Expression;
        m.source_text = string_field(row, "expression", file, field, true);
        auto parsed = parse_expression(m.source_text);
        if (const auto* error = std::get_if<ExpressionError>(&parsed)) {
            fail(file, join_path(field, "expression"),
                 "column " + std::to_string(error->column) + ": " + error->message);
        }
        m.source = std::move(std::get<Expression>(parsed));
    } else if (type == "none") {
        only(false, false, false);
        m.type = MappingType::None;
    } else {
        fail(file, join_path(field, "type"), "must be direct, constant, expression or none, got \"" + type + "\"");
    }

    const std::string apply = string_field(row, "apply", file, field, false);
    if (apply.empty() || apply == "always") {
        m.apply = ApplyOn::Always;
    } else if (apply == "on_create") {
        m.apply = ApplyOn::OnCreate;
    } else {
        fail(file, join_path(field, "apply"), "must be \"always\" or \"on_create\"");
    }
    if (const auto it = row.find("default"); it != row.end() && !it->is_null()) {
        if (!(it->is_string() || it->is_boolean() || it->is_number())) {
            fail(file, join_path(field, "default"), "must be a string, a number or true/false");
        }
        m.default_value = *it;
    }
    if (const auto it = row.find("match"); it != row.end() && !it->is_null()) {
        if (!it->is_number_integer() || it->get<std::int64_t>() < 1 || it->get<std::int64_t>() > 100) {
            fail(file, join_path(field, "match"), "is the matching precedence: an integer from 1 (tried first)");
        }
        m.match_precedence = it->get<int>();
    }
    const std::string reference = string_field(row, "reference", file, field, false);
    if (!reference.empty()) {
        const auto type_of = object_type_from_string(reference);
        if (!type_of) fail(file, join_path(field, "reference"), "must be \"user\" or \"group\"");
        if (m.type != MappingType::Direct) {
            fail(file, join_path(field, "reference"), "a reference maps a source attribute directly");
        }
        m.reference = type_of;
    }
    if (m.type == MappingType::Expression && uses_function(m.source, "SelectUniqueValue") &&
        m.apply != ApplyOn::OnCreate) {
        // Every value a user already holds is "taken" by that user: evaluated on updates it
        // would move them to the next candidate. Entra allows it only during object creation.
        fail(file, join_path(field, "apply"), "a SelectUniqueValue mapping must be applied on_create");
    }
    if (m.match_precedence > 0 && (m.type == MappingType::None || m.reference)) {
        fail(file, join_path(field, "match"), "a matching attribute needs a value of its own");
    }
    return m;
}

Scoping parse_scoping_or_fail(const json& filters, const std::string& file, const std::string& field) {
    auto parsed = parse_scoping(filters);
    if (const auto* error = std::get_if<ScopingError>(&parsed)) {
        fail(file, field + error->path, error->message);
    }
    return std::move(std::get<Scoping>(parsed));
}

void check_matching(const ObjectProfile& object, const std::string& file, const std::string& field) {
    if (object.rules.filterable.empty()) return;
    for (const auto* m : object.mapping.matching()) {
        const bool filterable = std::any_of(object.rules.filterable.begin(), object.rules.filterable.end(),
                                            [&](const std::string& f) { return iequals(f, m->key); });
        if (!filterable) {
            std::string list;
            for (const auto& f : object.rules.filterable) list += (list.empty() ? "" : ", ") + f;
            fail(file, field, "matching on " + m->key + " is not possible: the app can only filter on " + list);
        }
    }
}

ObjectProfile parse_object(const json& doc, const char* key, ObjectType type, const std::string& file) {
    ObjectProfile object;
    object.mapping.resource_path = type == ObjectType::User ? "/Users" : "/Groups";
    object.mapping.core_schema = type == ObjectType::User ? kUserSchema : kGroupSchema;
    const auto it = doc.find(key);
    if (it == doc.end() || it->is_null()) {
        object.rules.enabled = false;
        object.rules.disabled_reason = std::string("the profile provisions no ") + key;
        return object;
    }
    const std::string field = key;
    if (!it->is_object()) fail(file, field, "must be an object");
    check_keys(*it, {"enabled", "disabled_reason", "create", "delete", "allowed_email_types", "filterable", "mappings"},
               file, field);
    object.rules.enabled = bool_field(*it, "enabled", true, file, field);
    object.rules.disabled_reason = string_field(*it, "disabled_reason", file, field, false);
    if (!object.rules.enabled && object.rules.disabled_reason.empty()) {
        object.rules.disabled_reason = std::string("the app is not provisioned with ") + key;
    }
    object.rules.create = bool_field(*it, "create", true, file, field);
    object.rules.remove = bool_field(*it, "delete", true, file, field);
    object.rules.allowed_email_types = string_list(*it, "allowed_email_types", file, field);
    object.rules.filterable = string_list(*it, "filterable", file, field);
    if (const auto rows = it->find("mappings"); rows != it->end() && !rows->is_null()) {
        object.mapping.attributes = parse_mapping_rows(*rows, file, join_path(field, "mappings"), false);
    } else if (object.rules.enabled) {
        fail(file, join_path(field, "mappings"), "is required when the object type is enabled");
    }
    check_matching(object, file, join_path(field, "mappings"));
    object.source_attributes = attributes_read(object.mapping, object.scoping);
    return object;
}

}  // namespace

std::vector<AttributeMapping> parse_mapping_rows(const json& rows, const std::string& file, const std::string& field,
                                                 bool allow_delete) {
    if (!rows.is_array()) fail(file, field, "must be a list of mappings");
    std::vector<AttributeMapping> out;
    std::set<std::string> seen;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const std::string row_field = index_path(field, i);
        AttributeMapping m = parse_row(rows[i], file, row_field, allow_delete);
        if (!seen.insert(m.key).second) fail(file, join_path(row_field, "target"), "maps " + m.key + " a second time");
        out.push_back(std::move(m));
    }
    return out;
}

const std::vector<std::string>& builtin_profile_names() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> out;
        for (std::size_t i = 0; i < kEmbeddedProfilesCount; ++i) out.emplace_back(kEmbeddedProfiles[i].name);
        return out;
    }();
    return names;
}

std::optional<std::string_view> builtin_profile_text(std::string_view name) {
    for (std::size_t i = 0; i < kEmbeddedProfilesCount; ++i) {
        if (kEmbeddedProfiles[i].name == name) return kEmbeddedProfiles[i].text;
    }
    return std::nullopt;
}

AppProfile parse_profile(const json& doc, const std::string& file) {
    if (!doc.is_object()) fail(file, "", "a profile must be a JSON object");
    check_keys(doc, {"name", "title", "base_url", "skip_default_access", "notes", "users", "groups"}, file, "");
    AppProfile profile;
    profile.name = string_field(doc, "name", file, "", true);
    profile.title = string_field(doc, "title", file, "", false);
    profile.base_url = string_field(doc, "base_url", file, "", false);
    profile.skip_default_access = bool_field(doc, "skip_default_access", true, file, "");
    profile.notes = string_list(doc, "notes", file, "");
    profile.users = parse_object(doc, "users", ObjectType::User, file);
    profile.groups = parse_object(doc, "groups", ObjectType::Group, file);
    return profile;
}

AppProfile builtin_profile(std::string_view name) {
    const auto text = builtin_profile_text(name);
    if (!text) throw std::logic_error("no built-in profile " + std::string(name));
    const std::string file = "profiles/" + std::string(name) + ".json";
    auto doc = parse_json(*text);
    if (!doc) throw std::logic_error(file + ": " + doc.error().message);
    try {
        return parse_profile(*doc, file);
    } catch (const ConfigError& e) {
        throw std::logic_error(std::string("built-in profile is broken: ") + e.what());
    }
}

namespace {

void apply_overrides(ObjectProfile& object, const json& rows, const std::string& file, const std::string& field) {
    auto overrides = parse_mapping_rows(rows, file, field, true);
    auto& mine = object.mapping.attributes;
    for (std::size_t i = 0; i < overrides.size(); ++i) {
        auto& o = overrides[i];
        const auto existing = std::find_if(mine.begin(), mine.end(), [&](const auto& m) { return m.key == o.key; });
        if (o.remove) {
            if (existing == mine.end()) {
                fail(file, join_path(index_path(field, i), "target"), "the profile has no mapping for " + o.key + " to delete");
            }
            mine.erase(existing);
        } else if (existing != mine.end()) {
            *existing = std::move(o);
        } else {
            mine.push_back(std::move(o));
        }
    }
    check_matching(object, file, field);
}

}  // namespace

AppProfile build_app_profile(const AppConfig& app, const std::string& config_file, std::size_t app_index) {
    const std::string app_field = "apps[" + std::to_string(app_index) + "]";
    if (!builtin_profile_text(app.profile)) {
        std::string list;
        for (const auto& n : builtin_profile_names()) list += (list.empty() ? "" : ", ") + n;
        fail(config_file, app_field + ".profile", "unknown profile \"" + app.profile + "\" (known: " + list + ")");
    }
    AppProfile profile = builtin_profile(app.profile);
    if (app.skip_default_access) profile.skip_default_access = *app.skip_default_access;

    const auto& mappings = app.mappings;
    if (!mappings.value.is_null()) {
        for (const auto& [key, rows] : mappings.value.items()) {
            ObjectProfile& object = key == "groups" ? profile.groups : profile.users;
            const std::string field = join_path(mappings.field, key);
            if (!object.rules.enabled) {
                fail(mappings.file, field, "the " + profile.name + " profile does not provision " + key + " (" +
                                               object.rules.disabled_reason + ")");
            }
            apply_overrides(object, rows, mappings.file, field);
        }
    }
    const auto& scoping = app.scoping;
    if (!scoping.value.is_null()) {
        for (const auto& [key, filters] : scoping.value.items()) {
            ObjectProfile& object = key == "groups" ? profile.groups : profile.users;
            object.scoping = parse_scoping_or_fail(filters, scoping.file, join_path(scoping.field, key));
        }
    }
    for (auto* object : {&profile.users, &profile.groups}) {
        object->source_attributes = attributes_read(object->mapping, object->scoping);
    }
    return profile;
}

}  // namespace provbridge::transforms
