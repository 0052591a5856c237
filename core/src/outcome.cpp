#include "provbridge/core/outcome.hpp"

#include "provbridge/core/dead_letter.hpp"

#include <array>
#include <utility>

namespace provbridge {
namespace {

using nlohmann::json;

constexpr std::array<std::pair<Action, std::string_view>, 7> kActions{{
    {Action::None, "none"},
    {Action::Create, "create"},
    {Action::Update, "update"},
    {Action::Disable, "disable"},
    {Action::Delete, "delete"},
    {Action::Link, "link"},
    {Action::ScheduledDelete, "scheduled_delete"},
}};

constexpr std::array<std::pair<OutcomeStatus, std::string_view>, 4> kStatuses{{
    {OutcomeStatus::Applied, "applied"},
    {OutcomeStatus::Skipped, "skipped"},
    {OutcomeStatus::DeadLettered, "dead_lettered"},
    {OutcomeStatus::Warning, "warning"},
}};

constexpr std::array<std::pair<LinkStatus, std::string_view>, 6> kLinkStatuses{{
    {LinkStatus::Active, "active"},
    {LinkStatus::Disabled, "disabled"},
    {LinkStatus::Deleted, "deleted"},
    {LinkStatus::NotEntitled, "not_entitled"},
    {LinkStatus::OutOfScope, "out_of_scope"},
    {LinkStatus::SoftDeleted, "soft_deleted"},
}};

template <class E, std::size_t N>
std::string_view name_of(const std::array<std::pair<E, std::string_view>, N>& table, E value) {
    for (const auto& [v, name] : table) {
        if (v == value) return name;
    }
    return table[0].second;
}

template <class E, std::size_t N>
std::optional<E> value_of(const std::array<std::pair<E, std::string_view>, N>& table,
                          std::string_view name) {
    for (const auto& [v, n] : table) {
        if (n == name) return v;
    }
    return std::nullopt;
}

template <class T>
T get_or(const json& doc, const char* key, T fallback) {
    const auto it = doc.find(key);
    if (it == doc.end() || it->is_null()) return fallback;
    try {
        return it->get<T>();
    } catch (const json::exception&) {
        return fallback;
    }
}

}  // namespace

std::string_view to_string(Action action) { return name_of(kActions, action); }
std::string_view to_string(OutcomeStatus status) { return name_of(kStatuses, status); }
std::string_view to_string(LinkStatus status) { return name_of(kLinkStatuses, status); }
std::optional<Action> action_from_string(std::string_view s) { return value_of(kActions, s); }
std::optional<OutcomeStatus> outcome_status_from_string(std::string_view s) {
    return value_of(kStatuses, s);
}
std::optional<LinkStatus> link_status_from_string(std::string_view s) {
    return value_of(kLinkStatuses, s);
}

json to_json(const AttemptFailure& f) {
    return json{{"at_ms", f.at_ms}, {"code", f.code}, {"http_status", f.http_status}, {"detail", f.detail}};
}

AttemptFailure attempt_failure_from_json(const json& doc) {
    AttemptFailure f;
    f.at_ms = get_or<std::int64_t>(doc, "at_ms", 0);
    f.code = get_or<std::string>(doc, "code", "");
    f.http_status = get_or<long>(doc, "http_status", 0);
    f.detail = get_or<std::string>(doc, "detail", "");
    return f;
}

json to_json(const OutcomeRecord& r) {
    json trail = json::array();
    for (const auto& f : r.trail) trail.push_back(to_json(f));
    json changes = json::array();
    for (const auto& c : r.changes) {
        changes.push_back({{"path", c.path}, {"old", c.old_value}, {"new", c.new_value}});
    }
    return json{
        {"event_id", r.event_id},
        {"source", r.source},
        {"event_type", r.event_type},
        {"app", r.app},
        {"object_type", r.object_type},
        {"object_id", r.object_id},
        {"version", r.version},
        {"action", to_string(r.action)},
        {"outcome", to_string(r.status)},
        {"reason", r.reason},
        {"code", r.code},
        {"http_status", r.http_status},
        {"scim_id", r.scim_id},
        {"scim_requests", r.scim_requests},
        {"attempts", r.attempts},
        {"changes", std::move(changes)},
        {"error_class", r.error_class},
        {"scim_type", r.scim_type},
        {"first_failed_at_ms", r.first_failed_at_ms},
        {"trail", std::move(trail)},
        {"topic", r.topic},
        {"partition", r.partition},
        {"offset", r.offset},
        {"produced_at_ms", r.produced_at_ms},
        {"started_at_ms", r.started_at_ms},
        {"answered_at_ms", r.answered_at_ms},
        {"finished_at_ms", r.finished_at_ms},
        {"duration_ms", r.duration_ms},
        {"dry_run", r.dry_run},
    };
}

OutcomeRecord outcome_from_json(const json& doc) {
    OutcomeRecord r;
    r.event_id = get_or<std::string>(doc, "event_id", "");
    r.source = get_or<std::string>(doc, "source", "");
    r.event_type = get_or<std::string>(doc, "event_type", "");
    r.app = get_or<std::string>(doc, "app", "");
    r.object_type = get_or<std::string>(doc, "object_type", "");
    r.object_id = get_or<std::string>(doc, "object_id", "");
    r.version = get_or<std::int64_t>(doc, "version", -1);
    r.action = action_from_string(get_or<std::string>(doc, "action", "none")).value_or(Action::None);
    r.status = outcome_status_from_string(get_or<std::string>(doc, "outcome", "skipped"))
                   .value_or(OutcomeStatus::Skipped);
    r.reason = get_or<std::string>(doc, "reason", "");
    r.code = get_or<std::string>(doc, "code", "");
    r.http_status = get_or<long>(doc, "http_status", 0);
    r.scim_id = get_or<std::string>(doc, "scim_id", "");
    r.scim_requests = get_or<int>(doc, "scim_requests", 0);
    r.attempts = get_or<int>(doc, "attempts", 1);
    r.dry_run = get_or<bool>(doc, "dry_run", false);
    if (const auto it = doc.find("changes"); it != doc.end() && it->is_array()) {
        for (const auto& c : *it) {
            r.changes.push_back({get_or<std::string>(c, "path", ""), c.value("old", json()),
                                 c.value("new", json())});
        }
    }
    r.error_class = get_or<std::string>(doc, "error_class", "");
    r.scim_type = get_or<std::string>(doc, "scim_type", "");
    r.first_failed_at_ms = get_or<std::int64_t>(doc, "first_failed_at_ms", 0);
    if (const auto it = doc.find("trail"); it != doc.end() && it->is_array()) {
        for (const auto& f : *it) {
            if (f.is_object()) r.trail.push_back(attempt_failure_from_json(f));
        }
    }
    r.topic = get_or<std::string>(doc, "topic", "");
    r.partition = get_or<std::int32_t>(doc, "partition", -1);
    r.offset = get_or<std::int64_t>(doc, "offset", -1);
    r.produced_at_ms = get_or<std::int64_t>(doc, "produced_at_ms", 0);
    r.started_at_ms = get_or<std::int64_t>(doc, "started_at_ms", 0);
    r.answered_at_ms = get_or<std::int64_t>(doc, "answered_at_ms", 0);
    r.finished_at_ms = get_or<std::int64_t>(doc, "finished_at_ms", 0);
    r.duration_ms = get_or<std::int64_t>(doc, "duration_ms", 0);
    return r;
}

std::string replay_event_id(const std::string& event_id, const std::string& entry_id) {
    return event_id + "#replay:" + entry_id;
}

}  // namespace provbridge
