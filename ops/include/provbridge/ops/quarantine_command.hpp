#pragma once

#include <memory>
#include <string>

#include <spdlog/logger.h>

namespace provbridge::ops {

// `provbridge quarantine status [--app ID] [--json]`: per app, whether it is quarantined, why,
// since when, when the next probe runs, what the last probe got, and how many events wait;
// then the offset gaps (events retention removed before the group read them), per partition.
// --json prints {"apps": [...], "offset_gaps": [...]}.
// `provbridge quarantine clear --app ID`: lifts it by hand (the waiting events run again).
// Exit codes: 0; 1 when `clear` found no quarantine, or `status` lists an offset gap found in
// the last 24 hours; 2 bad config or unknown app; 3 Redis down.
struct QuarantineOptions {
    std::string config_path;
    std::string action;  // status | clear
    std::string app;     // status: all apps when empty
    bool json = false;
};
int quarantine_command(const QuarantineOptions& options, std::shared_ptr<spdlog::logger> log);

}  // namespace provbridge::ops
