#include "provbridge/transforms/log_view.hpp"

#include <array>
#include <utility>

namespace provbridge::transforms {
namespace {

// Which step decided an outcome, by its code. Codes the table does not name are placed by
// what the record says of them: a failure with an HTTP answer failed in the export.
constexpr std::array<std::pair<std::string_view, LogStep>, 29> kDecidedBy{{
    {"InvalidEvent", LogStep::Import},
    {"InvalidIdentifier", LogStep::Import},
    {"UnknownApp", LogStep::Import},
    {"NotConfigured", LogStep::Import},
    {"KeyMismatch", LogStep::Import},
    {"InternalError", LogStep::Processing},
    {"out_of_scope", LogStep::Scoping},
    {"not_assigned", LogStep::Scoping},
    {"not_entitled", LogStep::Scoping},
    {"awaiting_snapshot", LogStep::Scoping},
    {"not_supported_by_app", LogStep::Scoping},
    {"unsupported", LogStep::Scoping},
    {"still_assigned", LogStep::Scoping},
    {"missing_matching_attribute", LogStep::Matching},
    {"DuplicateTargetEntries", LogStep::Matching},
    {"DuplicateSourceEntries", LogStep::Matching},
    {"stale", LogStep::Processing},
    {"no_change", LogStep::Processing},
    {"not_provisioned", LogStep::Processing},
    {"deletion_discarded", LogStep::Processing},
    {"deletion_staged", LogStep::Processing},
    {"hard_delete_cancelled", LogStep::Processing},
    {"delete_not_supported", LogStep::Processing},
    {"group_not_provisioned", LogStep::Processing},
    {"ConnectorRuleViolation", LogStep::Processing},
    {"InvalidAttributeType", LogStep::Processing},
    {"StateStoreUnavailable", LogStep::Processing},
    {"UnresolvedReference", LogStep::ReferenceResolution},
    {"GroupNotFoundInTarget", LogStep::Matching},
}};

constexpr std::array<LogStep, 6> kOrder = {LogStep::Import,     LogStep::Scoping,             LogStep::Matching,
                                           LogStep::Processing, LogStep::ReferenceResolution, LogStep::Export};

std::string_view entra_action(const OutcomeRecord& record) {
    if (record.code == "deletion_discarded") {
        // A scheduled hard delete an operator discarded is its own kind of deletion.
        return record.event_type == to_string(EventType::UserHardDelete) ? "ScheduledDelete" : "StagedDelete";
    }
    // Held back by the deletion threshold, waiting for an operator (its outcome comes later).
    if (record.code == "deletion_staged") return "StagedDelete";
    if (record.code == "hard_delete_cancelled") return "ScheduledDelete";
    switch (record.action) {
        case Action::ScheduledDelete: return "ScheduledDelete";
        case Action::Create: return "Create";
        case Action::Update: return "Update";
        case Action::Disable: return "Disable";
        case Action::Delete: return "Delete";
        case Action::Link:
        case Action::None: break;
    }
    return "Other";
}

LogStep decided_by(const OutcomeRecord& record, LogStatus status) {
    for (const auto& [code, step] : kDecidedBy) {
        if (code == record.code) return step;
    }
    if (status == LogStatus::Failure) {
        if (record.error_class == "reference") return LogStep::ReferenceResolution;
        return record.http_status > 0 || record.scim_requests > 0 ? LogStep::Export : LogStep::Processing;
    }
    return status == LogStatus::Skipped ? LogStep::Processing : LogStep::Export;
}

}  // namespace

std::string_view to_string(LogStatus status) {
    switch (status) {
        case LogStatus::Success: return "Success";
        case LogStatus::Failure: return "Failure";
        case LogStatus::Skipped: return "Skipped";
        case LogStatus::Warning: return "Warning";
    }
    return "Failure";
}

std::string_view to_string(LogStep step) {
    switch (step) {
        case LogStep::Import: return "import";
        case LogStep::Scoping: return "scoping";
        case LogStep::Matching: return "matching";
        case LogStep::Processing: return "processing";
        case LogStep::ReferenceResolution: return "referenceResolution";
        case LogStep::Export: return "export";
    }
    return "processing";
}

LogStatus log_status_of(OutcomeStatus status) {
    switch (status) {
        case OutcomeStatus::Applied: return LogStatus::Success;
        case OutcomeStatus::Skipped: return LogStatus::Skipped;
        case OutcomeStatus::DeadLettered: return LogStatus::Failure;
        case OutcomeStatus::Warning: return LogStatus::Warning;
    }
    return LogStatus::Failure;
}

LogView log_view(const OutcomeRecord& record) {
    LogView view;
    view.status = log_status_of(record.status);
    view.action = std::string(entra_action(record));
    if (view.status == LogStatus::Skipped) {
        view.skip_reason = record.code;
    } else if (view.status != LogStatus::Success) {
        view.error_code = record.code;
    }
    // Applied: every step succeeded (the export only when something was sent). Otherwise the
    // steps before the deciding one succeeded, and the deciding one has the outcome's status.
    // A warning's export still happened: what could be sent was.
    const LogStep last = view.status == LogStatus::Success ? LogStep::Export : decided_by(record, view.status);
    for (const auto step : kOrder) {
        if (step == LogStep::ReferenceResolution && view.status != LogStatus::Warning && last != step) continue;
        if (step == LogStep::Export && view.status == LogStatus::Success && record.scim_requests == 0) break;
        LogStepResult result{step, LogStatus::Success, {}};
        if (step == last) {
            result.status = view.status;
            result.detail = record.reason;
        }
        view.steps.push_back(std::move(result));
        if (step == last && view.status != LogStatus::Warning) break;
        if (step == last && view.status == LogStatus::Warning && record.scim_requests == 0) break;
    }
    return view;
}

nlohmann::json log_view_json(const OutcomeRecord& record) {
    const auto view = log_view(record);
    auto doc = to_json(record);
    doc["status"] = to_string(view.status);
    doc["entra_action"] = view.action;
    doc["error_code"] = view.error_code;
    doc["skip_reason"] = view.skip_reason;
    auto steps = nlohmann::json::array();
    for (const auto& step : view.steps) {
        nlohmann::json s = {{"step", to_string(step.step)}, {"status", to_string(step.status)}};
        if (!step.detail.empty()) s["detail"] = step.detail;
        steps.push_back(std::move(s));
    }
    doc["steps"] = std::move(steps);
    return doc;
}

}  // namespace provbridge::transforms
