#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "provbridge/core/event.hpp"

namespace provbridge {

// What was done to the target (Entra's log "Action"; Link = an existing account was matched
// and adopted without a change).
// ScheduledDelete: a user.deleted that disabled the account (or found it inactive) and scheduled
// its hard delete after the app's grace period (apps[].hard_delete_after_days).
enum class Action { None, Create, Update, Disable, Delete, Link, ScheduledDelete };

// Every event ends in exactly one of these. Warning: done as far as it can be, but something it
// refers to is still unresolved (a reference failure; see reference_timeout_seconds); only the
// bridge's own reference checks end so.
enum class OutcomeStatus { Applied, Skipped, DeadLettered, Warning };

std::string_view to_string(Action action);
std::string_view to_string(OutcomeStatus status);
std::optional<Action> action_from_string(std::string_view s);
std::optional<OutcomeStatus> outcome_status_from_string(std::string_view s);

struct AttributeChange {
    std::string path;
    nlohmann::json old_value;  // null when the attribute was absent
    nlohmann::json new_value;  // null when the attribute is removed
};

// One failed attempt, kept with a parked event and carried into its outcome and dead letter.
struct AttemptFailure {
    std::int64_t at_ms = 0;
    std::string code;       // TooManyRequests, ServiceUnavailable, ConnectionFailed, ...
    long http_status = 0;   // 0 when no HTTP response arrived
    std::string detail;     // redacted
};
nlohmann::json to_json(const AttemptFailure& failure);
AttemptFailure attempt_failure_from_json(const nlohmann::json& doc);  // lenient, like outcome_from_json

// One provisioning log record: what happened to one event, with Entra-style fields.
struct OutcomeRecord {
    // Identity of the event; empty id when the record could not be parsed.
    std::string event_id;
    std::string source;
    std::string event_type;
    std::string app;
    std::string object_type;
    std::string object_id;
    std::int64_t version = -1;

    Action action = Action::None;
    OutcomeStatus status = OutcomeStatus::Skipped;
    std::string reason;       // skip reason or error description
    // Skip reason (stale, no_change, not_entitled, …) or error code (InvalidEvent, UnknownApp,
    // DuplicateTargetEntries, …); empty for applied outcomes.
    std::string code;
    long http_status = 0;     // status of the last SCIM response, 0 when none was sent
    std::string scim_id;
    int scim_requests = 0;
    int attempts = 1;
    std::vector<AttributeChange> changes;
    // For failures: transient, permanent, auth or reference (the failure policy's kind), the
    // SCIM scimType of the last error body, and every failed attempt before the outcome.
    std::string error_class;
    std::string scim_type;
    std::int64_t first_failed_at_ms = 0;
    std::vector<AttemptFailure> trail;

    // Where the record was read.
    std::string topic;
    std::int32_t partition = -1;
    std::int64_t offset = -1;

    std::int64_t produced_at_ms = 0;   // Kafka record timestamp
    std::int64_t started_at_ms = 0;    // worker picked it up
    std::int64_t answered_at_ms = 0;   // last SCIM response received (0 when none)
    std::int64_t finished_at_ms = 0;   // outcome decided
    std::int64_t duration_ms = 0;

    // Decided by a dry run (apps[].dry_run, run --dry-run): nothing was written to the app and
    // no link, queue or dead-letter entry changed; only this record was kept, in a namespace of
    // its own, so the event's real outcome is still to come.
    bool dry_run = false;
};

nlohmann::json to_json(const OutcomeRecord& record);
OutcomeRecord outcome_from_json(const nlohmann::json& doc);

// Active: assigned, in scope, provisioned. Disabled: unassigned (account disabled).
// OutOfScope: assigned but outside the scoping filters (account disabled or left alone).
// NotEntitled: assigned with a role the app does not provision. Deleted: no account any more.
// SoftDeleted: the user was deleted; its account is disabled and its hard delete scheduled. Only
// a due hard delete finds it so and deletes the account; an assignment or update that re-enables
// it, or any other status written in between, cancels the hard delete.
enum class LinkStatus { Active, Disabled, Deleted, NotEntitled, OutOfScope, SoftDeleted };
std::string_view to_string(LinkStatus status);
std::optional<LinkStatus> link_status_from_string(std::string_view s);

// What the bridge knows about one source object in one app: the SCIM id it is linked to,
// the last version applied, and the attribute values last written to the target (so an
// update becomes a minimal PATCH without reading the target first).
struct LinkState {
    std::string scim_id;
    std::int64_t version = -1;
    LinkStatus status = LinkStatus::Active;
    nlohmann::json applied = nlohmann::json::object();  // SCIM path → value
    // The object's own assignment to the app, with its role ("" when it named none); nullopt
    // when it is not assigned directly (a user may still be in scope through a group).
    std::optional<std::string> assigned_role;
    // The latest attributes the directory sent (assigned and updated events), kept so that an
    // assignment through a group can provision the user later; null when none arrived.
    nlohmann::json snapshot;
};

}  // namespace provbridge
