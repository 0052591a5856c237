#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "provbridge/core/event.hpp"
#include "provbridge/core/outcome.hpp"
#include "provbridge/core/result.hpp"

namespace provbridge {

// Set by `provbridge dlq replay` on the record it sends back to the events topic: the id of the
// dead-letter index entry (a Redis stream id) being replayed. The replay is a new attempt with an
// outcome of its own: its event id is the original's plus "#replay:<entry id>".
inline constexpr std::string_view kReplayHeader = "provbridge.replay.of";
std::string replay_event_id(const std::string& event_id, const std::string& entry_id);

// Why a record is dead-lettered; travels with the original bytes and headers.
struct DeadLetterReason {
    std::string code;    // InvalidEvent, UnknownApp, DuplicateTargetEntries, TooManyRequests, …
    std::string reason;  // human text
    std::string stage;   // parse, dispatch
    int attempts = 1;
    std::int64_t failed_at_ms = 0;
    // Context for an operator and for replay (empty/0 when not known): the app, the failure
    // policy's class (transient, permanent, auth), the last HTTP status and SCIM scimType, when
    // the event first failed, and every failed attempt (details redacted).
    std::string app;
    std::string error_class;
    long http_status = 0;
    std::string scim_type;
    std::int64_t first_failed_at_ms = 0;
    std::vector<AttemptFailure> trail;
};

// Where records that cannot succeed are sent. publish() returns only once the record is
// durable, so the caller may then commit the source offset.
class DeadLetterSink {
public:
    virtual ~DeadLetterSink() = default;
    virtual Result<bool> publish(const InboundRecord& original, const DeadLetterReason& reason) = 0;
};

}  // namespace provbridge
