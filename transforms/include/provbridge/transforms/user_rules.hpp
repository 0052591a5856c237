#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "provbridge/core/config.hpp"
#include "provbridge/core/event.hpp"
#include "provbridge/core/outcome.hpp"
#include "provbridge/transforms/mapping.hpp"
#include "provbridge/transforms/profile.hpp"

namespace provbridge::transforms {

inline constexpr const char* kDefaultAccessRole = "Default Access";

struct AppRules {
    bool skip_default_access = true;
    UnassignAction unassign_action = UnassignAction::Disable;
    bool skip_out_of_scope_deletions = false;
};
AppRules rules_for(const AppConfig& app, const AppProfile& profile);

// The I/O a decision may need, injected: uniqueness checks for SelectUniqueValue and the
// target ids of referenced objects (manager). Either may be null.
struct DecisionHooks {
    UniqueValueLookup* unique_values = nullptr;
    ReferenceResolver* references = nullptr;
};

// What a user event means for the target, decided from the event and the stored link
// alone (no I/O beyond the hooks). The processor carries it out.
struct UserDecision {
    enum class Step {
        Skip,       // nothing to send; `code`/`reason` say why
        Provision,  // bring the account to the desired attributes (match/create or PATCH)
        Disable,    // PATCH active=false
        Delete,     // DELETE
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

UserDecision decide_user(const Event& event, const std::optional<LinkState>& link, const AppRules& rules,
                         const ObjectProfile& users, DecisionHooks hooks = {});

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
