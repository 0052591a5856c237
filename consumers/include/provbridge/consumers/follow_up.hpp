#pragma once

#include <cstdint>
#include <string>

#include "provbridge/core/event.hpp"
#include "provbridge/core/membership.hpp"
#include "provbridge/core/state_store.hpp"

namespace provbridge::consumers {

// An event the bridge parks itself in the queue of object (type, id) of `app` (a members sync,
// a reevaluation, a reference check): source kFollowUpSource, no version, and an id fixed by its
// cause, so that parking it again after a crash finds it (or its outcome).
ParkedEvent follow_up_event(const std::string& app, ObjectType type, const std::string& id, EventType follow_up,
                            std::string event_id, std::int64_t now_ms, bool reference_check = false);

// The reference check of a deadline that passed: a user's reevaluation or a group's members sync,
// marked so that whatever is still unresolved then is recorded as a reference failure.
ParkedEvent reference_check_event(const std::string& app, const ReferenceDeadline& deadline, std::int64_t now_ms);

// The hard delete of a user whose grace period after deletion ended (its id names the schedule,
// so a crash between parking it and dropping the schedule parks the same one again).
ParkedEvent hard_delete_event(const std::string& app, const ScheduledHardDelete& scheduled, std::int64_t now_ms);

}  // namespace provbridge::consumers
