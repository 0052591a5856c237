#include "provbridge/transforms/mapping.hpp"

#include <algorithm>
#include <stdexcept>

#include "provbridge/core/text.hpp"
#include "provbridge/transforms/profile.hpp"

namespace provbridge::transforms {
namespace {

using nlohmann::json;

bool is_empty_value(const json& v) {
    return v.is_null() || (v.is_string() && v.get_ref<const std::string&>().empty());
}

// Entra's expressions produce strings; SCIM wants the attribute's own type. active (and the
// primary sub-attributes) are booleans: "True"/"False" become true/false.
json coerce_to_target(const ScimPath& target, json value) {
    const bool boolean = (target.urn.empty() && target.sub_attribute.empty() && iequals(target.attribute, "active")) ||
                         iequals(target.sub_attribute, "primary");
    if (boolean && value.is_string()) {
        const auto& s = value.get_ref<const std::string&>();
        if (iequals(s, "true")) return true;
        if (iequals(s, "false")) return false;
    }
    return value;
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

const ObjectMapping& default_user_mapping() {
    static const ObjectMapping mapping = builtin_profile("generic").users.mapping;
    return mapping;
}

AttributeSet::AttributeSet(const ObjectMapping& mapping) : mapping_(&mapping), values_(mapping.attributes.size()) {}

const json* AttributeSet::find(std::string_view key) const {
    if (mapping_ == nullptr) return nullptr;
    for (std::size_t i = 0; i < values_.size(); ++i) {
        if (mapping_->attributes[i].key == key) return values_[i].is_null() ? nullptr : &values_[i];
    }
    return nullptr;
}

const json& AttributeSet::operator[](std::string_view key) const {
    static const json null_value;
    const json* v = find(key);
    return v == nullptr ? null_value : *v;
}

std::size_t AttributeSet::size() const {
    return static_cast<std::size_t>(std::count_if(values_.begin(), values_.end(), [](const json& v) { return !v.is_null(); }));
}

json AttributeSet::to_json() const {
    json out = json::object();
    for (std::size_t i = 0; i < values_.size(); ++i) {
        if (!values_[i].is_null()) out[mapping_->attributes[i].key] = values_[i];
    }
    return out;
}

namespace {

// Evaluates one row's source: the raw value, before defaults, conversion and references.
json evaluate_row(const AttributeMapping& m, SourceContext& ctx) {
    json value;
    if (m.type != MappingType::None) {
        ctx.target_path = m.key;
        value = evaluate(m.source, ctx);
    }
    return value;
}

json finish_value(const AttributeMapping& m, json value, ReferenceResolver* resolver, std::vector<std::string>* unresolved) {
    // Entra never provisions null values; an empty string is treated the same way.
    if (is_empty_value(value)) return nullptr;
    if (m.reference) {
        const std::string source_id = value.is_string() ? value.get<std::string>() : value.dump();
        const auto id = resolver != nullptr ? resolver->target_id(*m.reference, source_id) : std::nullopt;
        if (!id) {
            if (unresolved != nullptr) {
                unresolved->push_back(m.target.attribute + " " + source_id + " has no account in the app yet");
            }
            return nullptr;
        }
        return json{{"value", *id}};
    }
    return coerce_to_target(m.target, std::move(value));
}

}  // namespace

AttributeSet desired_attributes(const ObjectMapping& mapping, const SourceContext& context, Phase phase,
                                ReferenceResolver* resolver, std::vector<std::string>* unresolved) {
    AttributeSet out(mapping);
    SourceContext ctx = context;
    for (std::size_t row = 0; row < mapping.attributes.size(); ++row) {
        const auto& m = mapping.attributes[row];
        if (phase == Phase::Update && m.apply == ApplyOn::OnCreate) continue;
        json value = evaluate_row(m, ctx);
        if (is_empty_value(value) && phase == Phase::Create && m.default_value) value = *m.default_value;
        out.set(row, finish_value(m, std::move(value), resolver, unresolved));
    }
    return out;
}

DesiredSets desired_create_and_update(const ObjectMapping& mapping, const SourceContext& context,
                                      ReferenceResolver* resolver, std::vector<std::string>* unresolved) {
    DesiredSets out{AttributeSet(mapping), AttributeSet(mapping)};
    SourceContext ctx = context;
    for (std::size_t row = 0; row < mapping.attributes.size(); ++row) {
        const auto& m = mapping.attributes[row];
        json value = finish_value(m, evaluate_row(m, ctx), resolver, unresolved);
        if (m.apply != ApplyOn::OnCreate) out.update.set(row, value);
        if (value.is_null() && m.default_value) value = finish_value(m, *m.default_value, resolver, nullptr);
        out.create.set(row, std::move(value));
    }
    return out;
}

AttributeSet extract_attributes(const ObjectMapping& mapping, const json& resource) {
    AttributeSet out(mapping);
    for (std::size_t row = 0; row < mapping.attributes.size(); ++row) {
        const auto& m = mapping.attributes[row];
        json value = get_value(resource, m.target);
        if (is_empty_value(value)) continue;
        if (m.reference) {
            // Servers add $ref and displayName to a reference; only the id is ours to compare.
            if (!value.is_object() || !value.contains("value")) continue;
            value = json{{"value", value["value"]}};
        }
        out.set(row, std::move(value));
    }
    return out;
}

json build_resource(const ObjectMapping& mapping, const AttributeSet& attributes) {
    json resource = json::object();
    json schemas = json::array({mapping.core_schema});
    for (std::size_t row = 0; row < mapping.attributes.size() && row < attributes.rows(); ++row) {
        const auto& m = mapping.attributes[row];
        if (!attributes.has(row)) continue;
        set_value(resource, m.target, attributes.value(row));
        if (!m.target.urn.empty() &&
            std::find(schemas.begin(), schemas.end(), json(m.target.urn)) == schemas.end()) {
            schemas.push_back(m.target.urn);
        }
    }
    resource["schemas"] = std::move(schemas);
    return resource;
}

PatchPlan diff_attributes(const ObjectMapping& mapping, const AttributeSet& desired, const json& applied) {
    PatchPlan plan;
    const json empty = json::object();
    const json& before = applied.is_object() ? applied : empty;
    for (std::size_t row = 0; row < mapping.attributes.size(); ++row) {
        const auto& m = mapping.attributes[row];
        if (m.apply == ApplyOn::OnCreate || m.type == MappingType::None) continue;
        const auto& key = m.key;
        const json* d = row < desired.rows() && desired.has(row) ? &desired.value(row) : nullptr;
        const auto a = before.find(key);
        const bool has_new = d != nullptr;
        const bool has_old = a != before.end();
        if (has_new == has_old && (!has_new || *d == *a)) continue;
        if (!has_new) {
            plan.operations.push_back({{"op", "remove"}, {"path", m.target.removal_path()}});
        } else if (!has_old && m.target.has_filter()) {
            // A filtered path that matches nothing cannot be replaced (RFC 7644 §3.5.2.3:
            // noTarget); add the whole element to the multi-valued attribute instead.
            json element = json::object();
            element[m.target.filter_attribute] = m.target.filter_value;
            if (m.target.sub_attribute.empty()) {
                if (d->is_object()) element.update(*d);
            } else {
                element[m.target.sub_attribute] = *d;
            }
            ScimPath container = m.target;
            container.filter_attribute.clear();
            container.filter_value = nullptr;
            container.sub_attribute.clear();
            plan.operations.push_back(
                {{"op", "add"}, {"path", container.to_string()}, {"value", json::array({std::move(element)})}});
        } else {
            // replace also adds an absent attribute (RFC 7644 §3.5.2.3).
            plan.operations.push_back({{"op", "replace"}, {"path", key}, {"value", *d}});
        }
        plan.changes.push_back({key, has_old ? *a : json(nullptr), has_new ? *d : json(nullptr)});
    }
    return plan;
}

json applied_after(const json& applied, const PatchPlan& plan) {
    json after = applied.is_object() ? applied : json::object();
    for (const auto& c : plan.changes) {
        if (c.new_value.is_null()) {
            after.erase(c.path);
        } else {
            after[c.path] = c.new_value;
        }
    }
    return after;
}

json patch_body(const json& operations) {
    return json{{"schemas", json::array({kPatchOpSchema})}, {"Operations", operations}};
}

}  // namespace provbridge::transforms
