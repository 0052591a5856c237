#include "provbridge/transforms/user_rules.hpp"

#include <algorithm>
#include <cctype>

#include "provbridge/core/text.hpp"

namespace provbridge::transforms {
namespace {

using nlohmann::json;
using Step = UserDecision::Step;

UserDecision skip(std::string code, std::string reason, std::optional<LinkState> link = std::nullopt) {
    UserDecision d;
    d.step = Step::Skip;
    d.code = std::move(code);
    d.reason = std::move(reason);
    d.link_on_skip = std::move(link);
    return d;
}

// Entra: IsSoftDeleted is true when the account is disabled in the directory.
bool soft_deleted(const Event& event) {
    const auto it = event.attributes.find("accountEnabled");
    if (it == event.attributes.end()) return false;
    if (it->is_boolean()) return !it->get<bool>();
    if (it->is_string()) return iequals(it->get<std::string>(), "false");
    return false;
}

LinkState with_version(const std::optional<LinkState>& link, std::int64_t version, LinkStatus status) {
    LinkState next = link.value_or(LinkState{});
    next.version = std::max(next.version, version);
    next.status = status;
    return next;
}

UserDecision decide_provision(const Event& event, const ObjectMapping& mapping) {
    const json attributes = event.attributes;
    const SourceContext context{attributes, soft_deleted(event), event.role};
    UserDecision d;
    d.step = Step::Provision;
    d.desired_create = desired_attributes(mapping, context, Phase::Create);
    d.desired_update = desired_attributes(mapping, context, Phase::Update);
    const auto matching = mapping.matching();
    for (const auto* m : matching) {
        const auto it = d.desired_create.find(m->target.to_string());
        if (it != d.desired_create.end()) {
            d.match_candidates.push_back({m, *it});
        }
    }
    if (!matching.empty() && d.match_candidates.empty()) {
        // Entra: a user with no value for any matching attribute is skipped (ImportSkipped).
        const auto& first = *matching.front();
        std::string source = first.source.kind == Expression::Kind::Attribute ? " (from " + first.source.name + ")" : "";
        return skip("missing_matching_attribute",
                    "the matching attribute " + first.target.to_string() + source +
                        " has no value, so the account cannot be matched or created");
    }
    return d;
}

}  // namespace

AppRules rules_for(const AppConfig& app) {
    return AppRules{app.skip_default_access, app.unassign_action};
}

bool has_target_account(const std::optional<LinkState>& link) {
    return link && !link->scim_id.empty() &&
           (link->status == LinkStatus::Active || link->status == LinkStatus::Disabled ||
            link->status == LinkStatus::NotEntitled);
}

UserDecision decide_user(const Event& event, const std::optional<LinkState>& link,
                         const AppRules& rules, const ObjectMapping& mapping) {
    if (link && event.version < link->version) {
        return skip("stale", "version " + std::to_string(event.version) +
                                 " is older than the applied version " + std::to_string(link->version));
    }
    const bool active = link && link->status == LinkStatus::Active && !link->scim_id.empty();
    switch (event.type) {
        case EventType::UserAssigned: {
            if (rules.skip_default_access && event.role && iequals(*event.role, kDefaultAccessRole)) {
                if (active) {
                    UserDecision d;
                    d.step = Step::Disable;
                    d.code = "not_entitled";
                    d.reason = "the assignment's role is Default Access, which this app does not provision";
                    return d;
                }
                return skip("not_entitled",
                            "not effectively entitled: the role Default Access is not provisioned to this app",
                            with_version(link, event.version, LinkStatus::NotEntitled));
            }
            return decide_provision(event, mapping);
        }
        case EventType::UserUpdated: {
            if (!active) {
                const bool disabled = link && link->status == LinkStatus::Disabled;
                return skip("not_assigned", disabled ? "the user is not assigned to the app (its account is disabled)"
                                                     : "the user is not assigned to the app");
            }
            return decide_provision(event, mapping);
        }
        case EventType::UserUnassigned: {
            if (!has_target_account(link)) {
                return skip("not_provisioned", "the user has no account in the app",
                            link ? std::optional<LinkState>(with_version(link, event.version, link->status))
                                 : std::nullopt);
            }
            if (rules.unassign_action == UnassignAction::Delete) {
                UserDecision d;
                d.step = Step::Delete;
                return d;
            }
            if (link->status != LinkStatus::Active) {
                return skip("no_change", "the account is already disabled",
                            with_version(link, event.version, LinkStatus::Disabled));
            }
            UserDecision d;
            d.step = Step::Disable;
            return d;
        }
        case EventType::UserDeleted: {
            if (!has_target_account(link)) {
                // Remember the deletion so an older event replayed later is recognised as stale.
                return skip("not_provisioned", "the user has no account in the app",
                            with_version(link, event.version, LinkStatus::Deleted));
            }
            UserDecision d;
            d.step = Step::Delete;
            return d;
        }
        default:
            return skip("unsupported", "not a user event");
    }
}

}  // namespace provbridge::transforms
