#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "provbridge/core/result.hpp"

namespace provbridge {

enum class ObjectType { User, Group };

enum class EventType {
    UserAssigned,
    UserUnassigned,
    UserUpdated,
    UserDeleted,
    GroupAssigned,
    GroupUnassigned,
    GroupUpdated,
    GroupDeleted,
    GroupMembersAdded,
    GroupMembersRemoved,
    // An extension of the contract, written by the bridge itself (a member or the group became
    // provisioned): bring the group's members in the target to what is recorded. A producer may
    // send one to ask for the same. Carries no members and no version of its own.
    GroupMembersSync,
    // An extension of the contract, written by the bridge itself (a group assignment or a
    // membership changed): decide the user's access again from what is stored (its direct
    // assignment, its assigned groups, its latest snapshot). Carries no attributes and no version.
    UserReevaluate,
    // Written by the bridge only (a producer's is refused): the hard delete of a user deleted
    // hard_delete_after_days ago, parked in the user's queue when its grace period ends. Deletes
    // the account only while the link is still SoftDeleted. Carries no attributes and no version.
    UserHardDelete,
};

std::string_view to_string(ObjectType type);
std::string_view to_string(EventType type);  // the CloudEvents type, e.g. provisioning.user.assigned
std::optional<EventType> event_type_from_string(std::string_view type);
std::optional<ObjectType> object_type_from_string(std::string_view type);
ObjectType object_type_of(EventType type);

struct Header {
    std::string name;
    std::string value;
};

struct TopicPartition {
    std::string topic;
    std::int32_t partition = 0;
    auto operator<=>(const TopicPartition&) const = default;
};

// A Kafka record as the worker received it, before any interpretation. Kept whole so a
// dead-lettered record carries the original bytes and headers.
struct InboundRecord {
    std::string topic;
    std::int32_t partition = 0;
    std::int64_t offset = 0;
    std::optional<std::string> key;
    std::string value;
    std::vector<Header> headers;
    std::int64_t timestamp_ms = 0;  // Kafka message timestamp (producer create time)
};

// The source of the events the bridge parks itself (GroupMembersSync, UserReevaluate).
inline constexpr std::string_view kFollowUpSource = "urn:provbridge:follow-up";

// One directory change, as defined by the assignment-change event contract (v1).
struct Event {
    std::string id;
    std::string source;
    EventType type = EventType::UserAssigned;
    std::string subject;
    std::string time;
    std::string app;
    ObjectType object_type = ObjectType::User;
    std::string object_id;
    std::int64_t version = 0;
    nlohmann::json attributes = nlohmann::json::object();
    std::optional<std::string> role;
    std::vector<std::string> members;
    // Set by the bridge on the follow-up it parks when an object's reference (its manager, a
    // group's members) is still unresolved at the app's reference_timeout_seconds: decided as
    // any reevaluation or members sync, and what is still unresolved then is a reference failure.
    bool reference_check = false;
};

// What a record may weigh before it is even parsed. Contract events are a few kilobytes with
// attribute values a level or two deep; anything far beyond is refused with the limit named.
struct ParseLimits {
    std::size_t max_bytes = 1024 * 1024;  // worker.max_event_bytes
    int max_depth = 32;                   // worker.max_event_depth: nested arrays/objects
};

// Parses a CloudEvents 1.0 event in structured mode (the whole event is the JSON value).
Result<Event> parse_structured_event(std::string_view json_text, const ParseLimits& limits = {});

// Parses a Kafka record in either CloudEvents mode: binary mode when a ce_specversion
// header is present (attributes in ce_* headers, value = data), structured mode otherwise.
// A record over the limits is refused before parsing (ErrorKind::Permanent), naming the limit.
Result<Event> parse_record(const InboundRecord& record, const ParseLimits& limits = {});

// Whether text holds a control character (U+0000-U+001F, U+007F-U+009F): such a character in
// an identifier (userName, externalId, a group's displayName, an object id) is never
// legitimate and breaks filters, logs and the target's own uniqueness checks.
bool has_control_character(std::string_view text);

// The record key that keeps every event of one object in one partition: <app>/<type>/<id>.
std::string record_key(const Event& event);

// Serialises an event back to structured-mode JSON (used by producers and tests).
nlohmann::json to_json(const Event& event);

}  // namespace provbridge
