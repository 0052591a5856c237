#include "provbridge/transforms/user_rules.hpp"

#include <algorithm>

#include "provbridge/core/text.hpp"
#include "provbridge/transforms/input_checks.hpp"

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

UserDecision refuse(InputProblem problem) {
    UserDecision d;
    d.step = Step::Refuse;
    d.code = std::move(problem.code);
    d.reason = std::move(problem.reason);
    return d;
}

UserDecision act(Step step, std::string code, std::string reason, LinkStatus after) {
    UserDecision d;
    d.step = step;
    d.code = std::move(code);
    d.reason = std::move(reason);
    d.status_after = after;
    return d;
}

UserDecision disable(std::string code, std::string reason, LinkStatus after) {
    return act(Step::Disable, std::move(code), std::move(reason), after);
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

bool is_linked_active(const std::optional<LinkState>& link) {
    return link && link->status == LinkStatus::Active && !link->scim_id.empty();
}

bool finish_create(UserDecision& d, const ObjectProfile& users) {
    if (auto problem = check_identifiers(users.mapping, d.desired_create)) {
        d = refuse(std::move(*problem));
        return false;
    }
    if (auto refusal = apply_email_rule(users.rules, users.mapping, d.desired_create)) {
        d.step = Step::Refuse;
        d.code = "ConnectorRuleViolation";
        d.reason = *refusal;
        return false;
    }
    d.match_candidates.clear();
    const auto matching = users.mapping.matching();
    for (const auto* m : matching) {
        if (const json* value = d.desired_create.find(m->key)) d.match_candidates.push_back({m, *value});
    }
    if (!matching.empty() && d.match_candidates.empty()) {
        // Entra: a user with no value for any matching attribute is skipped (ImportSkipped).
        const auto& first = *matching.front();
        const std::string source = first.type == MappingType::Direct ? " (from " + first.source_text + ")" : "";
        d.step = Step::Skip;
        d.code = "missing_matching_attribute";
        d.reason = "the matching attribute " + first.key + source +
                   " has no value, so the account cannot be matched or created";
        return false;
    }
    return true;
}

// Stale events are skipped before anything else. An event whose snapshot is read (assigned,
// updated) is checked before scoping and mapping read it: a wrong type is the producer's
// mistake, and must be refused with its name rather than turned into a filter or a value.
std::optional<UserDecision> stale_or_malformed(const Event& event, const std::optional<LinkState>& link,
                                               const ObjectProfile& object, bool reads_snapshot) {
    if (link && event.version < link->version) {
        return skip("stale", "version " + std::to_string(event.version) + " is older than the applied version " +
                                 std::to_string(link->version));
    }
    if (!reads_snapshot) return std::nullopt;
    if (auto problem = check_source_attributes(object.source_attributes, event.attributes)) {
        return refuse(std::move(*problem));
    }
    if (auto problem = check_identifier_sources(object.mapping, event.attributes)) return refuse(std::move(*problem));
    return std::nullopt;
}

SourceContext context_of(const Event& event, DecisionHooks hooks, const std::optional<std::string>& role) {
    return SourceContext{event.attributes, soft_deleted(event), role, hooks.unique_values, {}};
}

SourceContext context_of(const Event& event, DecisionHooks hooks) { return context_of(event, hooks, event.role); }

UserDecision decide_provision(const Event& event, const std::optional<LinkState>& link, const ObjectProfile& users,
                              DecisionHooks hooks, const std::optional<std::string>& role) {
    UserDecision d;
    d.step = Step::Provision;
    if (has_target_account(link)) {
        // An update: only the always-applied attributes matter, and the account is known.
        d.desired_update = desired_attributes(users.mapping, context_of(event, hooks, role), Phase::Update,
                                              hooks.references, &d.notes);
        if (auto problem = check_identifiers(users.mapping, d.desired_update)) return refuse(std::move(*problem));
        if (auto refusal = apply_email_rule(users.rules, users.mapping, d.desired_update)) {
            d.step = Step::Refuse;
            d.code = "ConnectorRuleViolation";
            d.reason = *refusal;
        }
        return d;
    }
    auto sets = desired_create_and_update(users.mapping, context_of(event, hooks, role), hooks.references, &d.notes);
    d.desired_update = std::move(sets.update);
    (void)apply_email_rule(users.rules, users.mapping, d.desired_update);
    d.desired_create = std::move(sets.create);
    finish_create(d, users);
    return d;
}

UserDecision decide_provision(const Event& event, const std::optional<LinkState>& link, const ObjectProfile& objects,
                              DecisionHooks hooks) {
    return decide_provision(event, link, objects, hooks, event.role);
}

bool is_default_access(const AppRules& rules, const std::string& role) {
    return rules.skip_default_access && iequals(role, kDefaultAccessRole);
}

std::optional<std::string> role_of(const std::string& role) {
    return role.empty() ? std::nullopt : std::optional<std::string>(role);
}

std::int64_t snapshot_version(const LinkState& link) {
    if (!link.snapshot.is_object()) return -1;
    const auto it = link.snapshot.find("version");
    return it != link.snapshot.end() && it->is_number_integer() ? it->get<std::int64_t>() : -1;
}

}  // namespace

