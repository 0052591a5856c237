#include "provbridge/transforms/scim_path.hpp"

#include <cctype>

#include "provbridge/core/json_util.hpp"
#include "provbridge/core/text.hpp"

namespace provbridge::transforms {
namespace {

using nlohmann::json;

bool is_name_char(char c) {
    const auto u = static_cast<unsigned char>(c);
    return std::isalnum(u) != 0 || c == '_' || c == '-' || c == '$';
}

bool valid_name(std::string_view name) {
    if (name.empty()) return false;
    if (std::isalpha(static_cast<unsigned char>(name.front())) == 0 && name.front() != '$') {
        return false;
    }
    for (char c : name) {
        if (!is_name_char(c)) return false;
    }
    return true;
}

Error at(std::string_view text, std::size_t pos, const std::string& why) {
    return make_error("invalid SCIM path \"" + std::string(text) + "\" at column " +
                      std::to_string(pos + 1) + ": " + why);
}

const json* find_ci(const json& obj, std::string_view key) {
    if (!obj.is_object()) return nullptr;
    if (const auto it = obj.find(std::string(key)); it != obj.end()) return &*it;
    for (const auto& [k, v] : obj.items()) {
        if (iequals(k, key)) return &v;
    }
    return nullptr;
}

json* find_ci(json& obj, std::string_view key) {
    return const_cast<json*>(find_ci(static_cast<const json&>(obj), key));
}

bool filter_matches(const json& element, const ScimPath& path) {
    const json* v = find_ci(element, path.filter_attribute);
    if (v == nullptr) return false;
    if (v->is_string() && path.filter_value.is_string()) {
        // Canonical values such as "work" are compared case-insensitively (RFC 7643 §2.3.1
        // caseExact defaults to false).
        return iequals(v->get_ref<const std::string&>(), path.filter_value.get_ref<const std::string&>());
    }
    if (v->is_string() && path.filter_value.is_boolean()) {
        // Entra writes roles[primary eq "True"]; accept either form.
        return iequals(v->get_ref<const std::string&>(), path.filter_value.get<bool>() ? "true" : "false");
    }
    return *v == path.filter_value;
}

}  // namespace

std::string ScimPath::to_string() const {
    std::string out;
    if (!urn.empty()) out.append(urn).append(":");
    out.append(attribute);
    if (has_filter()) {
        out.append("[").append(filter_attribute).append(" eq ").append(filter_value.dump()).append("]");
    }
    if (!sub_attribute.empty()) out.append(".").append(sub_attribute);
    return out;
}

std::string ScimPath::removal_path() const {
    if (!has_filter()) return to_string();
    ScimPath element = *this;
    element.sub_attribute.clear();
    return element.to_string();
}

Result<ScimPath> parse_scim_path(std::string_view text) {
    ScimPath path;
    if (text.empty()) return at(text, 0, "empty path");
    const std::size_t bracket = text.find('[');
    std::size_t start = 0;
    if (text.size() > 4 && iequals(text.substr(0, 4), "urn:")) {
        const std::size_t limit = bracket == std::string_view::npos ? text.size() : bracket;
        const std::size_t colon = text.substr(0, limit).rfind(':');
        if (colon == std::string_view::npos || colon + 1 >= limit) {
            return at(text, limit, "a schema URN must be followed by \":attribute\"");
        }
        path.urn = std::string(text.substr(0, colon));
        start = colon + 1;
    }
    std::size_t pos = start;
    while (pos < text.size() && is_name_char(text[pos])) ++pos;
    path.attribute = std::string(text.substr(start, pos - start));
    if (!valid_name(path.attribute)) {
        return at(text, start, "expected an attribute name");
    }
    if (pos < text.size() && text[pos] == '[') {
        const std::size_t close = text.find(']', pos);
        if (close == std::string_view::npos) return at(text, pos, "unclosed '['");
        // The filter is "<attr> eq <value>": the value is a JSON string, true, false or a number.
        std::string_view filter = text.substr(pos + 1, close - pos - 1);
        std::size_t f = 0;
        while (f < filter.size() && filter[f] == ' ') ++f;
        const std::size_t name_start = f;
        while (f < filter.size() && is_name_char(filter[f])) ++f;
        path.filter_attribute = std::string(filter.substr(name_start, f - name_start));
        if (!valid_name(path.filter_attribute)) {
            return at(text, pos + 1 + name_start, "expected a filter attribute name");
        }
        while (f < filter.size() && filter[f] == ' ') ++f;
        if (f + 2 > filter.size() || !iequals(filter.substr(f, 2), "eq")) {
            return at(text, pos + 1 + f, "only the \"eq\" operator is supported in a value filter");
        }
        f += 2;
        while (f < filter.size() && filter[f] == ' ') ++f;
        std::string_view literal = filter.substr(f);
        while (!literal.empty() && literal.back() == ' ') literal.remove_suffix(1);
        auto value = parse_json(literal);
        if (!value || !(value->is_string() || value->is_boolean() || value->is_number())) {
            return at(text, pos + 1 + f, "expected a quoted string, true, false or a number");
        }
        path.filter_value = std::move(*value);
        pos = close + 1;
    }
    if (pos < text.size()) {
        if (text[pos] != '.') return at(text, pos, "unexpected character");
        const std::size_t sub_start = pos + 1;
        std::size_t end = sub_start;
        while (end < text.size() && is_name_char(text[end])) ++end;
        path.sub_attribute = std::string(text.substr(sub_start, end - sub_start));
        if (!valid_name(path.sub_attribute)) return at(text, sub_start, "expected a sub-attribute name");
        if (end < text.size()) return at(text, end, "unexpected character");
    }
    return path;
}

json get_value(const json& resource, const ScimPath& path) {
    const json* container = &resource;
    if (!path.urn.empty()) {
        container = find_ci(resource, path.urn);
        if (container == nullptr) return nullptr;
    }
    const json* attr = find_ci(*container, path.attribute);
    if (attr == nullptr || attr->is_null()) return nullptr;
    if (path.has_filter()) {
        if (!attr->is_array()) return nullptr;
        const json* found = nullptr;
        for (const auto& element : *attr) {
            if (filter_matches(element, path)) {
                found = &element;
                break;
            }
        }
        if (found == nullptr) return nullptr;
        attr = found;
    }
    if (path.sub_attribute.empty()) return *attr;
    const json* sub = find_ci(*attr, path.sub_attribute);
    return sub == nullptr ? json(nullptr) : *sub;
}

void set_value(json& resource, const ScimPath& path, const json& value) {
    json* container = &resource;
    if (!path.urn.empty()) {
        json* ext = find_ci(resource, path.urn);
        if (ext == nullptr) {
            resource[path.urn] = json::object();
            ext = &resource[path.urn];
        }
        container = ext;
    }
    json* attr = find_ci(*container, path.attribute);
    if (!path.has_filter()) {
        if (path.sub_attribute.empty()) {
            if (attr != nullptr) {
                *attr = value;
            } else {
                (*container)[path.attribute] = value;
            }
            return;
        }
        if (attr == nullptr || !attr->is_object()) {
            (*container)[path.attribute] = json::object();
            attr = &(*container)[path.attribute];
        }
        json* sub = find_ci(*attr, path.sub_attribute);
        if (sub != nullptr) {
            *sub = value;
        } else {
            (*attr)[path.sub_attribute] = value;
        }
        return;
    }
    if (attr == nullptr || !attr->is_array()) {
        (*container)[path.attribute] = json::array();
        attr = &(*container)[path.attribute];
    }
    for (auto& element : *attr) {
        if (filter_matches(element, path)) {
            if (path.sub_attribute.empty()) {
                element = value;
            } else {
                element[path.sub_attribute] = value;
            }
            return;
        }
    }
    json element = json::object();
    element[path.filter_attribute] = path.filter_value;
    if (path.sub_attribute.empty()) {
        if (value.is_object()) element.update(value);
    } else {
        element[path.sub_attribute] = value;
    }
    attr->push_back(std::move(element));
}

}  // namespace provbridge::transforms
