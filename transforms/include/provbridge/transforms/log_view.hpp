#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "provbridge/core/outcome.hpp"

namespace provbridge::transforms {

// A provisioning log record the way Entra's portal shows one (Graph provisioningObjectSummary):
// status Success / Failure / Skipped / Warning, action Create / Update / Disable / Delete /
// StagedDelete / Other, and the steps the event went through, each with its status. Derived
// from the recorded outcome alone, so every reader (CLI, page, API) shows the same thing.
enum class LogStatus { Success, Failure, Skipped, Warning };
std::string_view to_string(LogStatus status);

enum class LogStep { Import, Scoping, Matching, Processing, ReferenceResolution, Export };
std::string_view to_string(LogStep step);

struct LogStepResult {
    LogStep step = LogStep::Import;
    LogStatus status = LogStatus::Success;
    std::string detail;  // the reason, on the step that decided the outcome
};

struct LogView {
    LogStatus status = LogStatus::Success;
    std::string action;      // Entra's action name
    std::string error_code;  // failures and warnings
    std::string skip_reason; // skips
    std::vector<LogStepResult> steps;
};

LogStatus log_status_of(OutcomeStatus status);
LogView log_view(const OutcomeRecord& record);

// The record with the view's fields added (status, action, steps, ...), for --json and the API.
nlohmann::json log_view_json(const OutcomeRecord& record);

}  // namespace provbridge::transforms
