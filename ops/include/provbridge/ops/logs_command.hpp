#pragma once

#include <memory>
#include <optional>
#include <string>

#include <spdlog/logger.h>

#include "provbridge/core/outcome.hpp"

namespace provbridge::ops {

// Which provisioning log records an operator asked for. Empty fields match everything.
struct LogFilter {
    std::string status;  // Success, Failure, Skipped, Warning (Entra's), case-insensitive
    std::string action;  // Create, Update, Disable, Delete, StagedDelete, ScheduledDelete, Other, case-insensitive
    std::string object;  // the source id, TYPE/ID, or the id in the target
};
// Why a filter value is refused ("" when it is fine): the names it takes.
std::string log_filter_problem(const LogFilter& filter);
bool log_matches(const LogFilter& filter, const OutcomeRecord& record);

// `provbridge logs`: the provisioning log of every app (or one), newest last, as aligned
// columns (colour on a terminal) or JSON lines with Entra's fields (status, action, steps,
// error code, modified properties). --follow keeps printing records as they are recorded.
// Exit codes: 0; 2 bad config or arguments; 3 Redis down.
struct LogsOptions {
    std::string config_path;
    std::string app;
    LogFilter filter;
    std::string since;  // RFC 3339 time or a duration back from now
    int limit = 50;     // records printed (the newest that match), before --follow
    bool follow = false;
    bool json = false;
};
int logs_command(const LogsOptions& options, std::shared_ptr<spdlog::logger> log);

}  // namespace provbridge::ops