Access access_of(const Event& event, const std::optional<LinkState>& link, const AppRules& rules,
                 AssignmentLookup* assignments) {
    std::optional<std::string> own;
    switch (event.type) {
        case EventType::UserAssigned: own = event.role.value_or(""); break;
        case EventType::UserUnassigned:
        case EventType::UserDeleted: break;
        default:
            if (link) own = link->assigned_role;
    }
    Access access;
    if (own && !is_default_access(rules, *own)) {
        access.entitled = true;
        access.role = role_of(*own);
        return access;
    }
    access.default_access = own.has_value();
    if (rules.sync_all) {
        access.entitled = true;
        access.via = "scope all";
        return access;
    }
    if (assignments == nullptr || event.type == EventType::UserDeleted) return access;
    for (const auto& grant : assignments->group_grants(event.object_id)) {
        if (is_default_access(rules, grant.role)) continue;
        access.entitled = true;
        access.role = role_of(grant.role);
        access.via = "group " + grant.group;
        return access;
    }
    return access;
}

void record_assignment(const Event& event, LinkState& link) {
    if (event.object_type != ObjectType::User) return;
    switch (event.type) {
        case EventType::UserAssigned:
            link.assigned_role = event.role.value_or("");
            [[fallthrough]];
        case EventType::UserUpdated:
            // Only a newer snapshot replaces the one kept: events of other types may move the
            // link's version without bringing attributes.
            if (event.version >= snapshot_version(link)) {
                link.snapshot = json{{"version", event.version}, {"attributes", event.attributes}};
            }
            break;
        case EventType::UserUnassigned:
            link.assigned_role.reset();
            break;
        case EventType::UserDeleted:
            // A soft-deleted user keeps its assignment: an update within the grace period means
            // it was restored, and re-enables its account as an assigned user's update does.
            if (link.status != LinkStatus::SoftDeleted) link.assigned_role.reset();
            link.snapshot = nullptr;
            break;
        default:
            break;
    }
}

Event reevaluation_event(const Event& follow_up, const std::optional<LinkState>& link) {
    Event event = follow_up;
    event.role.reset();
    event.version = link ? link->version : 0;
    event.attributes = json::object();
    if (link && link->snapshot.is_object()) {
        const auto it = link->snapshot.find("attributes");
        if (it != link->snapshot.end() && it->is_object()) event.attributes = *it;
    }
    return event;
}

