#include "provbridge/core/event.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

#include "provbridge/core/json_util.hpp"
#include "provbridge/core/text.hpp"

namespace provbridge {
namespace {

using nlohmann::json;

struct TypeName {
    EventType type;
    std::string_view name;
};

constexpr std::array<TypeName, 13> kEventTypes{{
    {EventType::UserAssigned, "provisioning.user.assigned"},
    {EventType::UserUnassigned, "provisioning.user.unassigned"},
    {EventType::UserUpdated, "provisioning.user.updated"},
    {EventType::UserDeleted, "provisioning.user.deleted"},
    {EventType::GroupAssigned, "provisioning.group.assigned"},
    {EventType::GroupUnassigned, "provisioning.group.unassigned"},
    {EventType::GroupUpdated, "provisioning.group.updated"},
    {EventType::GroupDeleted, "provisioning.group.deleted"},
    {EventType::GroupMembersAdded, "provisioning.group.members.added"},
    {EventType::GroupMembersRemoved, "provisioning.group.members.removed"},
    {EventType::GroupMembersSync, "provisioning.group.members.sync"},
    {EventType::UserReevaluate, "provisioning.user.reevaluate"},
    {EventType::UserHardDelete, "provisioning.user.hard_delete"},
}};

// A contract violation: the same record fails the same way however often it is read.
Error field_error(std::string_view field, std::string_view why) {
    return make_error(std::string(field) + ": " + std::string(why), ErrorKind::Permanent);
}

// Reads a required non-empty string member; returns an error naming the field otherwise.
std::optional<Error> read_string(const json& obj, const char* name, std::string_view field,
                                 std::string& out, bool required) {
    const auto it = obj.find(name);
    if (it == obj.end() || it->is_null()) {
        if (required) {
            return field_error(field, "is required");
        }
        return std::nullopt;
    }
    if (!it->is_string()) {
        return field_error(field, "must be a string");
    }
    out = it->get<std::string>();
    if (required && out.empty()) {
        return field_error(field, "must not be empty");
    }
    if (has_control_character(out)) {
        return field_error(field, "must not contain control characters");
    }
    return std::nullopt;
}

// Fills everything that lives in data (shared by both CloudEvents modes).
std::optional<Error> read_data(const json& data, Event& event) {
    // A hard delete is the end of a grace period the bridge scheduled itself; a producer asks for
    // a deletion with provisioning.user.deleted.
    if (event.type == EventType::UserHardDelete && event.source != kFollowUpSource) {
        return field_error("type", "provisioning.user.hard_delete is written by the bridge only (source " +
                                       std::string(kFollowUpSource) + "); send provisioning.user.deleted");
    }
    if (!data.is_object()) {
        return field_error("data", "must be a JSON object");
    }
    if (auto err = read_string(data, "app", "data.app", event.app, true)) {
        return err;
    }
    const auto object = data.find("object");
    if (object == data.end() || !object->is_object()) {
        return field_error("data.object", "is required and must be a JSON object");
    }
    std::string object_type;
    if (auto err = read_string(*object, "type", "data.object.type", object_type, true)) {
        return err;
    }
    const auto parsed_type = object_type_from_string(object_type);
    if (!parsed_type) {
        return field_error("data.object.type", "must be \"user\" or \"group\", got \"" +
                                                   object_type + "\"");
    }
    if (*parsed_type != object_type_of(event.type)) {
        return field_error("data.object.type", "is \"" + object_type + "\" but the event type " +
                                                   std::string(to_string(event.type)) +
                                                   " is about a " +
                                                   std::string(to_string(object_type_of(event.type))));
    }
    event.object_type = *parsed_type;
    if (auto err = read_string(*object, "id", "data.object.id", event.object_id, true)) {
        return err;
    }
    const auto version = object->find("version");
    if (version == object->end() || version->is_null()) {
        return field_error("data.object.version", "is required");
    }
    if (!version->is_number_integer()) {
        return field_error("data.object.version", "must be an integer");
    }
    if (version->is_number_unsigned()) {
        const auto v = version->get<std::uint64_t>();
        if (v > static_cast<std::uint64_t>(INT64_MAX)) {
            return field_error("data.object.version", "is too large");
        }
        event.version = static_cast<std::int64_t>(v);
    } else {
        event.version = version->get<std::int64_t>();
        if (event.version < 0) {
            return field_error("data.object.version", "must not be negative");
        }
    }
    const auto attributes = object->find("attributes");
    if (attributes != object->end() && !attributes->is_null()) {
        if (!attributes->is_object()) {
            return field_error("data.object.attributes", "must be a JSON object");
        }
        event.attributes = *attributes;
    }
    const auto assignment = data.find("assignment");
    if (assignment != data.end() && !assignment->is_null()) {
        if (!assignment->is_object()) {
            return field_error("data.assignment", "must be a JSON object");
        }
        std::string role;
        if (auto err = read_string(*assignment, "role", "data.assignment.role", role, false)) {
            return err;
        }
        if (assignment->contains("role") && !(*assignment)["role"].is_null()) {
            event.role = std::move(role);
        }
    }
    const bool membership = event.type == EventType::GroupMembersAdded ||
                            event.type == EventType::GroupMembersRemoved;
    const auto members = data.find("members");
    if (members != data.end() && !members->is_null()) {
        if (!members->is_array()) {
            return field_error("data.members", "must be an array of user ids");
        }
        for (std::size_t i = 0; i < members->size(); ++i) {
            const auto& m = (*members)[i];
            if (!m.is_string() || m.get_ref<const std::string&>().empty() ||
                has_control_character(m.get_ref<const std::string&>())) {
                return field_error("data.members[" + std::to_string(i) + "]",
                                   "must be a non-empty string without control characters");
            }
            event.members.push_back(m.get<std::string>());
        }
    }
    if (membership && event.members.empty()) {
        return field_error("data.members", "is required for membership events and must not be empty");
    }
    const auto check = data.find("reference_check");
    if (check != data.end() && !check->is_null()) {
        if (!check->is_boolean()) return field_error("data.reference_check", "must be true or false");
        event.reference_check = check->get<bool>();
        if (event.reference_check && event.type != EventType::UserReevaluate &&
            event.type != EventType::GroupMembersSync) {
            return field_error("data.reference_check", "is only for provisioning.user.reevaluate and "
                                                       "provisioning.group.members.sync");
        }
    }
    return std::nullopt;
}

std::optional<Error> read_type(const std::string& type_name, Event& event) {
    const auto type = event_type_from_string(type_name);
    if (!type) {
        return field_error("type", "unknown event type \"" + type_name + "\"");
    }
    event.type = *type;
    return std::nullopt;
}

const Header* find_header(const std::vector<Header>& headers, std::string_view name) {
    // The last occurrence wins, as in most Kafka header readers.
    const Header* found = nullptr;
    for (const auto& h : headers) {
        if (iequals(h.name, name)) {
            found = &h;
        }
    }
    return found;
}

std::optional<Error> size_error(std::size_t size, const ParseLimits& limits) {
    if (size <= limits.max_bytes) return std::nullopt;
    return make_error("the event is " + std::to_string(size) + " bytes, over the limit of " +
                          std::to_string(limits.max_bytes) + " (worker.max_event_bytes)",
                      ErrorKind::Permanent);
}

Result<Event> parse_binary(const InboundRecord& record, const ParseLimits& limits) {
    Event event;
    const auto header = [&](std::string_view name) -> const Header* {
        return find_header(record.headers, name);
    };
    const Header* specversion = header("ce_specversion");
    if (specversion->value != "1.0") {
        return field_error("ce_specversion", "must be \"1.0\", got \"" + specversion->value + "\"");
    }
    const auto required = [&](std::string_view name, std::string& out) -> std::optional<Error> {
        const Header* h = header(name);
        if (h == nullptr || h->value.empty()) {
            return field_error(name, "header is required");
        }
        if (has_control_character(h->value)) {
            return field_error(name, "header must not contain control characters");
        }
        out = h->value;
        return std::nullopt;
    };
    std::string type_name;
    if (auto err = required("ce_id", event.id)) return *err;
    if (auto err = required("ce_source", event.source)) return *err;
    if (auto err = required("ce_type", type_name)) return *err;
    if (auto err = read_type(type_name, event)) return *err;
    for (const auto& [name, out] : {std::pair<std::string_view, std::string*>{"ce_subject", &event.subject},
                                    std::pair<std::string_view, std::string*>{"ce_time", &event.time}}) {
        if (const Header* h = header(name)) {
            if (has_control_character(h->value)) return field_error(name, "header must not contain control characters");
            *out = h->value;
        }
    }
    auto data = parse_json(record.value, false, limits.max_depth);
    if (!data) {
        return field_error("data (record value)", data.error().message);
    }
    if (auto err = read_data(*data, event)) return *err;
    return event;
}

}  // namespace

std::string_view to_string(ObjectType type) {
    return type == ObjectType::User ? "user" : "group";
}

std::string_view to_string(EventType type) {
    for (const auto& t : kEventTypes) {
        if (t.type == type) {
            return t.name;
        }
    }
    return "unknown";
}

std::optional<EventType> event_type_from_string(std::string_view type) {
    for (const auto& t : kEventTypes) {
        if (t.name == type) {
            return t.type;
        }
    }
    return std::nullopt;
}

std::optional<ObjectType> object_type_from_string(std::string_view type) {
    if (type == "user") return ObjectType::User;
    if (type == "group") return ObjectType::Group;
    return std::nullopt;
}

ObjectType object_type_of(EventType type) {
    switch (type) {
        case EventType::UserAssigned:
        case EventType::UserUnassigned:
        case EventType::UserUpdated:
        case EventType::UserDeleted:
        case EventType::UserReevaluate:
        case EventType::UserHardDelete:
            return ObjectType::User;
        default:
            return ObjectType::Group;
    }
}

Result<Event> parse_structured_event(std::string_view json_text, const ParseLimits& limits) {
    if (auto err = size_error(json_text.size(), limits)) return *err;
    auto parsed = parse_json(json_text, false, limits.max_depth);
    if (!parsed && json_nesting_depth(json_text, limits.max_depth) > limits.max_depth) {
        return make_error("the event is nested deeper than " + std::to_string(limits.max_depth) +
                              " levels (worker.max_event_depth)",
                          ErrorKind::Permanent);
    }
    if (!parsed) {
        return parsed.error();
    }
    const json& doc = *parsed;
    if (!doc.is_object()) {
        return make_error("event must be a JSON object", ErrorKind::Permanent);
    }
    Event event;
    std::string specversion;
    if (auto err = read_string(doc, "specversion", "specversion", specversion, true)) return *err;
    if (specversion != "1.0") {
        return field_error("specversion", "must be \"1.0\", got \"" + specversion + "\"");
    }
    std::string type_name;
    if (auto err = read_string(doc, "id", "id", event.id, true)) return *err;
    if (auto err = read_string(doc, "source", "source", event.source, true)) return *err;
    if (auto err = read_string(doc, "type", "type", type_name, true)) return *err;
    if (auto err = read_type(type_name, event)) return *err;
    if (auto err = read_string(doc, "subject", "subject", event.subject, false)) return *err;
    if (auto err = read_string(doc, "time", "time", event.time, false)) return *err;
    const auto data = doc.find("data");
    if (data == doc.end() || data->is_null()) {
        return field_error("data", "is required");
    }
    if (auto err = read_data(*data, event)) return *err;
    return event;
}

Result<Event> parse_record(const InboundRecord& record, const ParseLimits& limits) {
    if (find_header(record.headers, "ce_specversion") != nullptr) {
        if (auto err = size_error(record.value.size(), limits)) return *err;
        return parse_binary(record, limits);  // its parse_json refuses a too deep value
    }
    return parse_structured_event(record.value, limits);
}

bool has_control_character(std::string_view text) {
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x20 || c == 0x7F) return true;
        // C1 controls U+0080-U+009F are 0xC2 0x80-0x9F in UTF-8.
        if (c == 0xC2 && i + 1 < text.size()) {
            const auto next = static_cast<unsigned char>(text[i + 1]);
            if (next >= 0x80 && next <= 0x9F) return true;
        }
    }
    return false;
}

std::string record_key(const Event& event) {
    std::string key;
    key.reserve(event.app.size() + event.object_id.size() + 8);
    key.append(event.app).append("/").append(to_string(event.object_type)).append("/").append(
        event.object_id);
    return key;
}

nlohmann::json to_json(const Event& event) {
    json object = {{"type", to_string(event.object_type)},
                   {"id", event.object_id},
                   {"version", event.version},
                   {"attributes", event.attributes}};
    json data = {{"app", event.app}, {"object", std::move(object)}};
    if (event.role) {
        data["assignment"] = {{"role", *event.role}};
    }
    if (!event.members.empty()) {
        data["members"] = event.members;
    }
    if (event.reference_check) data["reference_check"] = true;
    json doc = {{"specversion", "1.0"},
                {"id", event.id},
                {"source", event.source},
                {"type", to_string(event.type)}};
    if (!event.subject.empty()) doc["subject"] = event.subject;
    if (!event.time.empty()) doc["time"] = event.time;
    doc["data"] = std::move(data);
    return doc;
}

}  // namespace provbridge
