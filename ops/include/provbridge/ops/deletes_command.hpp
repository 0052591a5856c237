#pragma once

#include <memory>
#include <string>

#include <spdlog/logger.h>

namespace provbridge::ops {

// `provbridge deletes status [--app ID] [--json]`: per app, the deletion threshold, the disables
// and deletes counted in its window, and the operations it staged (object, action, event id,
// when, how many events wait behind each).
// `provbridge deletes allow|discard --app ID [--object TYPE/ID] [--json]`: releases the app's
// staged operations (or one object's): allowed ones are sent once without asking the threshold,
// discarded ones are recorded as skipped (deletion_discarded) without being sent; either way the
// worker does it, and the object's later events follow.
// With --scheduled, allow/discard act on the hard deletes scheduled after users' deletions
// (status lists them with their due times).
// Exit codes: 0; 1 when allow/discard found nothing staged (or scheduled); 2 bad arguments, configuration or
// unknown app; 3 Redis unreachable.
struct DeletesOptions {
    std::string config_path;
    std::string action;  // status | allow | discard
    std::string app;     // status: every app when empty
    std::string object;  // allow, discard: only this object, as TYPE/ID (user/u42)
    // allow, discard: the hard deletes scheduled after users' deletions instead of the staged
    // operations (allow: due now, still through the threshold; discard: never, the accounts stay
    // disabled).
    bool scheduled = false;
    bool json = false;
};
int deletes_command(const DeletesOptions& options, std::shared_ptr<spdlog::logger> log);

}  // namespace provbridge::ops