std::optional<Snapshot> newest_snapshot(const std::optional<LinkState>& link, const std::vector<Event>& queued) {
    std::optional<Snapshot> newest;
    if (link && link->snapshot.is_object()) {
        const auto it = link->snapshot.find("attributes");
        if (it != link->snapshot.end() && it->is_object()) newest = Snapshot{snapshot_version(*link), *it};
    }
    for (const auto& event : queued) {
        const bool carries = event.object_type == ObjectType::User &&
                             (event.type == EventType::UserAssigned || event.type == EventType::UserUpdated);
        if (carries && (!newest || event.version > newest->version)) newest = Snapshot{event.version, event.attributes};
    }
    return newest;
}

const Event& with_latest_snapshot(const Event& event, const std::optional<LinkState>& link,
                                  const std::vector<Event>& queued, const ObjectProfile& users,
                                  std::optional<Event>& storage, std::int64_t* from_version) {
    const bool reads_snapshot = event.object_type == ObjectType::User &&
                                (event.type == EventType::UserAssigned || event.type == EventType::UserUpdated);
    if (!reads_snapshot || (link && event.version < link->version)) return event;
    // A waiting event whose attributes its own turn will refuse offers none: it must not get this
    // one refused in its place (a stored snapshot passed these checks when it was kept).
    std::vector<Event> usable;
    for (const auto& waiting : queued) {
        // Only the run of events directly behind the head that change attributes and nothing
        // else: updates, and assignments with the head's own role (an assignment re-sent with
        // new values). Deciding the head with them does what their own turn would. Anything else
        // (an unassignment, a deletion, another role) changes what later attributes mean (an
        // update after an unassignment is only kept, never sent), so the run ends there.
        const bool same_access =
            waiting.object_type == ObjectType::User &&
            (waiting.type == EventType::UserUpdated ||
             (waiting.type == EventType::UserAssigned && event.type == EventType::UserAssigned && waiting.role == event.role));
        if (!same_access) break;
        if (check_source_attributes(users.source_attributes, waiting.attributes) ||
            check_identifier_sources(users.mapping, waiting.attributes)) {
            continue;
        }
        usable.push_back(waiting);
    }
    const auto newest = newest_snapshot(link, usable);
    if (!newest || newest->version <= event.version) return event;
    // The event keeps its own version: it is still that event (its outcome, the link's version),
    // only decided with newer attributes, which stay kept under their own version.
    storage = event;
    storage->attributes = newest->attributes;
    if (from_version != nullptr) *from_version = newest->version;
    return *storage;
}

bool prepare_create(UserDecision& d, const Event& event, const ObjectProfile& users, DecisionHooks hooks) {
    d.notes.clear();
    d.desired_create = desired_attributes(users.mapping, context_of(event, hooks), Phase::Create, hooks.references,
                                          &d.notes);
    return finish_create(d, users);
}


AppRules rules_for(const AppConfig& app, const AppProfile& profile) {
    return AppRules{app.skip_default_access.value_or(profile.skip_default_access), app.unassign_action,
                    app.skip_out_of_scope_deletions, app.scope == SyncScope::All, app.hard_delete_after_days};
}

bool has_target_account(const std::optional<LinkState>& link) {
    return link && !link->scim_id.empty() && link->status != LinkStatus::Deleted;
}

std::optional<std::string> apply_email_rule(const ObjectRules& rules, const ObjectMapping& mapping,
                                            AttributeSet& attributes) {
    if (rules.allowed_email_types.empty()) return std::nullopt;
    std::vector<std::string> dropped;
    bool kept = false;
    for (std::size_t row = 0; row < mapping.attributes.size() && row < attributes.rows(); ++row) {
        const auto& m = mapping.attributes[row];
        if (!iequals(m.target.attribute, "emails") || !m.target.urn.empty()) continue;
        if (!attributes.has(row)) continue;
        const json& value = attributes.value(row);
        const std::string type = m.target.has_filter() && iequals(m.target.filter_attribute, "type") &&
                                         m.target.filter_value.is_string()
                                     ? m.target.filter_value.get<std::string>()
                                     : std::string();
        const bool allowed = std::any_of(rules.allowed_email_types.begin(), rules.allowed_email_types.end(),
                                         [&](const std::string& t) { return iequals(t, type); });
        if (allowed) {
            kept = true;
        } else {
            dropped.push_back((type.empty() ? std::string("untyped") : type) + " (" +
                              (value.is_string() ? value.get<std::string>() : value.dump()) + ")");
            attributes.clear(row);
        }
    }
    if (kept || dropped.empty()) return std::nullopt;
    std::string allowed;
    for (const auto& t : rules.allowed_email_types) allowed += (allowed.empty() ? "" : ", ") + t;
    std::string list;
    for (const auto& d : dropped) list += (list.empty() ? "" : ", ") + d;
    return "the app only stores " + allowed + " email addresses, and this user has only: " + list;
}

