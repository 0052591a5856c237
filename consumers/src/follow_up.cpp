#include "provbridge/consumers/follow_up.hpp"

#include <nlohmann/json.hpp>

namespace provbridge::consumers {

ParkedEvent follow_up_event(const std::string& app, ObjectType type, const std::string& id, EventType follow_up,
                            std::string event_id, std::int64_t now_ms, bool reference_check) {
    const std::string type_name(to_string(type));
    ParkedEvent parked;
    parked.app = app;
    parked.object_type = type;
    parked.object_id = id;
    parked.source = kFollowUpSource;
    parked.event_id = std::move(event_id);
    parked.parked_at_ms = now_ms;
    parked.record.key = app + "/" + type_name + "/" + id;
    nlohmann::json data = {{"app", app}, {"object", {{"type", type_name}, {"id", id}, {"version", 0}}}};
    if (reference_check) data["reference_check"] = true;
    parked.record.value = nlohmann::json{{"specversion", "1.0"},
                                         {"id", parked.event_id},
                                         {"source", kFollowUpSource},
                                         {"type", to_string(follow_up)},
                                         {"data", std::move(data)}}
                              .dump();
    return parked;
}

ParkedEvent reference_check_event(const std::string& app, const ReferenceDeadline& deadline, std::int64_t now_ms) {
    const auto type = deadline.type == ObjectType::User ? EventType::UserReevaluate : EventType::GroupMembersSync;
    return follow_up_event(app, deadline.type, deadline.id, type,
                           "reference-check:" + std::string(to_string(deadline.type)) + ":" + deadline.id + ":" +
                               std::to_string(deadline.due_ms), now_ms, true);
}

ParkedEvent hard_delete_event(const std::string& app, const ScheduledHardDelete& scheduled, std::int64_t now_ms) {
    auto parked = follow_up_event(app, ObjectType::User, scheduled.user_id, EventType::UserHardDelete,
                                  "hard-delete:" + scheduled.user_id + ":" + std::to_string(scheduled.due_ms), now_ms);
    if (scheduled.discarded) parked.deletion = DeletionHold{DeletionMark::Discarded, Action::Delete, now_ms};
    return parked;
}

}  // namespace provbridge::consumers
