#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "provbridge/core/event.hpp"

namespace provbridge {

// An object named by the due set's members (see KeyScheme::queue_member).
struct QueueMember {
    ObjectType type = ObjectType::User;
    std::string source_id;
};

// An object as operators name it: "TYPE/ID" (user/u42, group/g1); nullopt when it is not one.
std::optional<QueueMember> parse_object_ref(std::string_view text);

// The Redis key scheme. Every key of an app carries the app id as a hash tag ({app}) so
// that all of one app's keys land in one Redis Cluster slot and multi-key scripts keep
// working after a move to Redis Cluster.
class KeyScheme {
public:
    explicit KeyScheme(std::string prefix = "pb") : prefix_(std::move(prefix)) {}

    // Outcome of one event (idempotency key: source + id), string with a TTL.
    std::string event(std::string_view app, std::string_view source, std::string_view id) const;
    // Outcome of a record that could not be parsed, keyed by where it was read. `app` is the
    // app named by the record when that much could be read, else kInvalidApp.
    std::string invalid_record(std::string_view app, std::string_view topic, std::int32_t partition,
                               std::int64_t offset) const;
    // A dry run's outcomes are keyed apart from the real ones (the event id, or an unparseable
    // record's topic, in this namespace), so a dry run never makes the real event a duplicate.
    static std::string dry_run_name(std::string_view name) { return "dry-run:" + std::string(name); }
    // Link of one source object to its SCIM resource, hash.
    std::string link(std::string_view app, ObjectType type, std::string_view source_id) const;
    // Which source object owns a SCIM resource (string: source id), so one account is never
    // linked to two source objects.
    std::string owner(std::string_view app, ObjectType type, std::string_view scim_id) const;
    // Provisioning log, stream.
    std::string log(std::string_view app) const;
    // Outcome counters, hash.
    std::string stats(std::string_view app) const;
    // One wall-clock minute's outcome counters and latency histogram (hash, with a TTL).
    std::string minute(std::string_view app, std::int64_t epoch_minute) const;
    // Dead-letter index, stream.
    std::string dead_letters(std::string_view app) const;

    // A group's members as the directory lists them, set of user source ids (changed by deltas).
    std::string members(std::string_view app, std::string_view group_id) const;
    // The groups a user is a member of, set of group source ids (the reverse of members()).
    std::string member_of(std::string_view app, std::string_view user_id) const;
    // Objects waiting for this user to get an account (reports of a manager), hash referrer
    // source id → since (wall ms).
    std::string pending_references(std::string_view app, std::string_view user_id) const;
    // Objects whose references are unresolved, ZSET "<type>:<source id>" by the time their
    // reference check is due (wall ms).
    std::string reference_deadlines(std::string_view app) const;
    // The groups assigned to the app, hash group source id → the assignment's role.
    std::string assigned_groups(std::string_view app) const;
    // The members a group has in the target, as sent: hash user source id → the user's id there.
    std::string applied_members(std::string_view app, std::string_view group_id) const;

    // Events of one object waiting to run, oldest first (list of serialised ParkedEvents).
    // Always queue_prefix(app) + queue_member(type, source_id): a script that finds a member in
    // the due set derives the queue's key from it (it cannot be passed in before the lookup).
    std::string queue(std::string_view app, ObjectType type, std::string_view source_id) const;
    std::string queue_prefix(std::string_view app) const;
    // When each queue's head is due, zset: member → ms since the epoch. While a head is
    // claimed its score is the end of the lease, so an expired lease makes it due again.
    std::string due(std::string_view app) const;
    // Every parked event, hash: event key (as event()) → member of its object's queue.
    std::string parked(std::string_view app) const;
    // The lease on each claimed head, hash: member → token.
    std::string leases(std::string_view app) const;
    // Counter that makes lease tokens unique, string.
    std::string lease_sequence(std::string_view app) const;
    // The app's quarantine (hash; absent when not quarantined), the lock of its running probe,
    // and one bucket of its operation window (hash ok/fail counts, expiring).
    std::string quarantine(std::string_view app) const;
    std::string quarantine_probe(std::string_view app) const;
    std::string operations(std::string_view app, std::int64_t bucket) const;
    // The deletion threshold: one bucket of the app's window of disables and deletes sent
    // (string counter, expiring), and the heads staged by it, zset: member → ms when staged.
    // A staged head is in staged() instead of due(), so no worker claims it.
    std::string deletions(std::string_view app, std::int64_t bucket) const;
    std::string staged(std::string_view app) const;
    // The hard deletes scheduled after a user's deletion (apps[].hard_delete_after_days), zset:
    // user source id → ms when due. Swept like the reference deadlines: a due one is parked as a
    // UserHardDelete follow-up in the user's queue.
    std::string hard_deletes(std::string_view app) const;
    // The scheduled hard deletes an operator discarded, hash: user source id → "1". Swept with
    // its schedule, the follow-up is recorded skipped (deletion_discarded), nothing is sent.
    std::string hard_deletes_discarded(std::string_view app) const;
    // The app's linked objects (the base of deletion_threshold.max_percent), set of link keys:
    // every link with an account in the target (active or not), kept by the script that writes
    // links. linked_complete() (string) says the set also holds the links written before it was
    // kept: set once a worker has gone through them (RedisStateStore::count_linked).
    std::string linked(std::string_view app) const;
    std::string linked_complete(std::string_view app) const;
    // SCAN pattern of the app's link keys.
    std::string link_pattern(std::string_view app) const;
    // What operators were last told of the app (its alert key), string.
    std::string alerts(std::string_view app) const;

    // Offsets the consumer group never read because retention removed them first, hash:
    // "<topic>/<partition>" → JSON of the partition's latest gap and totals. Not per app (a
    // partition carries every app's events), so it has no hash tag.
    std::string offset_gaps() const;
    // A source's progress (`provbridge source ldap`), by its CloudEvents source: the sync
    // cookies (hash: search → cookie) and what it knows of each directory object (hash: id →
    // JSON). One hash tag, so that they change in one transaction.
    std::string source_cookies(std::string_view source) const;
    std::string source_objects(std::string_view source) const;
    // Events stored with the state that produced them, until sent (string: a JSON list).
    std::string source_outbox(std::string_view source) const;
    std::string source_rules(std::string_view source) const;
    // What the running source last reported of itself (string: JSON; docs/ops-api.md), for
    // `status`, the page and the metrics.
    std::string source_status(std::string_view source) const;
    // The live workers of the group, zset: owner id -> Redis time (ms) of its last heartbeat.
    // Not per app: the rate limits of every app are split by it.
    std::string workers() const;

    // The member naming an object in due() and leases(): "<type>:<source id>". Type names
    // hold no ':', so the first one ends the type and the id may be any text.
    static std::string queue_member(ObjectType type, std::string_view source_id);
    static std::optional<QueueMember> parse_queue_member(std::string_view member);

    // The app id used for records that name no known app (malformed events).
    static constexpr std::string_view kInvalidApp = "_invalid";

    const std::string& prefix() const { return prefix_; }

private:
    std::string app_base(std::string_view app) const;
    std::string prefix_;
};

}  // namespace provbridge
