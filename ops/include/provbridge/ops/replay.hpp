#pragma once

#include <string>

#include "provbridge/core/config.hpp"
#include "provbridge/core/event.hpp"

namespace provbridge::ops {

// A dead letter's original record made ready to be sent again (`provbridge dlq replay`, the
// dashboard's replay button): its own headers (ours dropped) and the mark naming the entry, which
// the worker reads to give the replay its own event id and to remove the entry once the replay
// has an outcome.
struct PreparedReplay {
    InboundRecord record;   // as it is to be sent
    std::string watch_app;  // the app whose log will carry the outcome
    std::string source;     // the replay's identity, when the record has an event id
    std::string event_id;   // empty: an unparseable record, recognised by where it is written
};
PreparedReplay prepare_replay(const InboundRecord& original, const std::string& entry_id, const std::string& entry_app,
                              const Config& config);

}  // namespace provbridge::ops
