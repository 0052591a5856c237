#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "provbridge/core/result.hpp"

namespace provbridge {

// An app's quarantine as every worker sees it (kept in Redis).
struct QuarantineState {
    bool quarantined = false;
    std::string code;            // Unauthorized, InsufficientRights, FailureRate
    std::string reason;          // why, redacted: the response that tripped it or the failure ratio
    std::int64_t since_ms = 0;
    std::int64_t next_probe_ms = 0;
    int failed_probes = 0;
    std::string last_probe;      // what the last probe got, redacted
};

// SCIM operations of an app in the sliding window, for the failure-ratio trigger.
struct OperationWindow {
    std::int64_t succeeded = 0;
    std::int64_t failed = 0;
};

// Where quarantine state and the operation window live. Every method returns an Error when the
// store cannot be reached, and never throws.
class QuarantineStore {
public:
    virtual ~QuarantineStore() = default;
    virtual Result<QuarantineState> load(const std::string& app) = 0;
    // Quarantines the app unless it is already (the first reason stands); returns the state now.
    virtual Result<QuarantineState> enter(const std::string& app, const std::string& code, const std::string& reason,
                                          std::int64_t now_ms, std::int64_t next_probe_ms) = 0;
    // Takes the due probe for this caller until now + lease, so one worker probes at a time;
    // false when the app is not quarantined, the probe is not due, or another worker has it.
    virtual Result<bool> claim_probe(const std::string& app, std::int64_t now_ms, std::chrono::milliseconds lease) = 0;
    virtual Result<bool> probe_failed(const std::string& app, const std::string& what, std::int64_t next_probe_ms) = 0;
    // Lifts the quarantine (a good probe, or an operator); false when there was none.
    virtual Result<bool> lift(const std::string& app) = 0;
    // Counts one SCIM operation (an event's calls to the app, succeeded or failed) in the bucket
    // of now_ms, and returns the totals over the window ending now.
    virtual Result<OperationWindow> record_operation(const std::string& app, bool failed, std::int64_t now_ms,
                                                     std::chrono::milliseconds window) = 0;
};

}  // namespace provbridge
