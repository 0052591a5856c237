#pragma once

#include <cstdint>
#include <string>

#include "provbridge/core/config.hpp"
#include "provbridge/core/outcome.hpp"
#include "provbridge/core/state_store.hpp"

namespace provbridge::transforms {

// Entra's accidental-deletions prevention, per operation. A disable or delete about to be sent
// is admitted unless the app's window already counts threshold.max_operations of them, or the
// app has operations staged already: then it is staged too, so that once an operator is asked,
// nothing more goes out (however the window slides) until the operator has answered. One an
// operator allowed is admitted regardless. Off (max_operations 0): everything is admitted.
// The state store applies this rule atomically (RedisStateStore's admit script mirrors it).
DeletionAdmission judge_deletion(const DeletionThresholdConfig& threshold, std::int64_t counted, std::int64_t staged,
                                 bool allowed);

// Why an operation was staged, for the worker's log and `provbridge deletes status`:
// "5 disables and deletes within 60 min reached the app's deletion threshold (5)".
std::string staged_reason(const DeletionThresholdConfig& threshold, const DeletionWindow& window);

// "60 min", "2 h", "7 d": a window as operators read it.
std::string window_phrase(std::chrono::milliseconds window);

}  // namespace provbridge::transforms
