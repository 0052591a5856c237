#include "provbridge/core/keys.hpp"

namespace provbridge {

std::string KeyScheme::app_base(std::string_view app) const {
    std::string key;
    key.reserve(prefix_.size() + app.size() + 4);
    key.append(prefix_).append(":{").append(app).append("}:");
    return key;
}

std::string KeyScheme::event(std::string_view app, std::string_view source, std::string_view id) const {
    // Source and id are both free text; the length prefix keeps ("a:b","c") and ("a","b:c") apart.
    return app_base(app) + "evt:" + std::to_string(source.size()) + ":" + std::string(source) + ":" +
           std::string(id);
}

std::string KeyScheme::invalid_record(std::string_view app, std::string_view topic,
                                      std::int32_t partition, std::int64_t offset) const {
    return app_base(app) + "rec:" + std::string(topic) + ":" + std::to_string(partition) +
           ":" + std::to_string(offset);
}

std::string KeyScheme::link(std::string_view app, ObjectType type, std::string_view source_id) const {
    return app_base(app) + "link:" + std::string(to_string(type)) + ":" + std::string(source_id);
}

std::string KeyScheme::owner(std::string_view app, ObjectType type, std::string_view scim_id) const {
    return app_base(app) + "owner:" + std::string(to_string(type)) + ":" + std::string(scim_id);
}

std::string KeyScheme::log(std::string_view app) const { return app_base(app) + "log"; }

std::string KeyScheme::stats(std::string_view app) const { return app_base(app) + "stats"; }

std::string KeyScheme::minute(std::string_view app, std::int64_t epoch_minute) const {
    return app_base(app) + "minute:" + std::to_string(epoch_minute);
}

std::string KeyScheme::workers() const { return prefix_ + ":workers"; }

std::string KeyScheme::dead_letters(std::string_view app) const { return app_base(app) + "dlq"; }

std::string KeyScheme::members(std::string_view app, std::string_view group_id) const {
    return app_base(app) + "members:" + std::string(group_id);
}

std::string KeyScheme::member_of(std::string_view app, std::string_view user_id) const {
    return app_base(app) + "member_of:" + std::string(user_id);
}

std::string KeyScheme::pending_references(std::string_view app, std::string_view user_id) const {
    return app_base(app) + "waiting_for:" + std::string(user_id);
}

std::string KeyScheme::reference_deadlines(std::string_view app) const {
    return app_base(app) + "reference_deadlines";
}

std::string KeyScheme::assigned_groups(std::string_view app) const {
    return app_base(app) + "assigned_groups";
}

std::string KeyScheme::applied_members(std::string_view app, std::string_view group_id) const {
    return app_base(app) + "applied:" + std::string(group_id);
}

std::string KeyScheme::queue(std::string_view app, ObjectType type, std::string_view source_id) const {
    return queue_prefix(app) + queue_member(type, source_id);
}

std::string KeyScheme::queue_prefix(std::string_view app) const { return app_base(app) + "queue:"; }

std::string KeyScheme::due(std::string_view app) const { return app_base(app) + "due"; }

std::string KeyScheme::parked(std::string_view app) const { return app_base(app) + "parked"; }

std::string KeyScheme::leases(std::string_view app) const { return app_base(app) + "leases"; }

std::string KeyScheme::lease_sequence(std::string_view app) const { return app_base(app) + "leaseseq"; }

std::string KeyScheme::quarantine(std::string_view app) const { return app_base(app) + "quarantine"; }

std::string KeyScheme::quarantine_probe(std::string_view app) const { return app_base(app) + "quarantine:probe"; }

std::string KeyScheme::operations(std::string_view app, std::int64_t bucket) const {
    return app_base(app) + "ops:" + std::to_string(bucket);
}

std::string KeyScheme::offset_gaps() const { return prefix_ + ":offset_gaps"; }

std::string KeyScheme::source_cookies(std::string_view source) const {
    return prefix_ + ":{source:" + std::string(source) + "}:cookies";
}

std::string KeyScheme::source_objects(std::string_view source) const {
    return prefix_ + ":{source:" + std::string(source) + "}:objects";
}

std::string KeyScheme::source_outbox(std::string_view source) const {
    return prefix_ + ":{source:" + std::string(source) + "}:outbox";
}

std::string KeyScheme::source_rules(std::string_view source) const {
    return prefix_ + ":{source:" + std::string(source) + "}:rules";
}

std::string KeyScheme::source_status(std::string_view source) const {
    return prefix_ + ":{source:" + std::string(source) + "}:status";
}

std::string KeyScheme::deletions(std::string_view app, std::int64_t bucket) const {
    return app_base(app) + "deletes:" + std::to_string(bucket);
}

std::string KeyScheme::staged(std::string_view app) const { return app_base(app) + "staged"; }

std::string KeyScheme::hard_deletes(std::string_view app) const { return app_base(app) + "hard_deletes"; }

std::string KeyScheme::hard_deletes_discarded(std::string_view app) const {
    return app_base(app) + "hard_deletes:discarded";
}

std::string KeyScheme::linked(std::string_view app) const { return app_base(app) + "linked"; }

std::string KeyScheme::linked_complete(std::string_view app) const { return app_base(app) + "linked:complete"; }

std::string KeyScheme::link_pattern(std::string_view app) const {
    // SCAN's MATCH is a glob: every glob character of the prefix or app id is escaped.
    std::string pattern;
    for (const char c : app_base(app) + "link:") {
        if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') pattern.push_back('\\');
        pattern.push_back(c);
    }
    return pattern + "*";
}

std::string KeyScheme::alerts(std::string_view app) const { return app_base(app) + "alerts"; }

std::string KeyScheme::queue_member(ObjectType type, std::string_view source_id) {
    return std::string(to_string(type)) + ":" + std::string(source_id);
}

std::optional<QueueMember> KeyScheme::parse_queue_member(std::string_view member) {
    const auto colon = member.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    const auto type = object_type_from_string(member.substr(0, colon));
    if (!type) return std::nullopt;
    return QueueMember{*type, std::string(member.substr(colon + 1))};
}

std::optional<QueueMember> parse_object_ref(std::string_view text) {
    const auto slash = text.find('/');
    if (slash == std::string_view::npos || slash + 1 == text.size()) return std::nullopt;
    const auto type = object_type_from_string(text.substr(0, slash));
    if (!type) return std::nullopt;
    return QueueMember{*type, std::string(text.substr(slash + 1))};
}

}  // namespace provbridge
