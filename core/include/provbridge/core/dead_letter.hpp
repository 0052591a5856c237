#pragma once

#include <cstdint>
#include <string>

#include "provbridge/core/event.hpp"
#include "provbridge/core/result.hpp"

namespace provbridge {

// Why a record is dead-lettered; travels with the original bytes and headers.
struct DeadLetterReason {
    std::string code;    // InvalidEvent, UnknownApp, DuplicateTargetEntries, TooManyRequests, …
    std::string reason;  // human text
    std::string stage;   // parse, dispatch
    int attempts = 1;
    std::int64_t failed_at_ms = 0;
};

// Where records that cannot succeed are sent. publish() returns only once the record is
// durable, so the caller may then commit the source offset.
class DeadLetterSink {
public:
    virtual ~DeadLetterSink() = default;
    virtual Result<bool> publish(const InboundRecord& original, const DeadLetterReason& reason) = 0;
};

}  // namespace provbridge
