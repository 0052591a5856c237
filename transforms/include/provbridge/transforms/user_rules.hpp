#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "provbridge/core/config.hpp"
#include "provbridge/core/event.hpp"
#include "provbridge/core/membership.hpp"
#include "provbridge/core/outcome.hpp"
#include "provbridge/transforms/mapping.hpp"
#include "provbridge/transforms/profile.hpp"

namespace provbridge::transforms {

inline constexpr const char* kDefaultAccessRole = "Default Access";

struct AppRules {
    bool skip_default_access = true;
    UnassignAction unassign_action = UnassignAction::Disable;
    bool skip_out_of_scope_deletions = false;
    // SyncScope::All: every user the directory sends is in scope, assigned or not.
    bool sync_all = false;
    // apps[].hard_delete_after_days: > 0, a user.deleted disables the account and schedules its
    // hard delete (Step::SoftDelete); 0, it deletes the account at once.
    int hard_delete_after_days = 0;
};
AppRules rules_for(const AppConfig& app, const AppProfile& profile);

// The assigned groups a user is a member of (with the assignments' roles), read only when the
// user's own assignment does not decide. Must not throw; a failed read returns none and is
// reported by the implementation, which the caller checks before acting on the decision.
class AssignmentLookup {
public:
    virtual ~AssignmentLookup() = default;
    virtual std::vector<GroupGrant> group_grants(const std::string& user_id) = 0;
};

// The I/O a decision may need, injected: uniqueness checks for SelectUniqueValue, the target
// ids of referenced objects (manager) and the user's assigned groups. Any may be null.
struct DecisionHooks {
    UniqueValueLookup* unique_values = nullptr;
    ReferenceResolver* references = nullptr;
    AssignmentLookup* assignments = nullptr;
};

// Why a user may have an account in the app: its own assignment, an assigned group it is a
// member of, or the app's scope (all users). A Default Access role counts for none of them
// while the app skips it.
struct Access {
    bool entitled = false;
    std::optional<std::string> role;  // the role the mappings see
    std::string via;                  // "" directly, "group <id>", or "scope all"
    bool default_access = false;      // not entitled because its own role is Default Access
};
Access access_of(const Event& event, const std::optional<LinkState>& link, const AppRules& rules,
                 AssignmentLookup* assignments);

// Records on the link what the event says about the object's own assignment and attributes
// (user.assigned: the role and snapshot; user.updated: the snapshot; user.unassigned: no
// assignment), so that a later decision through a group can use them.
void record_assignment(const Event& event, LinkState& link);

// What a user event means for the target, decided from the event and the stored link
// alone (no I/O beyond the hooks). The processor carries it out.
struct UserDecision {
    enum class Step {
        Skip,       // nothing to send; `code`/`reason` say why
        Provision,  // bring the account to the desired attributes (match/create or PATCH)
        Disable,    // PATCH active=false
        Delete,     // DELETE
        // PATCH active=false unless inactive already, then schedule the hard delete after the
        // app's grace period; the link becomes SoftDeleted, its SCIM id and role kept.
        SoftDelete,
        Refuse,     // the app's rules forbid this object: dead-lettered before any request
    };
    Step step = Step::Skip;
    std::string code;    // skip code (stale, not_entitled, out_of_scope, …) or refusal code
    std::string reason;  // human explanation
    // Link state to record when the decision is a Skip (nullopt: leave the link alone).
    std::optional<LinkState> link_on_skip;
    // For Disable: what the link becomes (Disabled on unassign, OutOfScope for scoping,
    // NotEntitled for the Default Access rule).
    LinkStatus status_after = LinkStatus::Disabled;

    // Attribute set for a POST; computed only when the object has no account in the target
    // (see prepare_create for the rare case it is needed afterwards).
    AttributeSet desired_create;
    AttributeSet desired_update;  // attribute set for a PATCH (no on_create mappings)
    // Matching attributes that have a value, in precedence order: each is tried in turn and
    // the first one that finds an account wins (Entra's matching precedence).
    struct MatchCandidate {
        const AttributeMapping* mapping = nullptr;
        nlohmann::json value;
    };
    std::vector<MatchCandidate> match_candidates;
    // Things worth saying in the outcome although they do not stop it (unresolved references).
    std::vector<std::string> notes;
};

// A UserReevaluate event is decided on the link's snapshot (see reevaluation_event).
UserDecision decide_user(const Event& event, const std::optional<LinkState>& link, const AppRules& rules,
                         const ObjectProfile& users, DecisionHooks hooks = {});

// The event a UserReevaluate or UserHardDelete follow-up is decided as: the stored snapshot as
// its attributes (none when no snapshot arrived yet), at the link's version (it brings no change
// of its own, so it is never stale).
Event reevaluation_event(const Event& follow_up, const std::optional<LinkState>& link);

// The newest attributes the bridge holds for a user (a snapshot) and their version.
struct Snapshot {
    std::int64_t version = -1;
    nlohmann::json attributes = nlohmann::json::object();
};
// The newest of the link's snapshot and those of the user's assigned/updated events in `queued`
// (any order); nullopt when there is none.
std::optional<Snapshot> newest_snapshot(const std::optional<LinkState>& link, const std::vector<Event>& queued);

// A replayed, retried or late user.assigned or user.updated is decided with the newest snapshot
// the bridge holds (newest_snapshot of the link and `queued`) when it is newer than the event's
// own attributes: the event's assignment (and role) still counts, but its attributes (and so
// `active`) are the newer ones, so an older state is never sent over a newer one; it keeps its
// own version. An event older than the link's applied version is left as it is: it is stale. Returns a
// copy (kept in `storage`) when something changed; otherwise the event itself.
// `queued` is the object's queue behind the head, in order: only the run of updates (and, behind
// an assignment, assignments with its role) directly behind the head offers attributes; the
// first other event ends it. Waiting events whose attributes `users` would refuse are passed over. `from_version`, when
// given, is set to the version of the attributes taken.
const Event& with_latest_snapshot(const Event& event, const std::optional<LinkState>& link,
                                  const std::vector<Event>& queued, const ObjectProfile& users,
                                  std::optional<Event>& storage, std::int64_t* from_version = nullptr);

// Entra's objectId is the directory object's own id, which the contract carries as
// data.object.id rather than among the attributes. When the object's mappings or scoping read
// objectId and the snapshot has none, returns a copy (kept in `storage`) that has it; otherwise
// the event itself.
const Event& with_object_id(const Event& event, const ObjectProfile& object, std::optional<Event>& storage);

// What a group event means for the target; the same decision type as a user's, with no
// Disable step (a group leaving the app is deleted there, or left alone when the app keeps its
// groups). Membership events are not decided here.
UserDecision decide_group(const Event& event, const std::optional<LinkState>& link, const AppRules& rules,
                          const ObjectProfile& groups, DecisionHooks hooks = {});

// Fills desired_create, applies the app's email rule to it and sets the match candidates: for
// a decision about an object that turns out to have no account after all (it was deleted in
// the target). Returns false when the object cannot be created (step and reason are set).
bool prepare_create(UserDecision& decision, const Event& event, const ObjectProfile& users, DecisionHooks hooks = {});

// Whether the link points at an account the bridge manages in the target.
bool has_target_account(const std::optional<LinkState>& link);

// Drops email values of types the app does not store. Returns the refusal reason when the
// object is left with no email although it had some (only other types).
std::optional<std::string> apply_email_rule(const ObjectRules& rules, const ObjectMapping& mapping,
                                            AttributeSet& attributes);

}  // namespace provbridge::transforms
