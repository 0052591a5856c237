#include "provbridge/ops/replay.hpp"

#include "provbridge/core/dead_letter.hpp"
#include "provbridge/core/keys.hpp"

namespace provbridge::ops {
namespace {

// Headers of ours on a record: the dead-letter context and an earlier replay's mark. A replay
// carries only the original's own headers and its new mark.
constexpr std::string_view kOwnHeaderPrefix = "provbridge.";

}  // namespace

PreparedReplay prepare_replay(const InboundRecord& original, const std::string& entry_id, const std::string& entry_app,
                              const Config& config) {
    PreparedReplay r;
    r.record = original;
    r.record.headers.clear();
    for (const auto& h : original.headers) {
        if (h.name.compare(0, kOwnHeaderPrefix.size(), kOwnHeaderPrefix) != 0) r.record.headers.push_back(h);
    }
    r.record.headers.push_back({std::string(kReplayHeader), entry_id});
    // Parsed as the worker parses it, to know the replay's event id and app before it exists.
    auto event = parse_record(r.record, ParseLimits{config.worker.max_event_bytes, config.worker.max_event_depth});
    if (event) {
        r.source = event->source;
        r.event_id = replay_event_id(event->id, entry_id);
        r.watch_app = config.find_app(event->app) != nullptr ? event->app : std::string(KeyScheme::kInvalidApp);
    } else {
        r.watch_app = entry_app;
    }
    return r;
}

}  // namespace provbridge::ops
