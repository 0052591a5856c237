#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "provbridge/core/config.hpp"
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
    // The object has events waiting in its queue (a retry, a quarantine): this one must wait
    // behind them. Read in the same round trip as the rest, so nothing runs past a waiting head.
    bool object_queued = false;
    // This very event is already waiting in its object's queue (a redelivery of a parked event).
    bool event_parked = false;
};

// What the deletion threshold (see transforms/deletion_threshold.hpp) says about a parked event.
enum class DeletionMark {
    None,
    // Held for an operator: the head of its queue, in the app's staged set instead of the due set.
    Staged,
    // An operator allowed it: it runs once without asking the threshold (it is still counted).
    Allowed,
    // An operator discarded it: recorded as skipped (deletion_discarded), nothing is sent.
    Discarded,
    // Admitted and counted already: a retry of it is neither asked about nor counted again.
    Counted,
};
std::string_view to_string(DeletionMark mark);
std::optional<DeletionMark> deletion_mark_from_string(std::string_view s);

// A user's hard delete, scheduled when it was deleted, due at due_ms.
struct ScheduledHardDelete {
    std::string user_id;  // source id
    std::int64_t due_ms = 0;
    bool discarded = false;  // an operator discarded it: it is recorded skipped, nothing is sent
    bool operator==(const ScheduledHardDelete&) const = default;
};

struct DeletionHold {
    DeletionMark mark = DeletionMark::None;
    Action action = Action::None;    // the operation held: Disable or Delete
    std::int64_t staged_at_ms = 0;   // when it was staged (0 if it never was)
};

// An event waiting in its object's queue: the original record, kept whole because a retry
// re-decides the event against the state as it is then (it is not a replay of the request
// that failed), and the trail of its failed attempts.
struct ParkedEvent {
    InboundRecord record;  // any bytes: key, value and headers are binary-safe in the store
    std::string app;
    ObjectType object_type = ObjectType::User;
    std::string object_id;
    std::string source;    // the event's identity: (app, source, event_id) as for outcomes
    std::string event_id;
    int attempts = 0;                  // attempts made (0: parked behind another, never tried)
    std::int64_t parked_at_ms = 0;     // first parked
    std::int64_t first_failure_ms = 0; // 0 while it never failed
    std::vector<AttemptFailure> trail; // oldest first
    DeletionHold deletion;
};

// Where a parked event should go.
enum class ParkMode {
    Behind,    // only behind events already queued for the object; NotQueued when there are none
    Anywhere,  // behind them, or as the head (due at due_ms) when the queue is empty
};

enum class ParkStatus {
    Parked,         // appended to the object's queue (as its head when it was empty)
    AlreadyParked,  // this event is in the queue already (a redelivery); nothing changed
    NotQueued,      // ParkMode::Behind and the queue was empty: process the event now
};

// The right to finish or reschedule the head of one object's queue, given by claim_due.
struct HeadLease {
    std::string app;
    ObjectType object_type = ObjectType::User;
    std::string object_id;
    std::string token;  // unique per claim; finishing with a stale token changes nothing
};

struct ClaimedHead {
    HeadLease lease;
    ParkedEvent event;
    std::int64_t lease_until_ms = 0;
};

enum class LeaseStatus { Held, Lost };

// The deletion threshold's answer for one disable or delete about to be sent.
enum class DeletionAdmission { Admitted, Staged };
struct DeletionWindow {
    DeletionAdmission admission = DeletionAdmission::Admitted;
    // Disables and deletes counted in the app's window (this one included when admitted).
    std::int64_t counted = 0;
    // Operations of the app staged before this one.
    std::int64_t staged = 0;
    // The app's linked accounts (users and groups with a resource in the target, active or not),
    // the base of threshold.max_percent; read only when that is set (else 0).
    std::int64_t linked = 0;
};

// Everything that must become durable together once an event's outcome is decided.
struct Commit {
    OutcomeRecord record;
    // Link state to write for (record.app, object type, object id); nullopt leaves it alone.
    std::optional<LinkState> link;
    // Also index the record in the app's dead-letter stream (for replay).
    bool dead_letter = false;
    // The outcome is that of the claimed head of its object's queue: in the same atomic step
    // the head is removed, the next event of the object (if any) becomes due at once, and the
    // lease is released, but only while the lease is still held (else CommitStatus::LeaseLost
    // and nothing at all is written).
    std::optional<HeadLease> head;
    // With dead_letter: the original record, kept whole in the index so that it can be replayed.
    std::optional<InboundRecord> original;
    // The outcome of a replay: the id of the dead-letter index entry it replays, removed from the
    // index in the same step (it was replayed; a new failure adds a new entry).
    std::string replay_of;
};

