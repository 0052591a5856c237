#include "provbridge/consumers/dry_run.hpp"

#include <algorithm>

#include "provbridge/core/keys.hpp"
#include "provbridge/transforms/mapping.hpp"

namespace provbridge::consumers {

using nlohmann::json;

ScimResponse DryRunScimClient::send(const ScimRequest& request) {
    DryRunExchange exchange{request, std::nullopt, false};
    ScimResponse response;
    if (request.method == HttpMethod::Get) {
        if (reads_ != nullptr) {
            response = reads_->send(request);
            exchange.sent = true;
        } else {
            response.status = 200;
            response.body =
                json{{"schemas", {transforms::kListResponseSchema}}, {"totalResults", 0}, {"Resources", json::array()}}
                    .dump();
        }
        exchange.response = response;
    } else if (request.method == HttpMethod::Post) {
        response.status = 201;
        json body = request.body.value_or(json::object());
        body["id"] = kUnassignedId;
        response.body = body.dump();
    } else if (request.method == HttpMethod::Delete) {
        response.status = 204;
    } else {
        response.status = 200;
        response.body = "{}";
    }
    if (log_ != nullptr) log_->push_back(std::move(exchange));
    return response;
}

std::string describe_withheld(const std::vector<DryRunExchange>& exchanges) {
    std::string out;
    for (const auto& x : exchanges) {
        if (x.request.method == HttpMethod::Get) continue;
        out += (out.empty() ? "" : "; ") + std::string(to_string(x.request.method)) + " " + x.request.path;
    }
    return out;
}

void DryRunStore::begin_event() {
    exchanges_.clear();
    groups_.clear();
}

Result<PriorState> DryRunStore::load(const Event& event) {
    begin_event();
    // The dry run's own outcome of this event, not the real one: a dry run next to a live run
    // (or after it) shows what the event means now, and its outcome never stands for the real one.
    Event keyed = event;
    keyed.id = KeyScheme::dry_run_name(event.id);
    return store_.load(keyed);
}

Result<std::optional<OutcomeRecord>> DryRunStore::load_invalid(const std::string& app, const std::string& topic,
                                                               std::int32_t partition, std::int64_t offset) {
    begin_event();
    return store_.load_invalid(app, KeyScheme::dry_run_name(topic), partition, offset);
}

Result<CommitStatus> DryRunStore::commit(const Commit& commit) {
    Commit kept;
    kept.record = commit.record;
    OutcomeRecord& record = kept.record;
    record.dry_run = true;
    if (record.scim_id == DryRunScimClient::kUnassignedId) record.scim_id.clear();
    const std::string withheld = describe_withheld(exchanges_);
    std::string note = withheld.empty() ? "dry run: no write needed" : "dry run: not sent: " + withheld;
    if (record.status == OutcomeStatus::DeadLettered &&
        (record.error_class == "transient" || record.error_class == "auth")) {
        note += "; a live run retries this failure (retry policy) instead of giving up";
    }
    record.reason = record.reason.empty() ? note : record.reason + "; " + note;
    auto committed = store_.commit(kept);
    begin_event();
    return committed;
}

Result<ParkStatus> DryRunStore::park(const ParkedEvent& /*event*/, ParkMode mode, std::int64_t /*due_ms*/) {
    // Behind: the event is judged now, against the state as it is. Anything else is a follow-up
    // of this event's (dropped) effect; the processor parks its own retries never, as a dry run
    // gives up after one attempt (see Bridge).
    if (mode == ParkMode::Behind) return ParkStatus::NotQueued;
    return ParkStatus::Parked;
}

Result<bool> DryRunStore::change_members(const std::string& app, const std::string& group,
                                         const std::vector<std::string>& added, const std::vector<std::string>& removed) {
    auto& changes = groups_[{app, group}];
    for (const auto& user : added) {
        changes.removed.erase(user);
        changes.added.insert(user);
    }
    for (const auto& user : removed) {
        changes.added.erase(user);
        changes.removed.insert(user);
    }
    return true;
}

Result<GroupMembership> DryRunStore::load_membership(const std::string& app, const std::string& group) {
    auto membership = membership_.load_membership(app, group);
    if (!membership) return membership;
    const auto found = groups_.find({app, group});
    if (found == groups_.end()) return membership;
    const auto& changes = found->second;
    std::set<std::string> members(membership->members.begin(), membership->members.end());
    for (const auto& user : changes.removed) members.erase(user);
    members.insert(changes.added.begin(), changes.added.end());
    membership->members.assign(members.begin(), members.end());  // sorted, as the store gives them
    if (changes.forgot) membership->applied.clear();
    for (const auto& user : changes.unapplied) membership->applied.erase(user);
    for (const auto& [user, id] : changes.applied) membership->applied[user] = id;
    return membership;
}

Result<bool> DryRunStore::record_applied(const std::string& app, const std::string& group,
                                         const std::vector<std::pair<std::string, std::string>>& added,
                                         const std::vector<std::string>& removed) {
    auto& changes = groups_[{app, group}];
    for (const auto& [user, id] : added) {
        changes.unapplied.erase(user);
        changes.applied[user] = id;
    }
    for (const auto& user : removed) {
        changes.applied.erase(user);
        changes.unapplied.insert(user);
    }
    return true;
}

Result<bool> DryRunStore::forget_applied(const std::string& app, const std::string& group) {
    auto& changes = groups_[{app, group}];
    changes.forgot = true;
    changes.applied.clear();
    changes.unapplied.clear();
    return true;
}

}  // namespace provbridge::consumers
