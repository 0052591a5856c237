#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "provbridge/core/outcome.hpp"
#include "provbridge/core/result.hpp"

namespace provbridge {

// A group assigned to an app, as a user's way in: the group and the assignment's role.
struct GroupGrant {
    std::string group;  // source id
    std::string role;   // "" when the assignment named none
    bool operator==(const GroupGrant&) const = default;
};

// One group's membership: what the directory lists, and what the target has been sent.
struct GroupMembership {
    std::vector<std::string> members;             // user source ids
    std::map<std::string, std::string> applied;   // user source id → the user's id in the target
};

// An object whose references are unresolved (a user whose manager has no account, a group with
// members that have none), and when it stops waiting quietly: then a reference check is parked
// in its queue, whose outcome says what is still unresolved.
struct ReferenceDeadline {
    ObjectType type = ObjectType::User;
    std::string id;  // source id
    std::int64_t due_ms = 0;
    bool operator==(const ReferenceDeadline&) const = default;
};

// Where membership lives. Kept as sets changed by deltas, never rewritten whole, so what a
// change costs does not grow with the group. Every method returns an Error when the store
// cannot be reached, and never throws; every change is idempotent (a redelivery repeats it).
class MembershipStore {
public:
    virtual ~MembershipStore() = default;

    // Adds and removes members of a group, and the users' reverse index, in one atomic step.
    virtual Result<bool> change_members(const std::string& app, const std::string& group,
                                        const std::vector<std::string>& added,
                                        const std::vector<std::string>& removed) = 0;
    virtual Result<GroupMembership> load_membership(const std::string& app, const std::string& group) = 0;
    // What a PATCH the target accepted changed: members added (with their ids there) and removed.
    virtual Result<bool> record_applied(const std::string& app, const std::string& group,
                                        const std::vector<std::pair<std::string, std::string>>& added,
                                        const std::vector<std::string>& removed) = 0;
    // The group's account in the target is new (created, linked, re-created): what was sent to
    // an earlier one says nothing about it.
    virtual Result<bool> forget_applied(const std::string& app, const std::string& group) = 0;
    // The groups a user is a member of (source ids).
    virtual Result<std::vector<std::string>> groups_of(const std::string& app, const std::string& user) = 0;
    // Records the group's assignment to the app (its role), or with nullopt that it has none.
    virtual Result<bool> set_group_assignment(const std::string& app, const std::string& group,
                                              const std::optional<std::string>& role) = 0;
    // The group's assignment (its role), nullopt when it is not assigned.
    virtual Result<std::optional<std::string>> group_assignment(const std::string& app, const std::string& group) = 0;
    // The assigned groups a user is a member of, by group id, in one round trip.
    virtual Result<std::vector<GroupGrant>> group_grants(const std::string& app, const std::string& user) = 0;
    // References that wait for an object to get an account (a report whose manager has none yet):
    // `referrer` waits for `referenced` since `since_ms` (kept from the first time it is added).
    virtual Result<bool> add_pending_reference(const std::string& app, const std::string& referenced,
                                               const std::string& referrer, std::int64_t since_ms) = 0;
    // Who waits for `referenced`, by id, with the time each started waiting.
    virtual Result<std::map<std::string, std::int64_t>> pending_references(const std::string& app,
                                                                           const std::string& referenced) = 0;
    // Drops those referrers (their follow-ups are parked).
    virtual Result<bool> drop_pending_references(const std::string& app, const std::string& referenced,
                                                 const std::vector<std::string>& referrers) = 0;
    // Sets the object's reference deadline unless it has one already (the first wait counts).
    virtual Result<bool> arm_reference_deadline(const std::string& app, ObjectType type, const std::string& id,
                                                std::int64_t due_ms) = 0;
    // Up to `max` deadlines due at now_ms, the oldest first; they stay until dropped.
    virtual Result<std::vector<ReferenceDeadline>> due_reference_deadlines(const std::string& app, std::int64_t now_ms,
                                                                           std::size_t max) = 0;
    // Drops a deadline whose check is parked.
    virtual Result<bool> drop_reference_deadline(const std::string& app, const ReferenceDeadline& deadline) = 0;
    // The links of many users in one round trip, in the order asked (nullopt: no link).
    virtual Result<std::vector<std::optional<LinkState>>> load_user_links(const std::string& app,
                                                                          const std::vector<std::string>& users) = 0;
};

}  // namespace provbridge