enum class CommitStatus {
    Recorded,          // the outcome was written
    AlreadyRecorded,   // another delivery recorded this event first; nothing was written
    // The outcome (log entry, counters, dead-letter index) was written, but the stored link
    // has a higher version than Commit::link, so the link and its owner index were left alone:
    // a newer event of the object was committed in between.
    RecordedLinkKept,
    // Commit::head named a lease that expired and was claimed by another worker (or the head
    // was finished already): nothing was written, the other worker's attempt stands.
    LeaseLost,
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

    // Appends an event to its object's queue in one atomic step (the Kafka offset may be
    // committed once this returned Parked or AlreadyParked). A new head is due at due_ms.
    virtual Result<ParkStatus> park(const ParkedEvent& event, ParkMode mode, std::int64_t due_ms) = 0;

    // The events waiting behind the head of an object's queue, oldest first (the head is not
    // among them; empty when nothing waits): a head that runs again decides with the newest
    // attributes already known, never older ones than an event queued behind it.
    virtual Result<std::vector<ParkedEvent>> queued_behind(const std::string& app, ObjectType type,
                                                           const std::string& id) = 0;

    // Claims up to `max` heads of the app's queues that are due at now_ms (oldest due first),
    // each with a lease until now_ms + lease held by `owner` (a worker id, for operators). A
    // head whose lease expired is due again, so a crashed worker's claims are taken over.
    virtual Result<std::vector<ClaimedHead>> claim_due(const std::string& app, std::int64_t now_ms,
                                                       std::chrono::milliseconds lease, std::size_t max,
                                                       const std::string& owner) = 0;

    // Puts a claimed head back, updated (attempts, trail), due again at due_ms, releasing the
    // lease; Lost (nothing written) when the lease is no longer held.
    virtual Result<LeaseStatus> reschedule(const HeadLease& lease, const ParkedEvent& updated,
                                           std::int64_t due_ms) = 0;

    // Stages a claimed head (updated: its DeletionHold): it stays the head of its queue but
    // leaves the due set for the app's staged set (at staged_ms) and the lease is released, so
    // no worker claims it until an operator releases it. Lost (nothing written) as reschedule.
    // `logged` is the provisioning log's entry of the staging (action StagedDelete), written with
    // it: the log shows the staging when it happens. It is no outcome (no dedupe key, no counter):
    // the event's outcome comes when an operator allows (it runs) or discards it.
    virtual Result<LeaseStatus> stage(const HeadLease& lease, const ParkedEvent& updated, std::int64_t staged_ms,
                                      const OutcomeRecord& logged) = 0;
    // Parks an event staged: behind the events already queued for its object, or as a head that
    // is not due but in the app's staged set (at staged_ms) when the queue is empty, so it runs
    // only once an operator releases it. `logged` as for stage(); AlreadyParked (nothing written)
    // for a redelivery.
    virtual Result<ParkStatus> park_staged(const ParkedEvent& event, std::int64_t staged_ms,
                                           const OutcomeRecord& logged) = 0;

    // Schedules the user's hard delete at due_ms, replacing any earlier schedule of it (a user
    // restored and deleted again gets its grace period from the last deletion).
    virtual Result<bool> schedule_hard_delete(const std::string& app, const std::string& user_id, std::int64_t due_ms) = 0;
    // Up to `max` hard deletes due at now_ms, the oldest first; they stay until dropped.
    virtual Result<std::vector<ScheduledHardDelete>> due_hard_deletes(const std::string& app, std::int64_t now_ms,
                                                                      std::size_t max) = 0;
    // Drops the user's schedule, whatever it is (the user was restored within its grace period).
    virtual Result<bool> cancel_hard_delete(const std::string& app, const std::string& user_id) = 0;
    // Drops a schedule whose follow-up is parked, only while it is still the one read (a user
    // deleted again in between keeps its new schedule).
    virtual Result<bool> drop_hard_delete(const std::string& app, const ScheduledHardDelete& scheduled) = 0;

    // Asks the app's deletion window whether a disable or delete may be sent now, in one atomic
    // step, by transforms::judge_deletion: admitted (and counted in the bucket of now_ms) unless
    // the window holds threshold.max_operations already, or threshold.max_percent of the app's
    // linked accounts, or the app has staged operations. `allowed` (an operator released it):
    // admitted and counted regardless. With max_percent set, a store that does not know the
    // number of linked accounts (not counted yet) answers an Error, never a guess.
    virtual Result<DeletionWindow> admit_deletion(const std::string& app, std::int64_t now_ms,
                                                  const DeletionThresholdConfig& threshold, bool allowed) = 0;
};

}  // namespace provbridge
