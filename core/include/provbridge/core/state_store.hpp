#pragma once

#include <optional>
#include <string>

#include "provbridge/core/event.hpp"
#include "provbridge/core/outcome.hpp"
#include "provbridge/core/result.hpp"

namespace provbridge {

// What the store knows about an event before it is processed.
struct PriorState {
    // The outcome already recorded for this event id (a redelivery or a re-produced event).
    std::optional<OutcomeRecord> recorded;
    // The link of the event's object, when one exists.
    std::optional<LinkState> link;
};

// Everything that must become durable together once an event's outcome is decided.
struct Commit {
    OutcomeRecord record;
    // Link state to write for (record.app, object type, object id); nullopt leaves it alone.
    std::optional<LinkState> link;
    // Also index the record in the app's dead-letter stream (for replay).
    bool dead_letter = false;
};

enum class CommitStatus {
    Recorded,          // the outcome was written
    AlreadyRecorded,   // another delivery recorded this event first; nothing was written
    // The outcome (log entry, counters, dead-letter index) was written, but the stored link
    // has a higher version than Commit::link, so the link and its owner index were left alone:
    // a newer event of the object was committed in between.
    RecordedLinkKept,
};

// The worker's durable state. Implementations are used by one thread at a time; every
// method returns an Error when the store cannot be reached, and never throws.
class StateStore {
public:
    virtual ~StateStore() = default;

    // Reads the recorded outcome of this event (by app, source, id) and its object's link.
    virtual Result<PriorState> load(const Event& event) = 0;

    // Reads the recorded outcome of an unparseable record, keyed by topic/partition/offset.
    virtual Result<std::optional<OutcomeRecord>> load_invalid(const std::string& app,
                                                              const std::string& topic,
                                                              std::int32_t partition,
                                                              std::int64_t offset) = 0;

    // Reads the link of another object (a referenced manager, say).
    virtual Result<std::optional<LinkState>> load_link(const std::string& app, ObjectType type,
                                                       const std::string& source_id) = 0;

    // The source id of the object whose link points at this SCIM resource, if any.
    virtual Result<std::optional<std::string>> load_owner(const std::string& app, ObjectType type,
                                                          const std::string& scim_id) = 0;

    // Atomically writes the outcome (once per event), the link (and the owner of its SCIM id)
    // unless the stored link has a higher version (an equal one is overwritten), the log entry
    // and counters.
    virtual Result<CommitStatus> commit(const Commit& commit) = 0;

    // Counts a redelivered event that already had an outcome.
    virtual Result<bool> count_duplicate(const std::string& app) = 0;
};

}  // namespace provbridge