UserDecision decide_user(const Event& event, const std::optional<LinkState>& link, const AppRules& rules,
                         const ObjectProfile& users, DecisionHooks hooks) {
    const bool has_snapshot = link && link->snapshot.is_object();
    const bool reads_snapshot = event.type == EventType::UserAssigned || event.type == EventType::UserUpdated ||
                                (event.type == EventType::UserReevaluate && has_snapshot);
    if (auto early = stale_or_malformed(event, link, users, reads_snapshot)) return std::move(*early);
    const bool active = is_linked_active(link);
    const auto scoped = [&]() -> std::optional<UserDecision> {
        const auto verdict = evaluate_scope(users.scoping, event.attributes);
        if (verdict.in_scope) return std::nullopt;
        const std::string reason = "out of scope: " + verdict.reason;
        if (active) {
            if (rules.skip_out_of_scope_deletions) {
                return skip("out_of_scope", reason + "; the account is left alone (skip_out_of_scope_deletions)",
                            with_version(link, event.version, LinkStatus::OutOfScope));
            }
            return disable("out_of_scope", reason, LinkStatus::OutOfScope);
        }
        return skip("out_of_scope", reason, with_version(link, event.version, LinkStatus::OutOfScope));
    };
    // Leaving the app: the account is disabled, or deleted where the app is set to.
    const auto leave = [&](std::string reason, LinkStatus after) {
        if (rules.unassign_action == UnassignAction::Delete && users.rules.remove) {
            return act(Step::Delete, "", std::move(reason), LinkStatus::Disabled);
        }
        if (link->status != LinkStatus::Active) {
            // A deleted user's unassignment leaves its hard delete scheduled.
            const auto kept = link->status == LinkStatus::SoftDeleted ? LinkStatus::SoftDeleted : LinkStatus::Disabled;
            return skip("no_change", "the account is already disabled", with_version(link, event.version, kept));
        }
        return disable("", std::move(reason), after);
    };
    // Not entitled: what is recorded keeps the snapshot (the processor adds it) but neither the
    // version nor the status moves, since nothing was applied.
    const auto unchanged = [&]() {
        LinkState kept = link.value_or(LinkState{});
        if (!link) kept.status = LinkStatus::Disabled;
        return kept;
    };
    switch (event.type) {
        case EventType::UserAssigned: {
            const Access access = access_of(event, link, rules, hooks.assignments);
            if (!access.entitled) {
                if (active) {
                    return disable("not_entitled",
                                   "the assignment's role is Default Access, which this app does not provision",
                                   LinkStatus::NotEntitled);
                }
                return skip("not_entitled",
                            "not effectively entitled: the role Default Access is not provisioned to this app",
                            with_version(link, event.version, LinkStatus::NotEntitled));
            }
            if (auto out = scoped()) return *out;
            return decide_provision(event, link, users, hooks, access.role);
        }
        case EventType::UserUpdated: {
            // Updates flow to users in scope: assigned directly or through a group (active, or
            // out of scope and maybe back in it), and every user when the app syncs all.
            const Access access = access_of(event, link, rules, hooks.assignments);
            if (!access.entitled) {
                const bool disabled = has_target_account(link) && link->status == LinkStatus::Disabled;
                return skip("not_assigned",
                            std::string(disabled ? "the user is not assigned to the app (its account is disabled)"
                                                 : "the user is not assigned to the app") +
                                ", directly or through an assigned group; its attributes are kept for when it is",
                            unchanged());
            }
            if (auto out = scoped()) return *out;
            return decide_provision(event, link, users, hooks, access.role);
        }
        case EventType::UserReevaluate: {
            const Access access = access_of(event, link, rules, hooks.assignments);
            if (access.entitled) {
                if (!has_snapshot && access.via.empty()) {
                    return skip("no_change", "the user is assigned to the app directly and no snapshot is kept");
                }
                if (!has_snapshot) {
                    return skip("awaiting_snapshot", "in scope through " + access.via +
                                                         ", but none of the user's attributes have arrived yet: it is "
                                                         "provisioned when its user.updated or user.assigned does");
                }
                if (auto out = scoped()) return *out;
                return decide_provision(event, link, users, hooks, access.role);
            }
            if (!has_target_account(link)) {
                return skip("not_assigned", "the user is not assigned to the app, directly or through an assigned group");
            }
            if (access.default_access && active) {
                return disable("not_entitled",
                               "the user's own role is Default Access, which this app does not provision, and it is "
                               "in no assigned group",
                               LinkStatus::NotEntitled);
            }
            return leave("no longer assigned to the app: not directly, and through no assigned group",
                         LinkStatus::Disabled);
        }
        case EventType::UserUnassigned: {
            if (const Access access = access_of(event, link, rules, hooks.assignments); access.entitled) {
                return skip("still_assigned", "the user is still in scope through " + access.via + "; its account stays",
                            link ? std::optional<LinkState>(with_version(link, event.version, link->status))
                                 : std::nullopt);
            }
            if (!has_target_account(link)) {
                return skip("not_provisioned", "the user has no account in the app",
                            link ? std::optional<LinkState>(with_version(link, event.version, LinkStatus::Disabled))
                                 : std::nullopt);
            }
            return leave("", LinkStatus::Disabled);
        }
        case EventType::UserDeleted: {
            if (!has_target_account(link)) {
                // Remember the deletion so an older event replayed later is recognised as stale.
                return skip("not_provisioned", "the user has no account in the app",
                            with_version(link, event.version, LinkStatus::Deleted));
            }
            if (!users.rules.remove) {
                return disable("delete_not_supported", "the app does not allow deleting users; the account is disabled",
                               LinkStatus::Disabled);
            }
            if (link->status == LinkStatus::SoftDeleted) {
                return skip("no_change", "the user was deleted already: its account is disabled and its hard delete "
                                         "scheduled",
                            with_version(link, event.version, LinkStatus::SoftDeleted));
            }
            if (rules.hard_delete_after_days > 0) {
                return act(Step::SoftDelete, "", "", LinkStatus::SoftDeleted);
            }
            UserDecision d;
            d.step = Step::Delete;
            return d;
        }
        case EventType::UserHardDelete: {
            if (!has_target_account(link)) {
                return skip("not_provisioned", "the user has no account in the app any more");
            }
            if (link->status != LinkStatus::SoftDeleted) {
                return skip("hard_delete_cancelled",
                            "the user was assigned, updated or otherwise decided again after its deletion: the "
                            "account " + link->scim_id + " stays (" + std::string(to_string(link->status)) + ")");
            }
            if (!users.rules.remove) {
                return skip("delete_not_supported", "the app does not allow deleting users; the account stays disabled");
            }
            return act(Step::Delete, "", "the grace period after the user's deletion ended (hard_delete_after_days)",
                       LinkStatus::Deleted);
        }
        default:
            return skip("unsupported", "not a user event");
    }
}

