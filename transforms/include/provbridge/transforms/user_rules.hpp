#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "provbridge/core/config.hpp"
#include "provbridge/core/event.hpp"
#include "provbridge/core/outcome.hpp"
#include "provbridge/transforms/mapping.hpp"

namespace provbridge::transforms {

inline constexpr const char* kDefaultAccessRole = "Default Access";

struct AppRules {
    bool skip_default_access = true;
    UnassignAction unassign_action = UnassignAction::Disable;
};
AppRules rules_for(const AppConfig& app);

// What a user event means for the target, decided from the event and the stored link
// alone (no I/O). The processor carries it out.
struct UserDecision {
    enum class Step {
        Skip,       // nothing to send; `code`/`reason` say why
        Provision,  // bring the account to the desired attributes (match/create or PATCH)
        Disable,    // PATCH active=false
        Delete,     // DELETE
    };
    Step step = Step::Skip;
    std::string code;    // skip code: stale, not_entitled, not_assigned, not_provisioned, …
    std::string reason;  // human explanation
    // Link state to record when the decision is a Skip (nullopt: leave the link alone).
    std::optional<LinkState> link_on_skip;

    nlohmann::json desired_create;  // attribute set for a POST
    nlohmann::json desired_update;  // attribute set for a PATCH (no on_create mappings)
    // Matching attributes that have a value, in precedence order: each is tried in turn and
    // the first one that finds an account wins (Entra's matching precedence).
    struct MatchCandidate {
        const AttributeMapping* mapping = nullptr;
        nlohmann::json value;
    };
    std::vector<MatchCandidate> match_candidates;
};

UserDecision decide_user(const Event& event, const std::optional<LinkState>& link,
                         const AppRules& rules, const ObjectMapping& mapping);

// Whether the link points at an account the bridge manages in the target.
bool has_target_account(const std::optional<LinkState>& link);

}  // namespace provbridge::transforms
