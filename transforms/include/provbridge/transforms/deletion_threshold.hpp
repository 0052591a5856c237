#pragma once

#include <cstdint>
#include <string>

#include "provbridge/core/config.hpp"
#include "provbridge/core/outcome.hpp"
#include "provbridge/core/state_store.hpp"
#include "provbridge/transforms/mapping.hpp"

namespace provbridge::transforms {

// What the threshold counts is every operation that takes access away: a disable (PATCH
// active=false for an unassignment, a Default Access role, leaving scope) and a delete, and
// also an update whose planned PATCH sets `active` to false from true or from nothing (a mapped
// accountEnabled, IsSoftDeleted or any expression): in the target, that account is as disabled
// as by an unassignment. True for such a plan. `active` is the core attribute (no filter, no
// sub-attribute); false is the boolean or the text "False" (Entra's form without the
// aadOptscim062020 flag, which a target reads as false too).
bool disables_account(const PatchPlan& plan);

// Which of the threshold's limits a window has reached: the count (max_operations), the share
// of the app's linked accounts (max_percent), or neither. The count is told first.
enum class DeletionLimit { None, Count, Percent };
DeletionLimit reached_limit(const DeletionThresholdConfig& threshold, std::int64_t counted, std::int64_t linked);

// Entra's accidental-deletions prevention, per operation. A disable or delete about to be sent
// is admitted unless the app's window already counts threshold.max_operations of them, or
// threshold.max_percent of the app's `linked` accounts, or the app has operations staged
// already: then it is staged too, so that once an operator is asked, nothing more goes out
// (however the window slides) until the operator has answered. One an operator allowed is
// admitted regardless. Off (both limits 0): everything is admitted.
// The state store applies this rule atomically (RedisStateStore's admit script mirrors it).
DeletionAdmission judge_deletion(const DeletionThresholdConfig& threshold, std::int64_t counted, std::int64_t staged,
                                 std::int64_t linked, bool allowed);

// Why an operation was staged, for the worker's log and `provbridge deletes status`:
// "5 disables and deletes within 60 min reached the app's deletion threshold (5)", or
// "4 disables and deletes within 60 min reached 10% of the app's 40 linked accounts".
std::string staged_reason(const DeletionThresholdConfig& threshold, const DeletionWindow& window);

// "60 min", "2 h", "7 d": a window as operators read it.
std::string window_phrase(std::chrono::milliseconds window);

}  // namespace provbridge::transforms