const Event& with_object_id(const Event& event, const ObjectProfile& object, std::optional<Event>& storage) {
    const auto& read = object.source_attributes;
    if (event.attributes.contains("objectId") || std::find(read.begin(), read.end(), "objectId") == read.end()) {
        return event;
    }
    storage = event;
    storage->attributes["objectId"] = event.object_id;
    return *storage;
}

UserDecision decide_group(const Event& event, const std::optional<LinkState>& link, const AppRules& rules,
                          const ObjectProfile& groups, DecisionHooks hooks) {
    if (auto early = stale_or_malformed(event, link, groups,
                                        event.type == EventType::GroupAssigned || event.type == EventType::GroupUpdated)) {
        return std::move(*early);
    }
    const bool active = is_linked_active(link);
    // A group leaves the app by being deleted there (groups have no soft delete), unless the
    // app keeps its groups: then it stays as it is and is no longer managed.
    const auto leave = [&](std::string code, std::string reason, LinkStatus after) {
        if (!has_target_account(link)) {
            return skip(code.empty() ? "not_provisioned" : code,
                        reason.empty() ? "the group has no counterpart in the app" : reason + "; nothing to remove",
                        with_version(link, event.version, after));
        }
        if (!groups.rules.remove) {
            const std::string why = reason.empty() ? std::string() : reason + "; ";
            return skip(code.empty() ? "delete_not_supported" : code,
                        why + "the app does not delete groups: the group " + link->scim_id +
                            " stays in the app and is no longer managed",
                        with_version(link, event.version, after));
        }
        return act(Step::Delete, std::move(code), std::move(reason), after);
    };
    const auto scoped = [&]() -> std::optional<UserDecision> {
        const auto verdict = evaluate_scope(groups.scoping, event.attributes);
        if (verdict.in_scope) return std::nullopt;
        const std::string reason = "out of scope: " + verdict.reason;
        if (active && rules.skip_out_of_scope_deletions) {
            return skip("out_of_scope", reason + "; the group is left alone (skip_out_of_scope_deletions)",
                        with_version(link, event.version, LinkStatus::OutOfScope));
        }
        if (active) return leave("out_of_scope", reason, LinkStatus::OutOfScope);
        return skip("out_of_scope", reason, with_version(link, event.version, LinkStatus::OutOfScope));
    };
    switch (event.type) {
        case EventType::GroupAssigned: {
            if (rules.skip_default_access && event.role && iequals(*event.role, kDefaultAccessRole)) {
                const std::string reason = "the assignment's role is Default Access, which this app does not provision";
                if (active) return leave("not_entitled", reason, LinkStatus::NotEntitled);
                return skip("not_entitled", "not effectively entitled: " + reason,
                            with_version(link, event.version, LinkStatus::NotEntitled));
            }
            if (auto out = scoped()) return *out;
            return decide_provision(event, link, groups, hooks);
        }
        case EventType::GroupUpdated: {
            const bool assigned = active || (link && link->status == LinkStatus::OutOfScope) || rules.sync_all;
            if (!assigned) return skip("not_assigned", "the group is not assigned to the app");
            if (auto out = scoped()) return *out;
            return decide_provision(event, link, groups, hooks);
        }
        case EventType::GroupUnassigned:
            if (rules.sync_all) {
                return skip("still_assigned", "the app syncs all groups (scope: all); the group stays",
                            link ? std::optional<LinkState>(with_version(link, event.version, link->status))
                                 : std::nullopt);
            }
            return leave("", "", LinkStatus::Disabled);
        case EventType::GroupDeleted:
            return leave("", "", LinkStatus::Deleted);
        case EventType::GroupMembersAdded:
        case EventType::GroupMembersRemoved:
        case EventType::GroupMembersSync:
            // Membership is not a decision on the group's snapshot: the processor applies it.
            return skip("unsupported", "a membership change is not decided from the group's attributes");
        default:
            return skip("unsupported", "not a group event");
    }
}

}  // namespace provbridge::transforms
