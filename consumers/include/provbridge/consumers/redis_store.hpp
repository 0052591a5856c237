#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/logger.h>

#include "provbridge/consumers/offset_gap.hpp"
#include "provbridge/consumers/redis.hpp"
#include "provbridge/core/clock.hpp"
#include "provbridge/core/keys.hpp"
#include "provbridge/core/membership.hpp"
#include "provbridge/core/minute_stats.hpp"
#include "provbridge/core/state_store.hpp"

namespace provbridge::consumers {

// The counter in the app's stats hash that an outcome increments (besides "events").
// Applied outcomes count by action: created, updated, disabled, deleted, linked,
// applied_other (action none); then skipped and dead_lettered.
std::string_view stats_counter(const OutcomeRecord& record);

// The key an outcome is recorded under: the event key when the record names an event id,
// else the invalid-record key of (app or KeyScheme::kInvalidApp, topic, partition, offset).
std::string outcome_key(const KeyScheme& keys, const OutcomeRecord& record);

// A parked event as it is stored in its object's queue: a JSON document in which the Kafka
// record's key, value and headers are base64 (they are any bytes), and every other text is a
// JSON string when it is valid UTF-8, else {"base64": ...}, so the round trip is byte-exact.
std::string encode_parked(const ParkedEvent& event);
// Never throws: a document that is not one of ours comes back as an Error naming `where`.
Result<ParkedEvent> decode_parked(std::string_view text, std::string_view where);

// A Kafka record as the dead-letter index keeps it (field "record" of an entry, for replay):
// the same JSON document as the record of encode_parked, so the round trip is byte-exact.
std::string encode_record(const InboundRecord& record);
// Never throws, like decode_parked.
Result<InboundRecord> decode_record_bytes(std::string_view text, std::string_view where);

// Whether text is a complete Redis stream id ("<ms>-<seq>", decimal): what the commit script
// may XDEL and what the dead-letter commands accept.
bool is_stream_id(std::string_view text);
// The milliseconds part of a stream id (when the entry was added, by the server's clock).
std::optional<std::int64_t> stream_id_ms(std::string_view id);

// StateStore on one Redis connection (hiredis).
//
// Not thread-safe: give each worker thread its own instance. load() is one pipelined round
// trip (GET outcome + HGETALL link + EXISTS queue + HEXISTS parked); commit() is one EVALSHA
// of a Lua script that writes the outcome with SET NX EX (the dedupe guard) and, only when
// that succeeded, the link hash and owner index (unless the stored link has a higher version:
// RecordedLinkKept), the log stream entry, the counters and the dead-letter index, all
// atomically; with Commit::head it first checks the lease and then also pops the head.
// A dead-letter index entry also keeps Commit::original (field "record", see encode_record)
// unless it is over kMaxIndexedRecordBytes, and a commit with Commit::replay_of removes that
// entry from the app's index in the same step.
// park(), claim_due(), reschedule(), stage() and admit_deletion() are one script each. Every
// key a call touches carries the same {app} hash tag, so the scripts stay valid on Redis Cluster
// (claim_due's script derives the queue keys of the heads it finds from KeyScheme::queue_prefix,
// in that slot).
//
// Parking keys (see KeyScheme): per object a list queue(), per app the zset due() of queue
// heads, the hash parked() (event key → member) and the hash leases() (member → token). A
// lease token is "<owner>:<n>" with n from lease_sequence(); while a head is claimed its score
// in due() is the end of the lease. A head staged by the deletion threshold is in the zset
// staged() instead of due(), so claim_due never sees it (RedisDeletionControl releases it).
//
// After construction nothing throws: failures come back as Error (see RedisErrorKind); a
// broken connection is re-established once on the next call.
// Also the membership store: the same connection, one per lane.
class RedisStateStore final : public StateStore, public MembershipStore {
public:
    // Connects and loads the scripts (SCRIPT LOAD). Start-up only: throws
    // std::runtime_error when Redis cannot be reached or a script is refused, and
    // std::invalid_argument for a non-positive TTL or log cap.
    RedisStateStore(RedisOptions options, KeyScheme keys, std::chrono::seconds dedupe_ttl,
                    std::int64_t log_max_entries, const Clock& clock);

    // Originals larger than this (key + value + headers) are not kept in the dead-letter index,
    // which is never trimmed: the entry gets "record_omitted" = the size instead, and the record
    // stays in the dead-letter topic. Far above worker.max_event_bytes' default (1 MiB), so only
    // records the worker refused as too large anyway are left out.
    static constexpr std::size_t kMaxIndexedRecordBytes = 8 * 1024 * 1024;

    // The provisioning log also drops entries older than this (besides its length cap); zero
    // keeps them until the cap (the default).
    void set_log_max_age(std::chrono::milliseconds age) { log_max_age_ = age; }

    Result<PriorState> load(const Event& event) override;
    Result<std::optional<OutcomeRecord>> load_invalid(const std::string& app,
                                                      const std::string& topic,
                                                      std::int32_t partition,
                                                      std::int64_t offset) override;
    Result<std::optional<LinkState>> load_link(const std::string& app, ObjectType type,
                                               const std::string& source_id) override;
    Result<std::optional<std::string>> load_owner(const std::string& app, ObjectType type,
                                                  const std::string& scim_id) override;
    Result<CommitStatus> commit(const Commit& commit) override;
    Result<bool> count_duplicate(const std::string& app) override;

    Result<bool> change_members(const std::string& app, const std::string& group, const std::vector<std::string>& added,
                                const std::vector<std::string>& removed) override;
    Result<GroupMembership> load_membership(const std::string& app, const std::string& group) override;
    Result<bool> record_applied(const std::string& app, const std::string& group,
                                const std::vector<std::pair<std::string, std::string>>& added,
                                const std::vector<std::string>& removed) override;
    Result<bool> forget_applied(const std::string& app, const std::string& group) override;
    Result<std::vector<std::string>> groups_of(const std::string& app, const std::string& user) override;
    Result<bool> set_group_assignment(const std::string& app, const std::string& group,
                                      const std::optional<std::string>& role) override;
    Result<std::optional<std::string>> group_assignment(const std::string& app, const std::string& group) override;
    Result<std::vector<GroupGrant>> group_grants(const std::string& app, const std::string& user) override;
    Result<bool> add_pending_reference(const std::string& app, const std::string& referenced,
                                       const std::string& referrer, std::int64_t since_ms) override;
    Result<std::map<std::string, std::int64_t>> pending_references(const std::string& app,
                                                                   const std::string& referenced) override;
    Result<bool> arm_reference_deadline(const std::string& app, ObjectType type, const std::string& id,
                                        std::int64_t due_ms) override;
    Result<std::vector<ReferenceDeadline>> due_reference_deadlines(const std::string& app, std::int64_t now_ms,
                                                                   std::size_t max) override;
    Result<bool> drop_reference_deadline(const std::string& app, const ReferenceDeadline& deadline) override;
    Result<bool> schedule_hard_delete(const std::string& app, const std::string& user_id, std::int64_t due_ms) override;
    Result<std::vector<ScheduledHardDelete>> due_hard_deletes(const std::string& app, std::int64_t now_ms,
                                                              std::size_t max) override;
    Result<bool> drop_hard_delete(const std::string& app, const ScheduledHardDelete& scheduled) override;
    Result<bool> cancel_hard_delete(const std::string& app, const std::string& user_id) override;
    Result<bool> drop_pending_references(const std::string& app, const std::string& referenced,
                                         const std::vector<std::string>& referrers) override;
    Result<std::vector<std::optional<LinkState>>> load_user_links(const std::string& app,
                                                                  const std::vector<std::string>& users) override;
    Result<ParkStatus> park(const ParkedEvent& event, ParkMode mode, std::int64_t due_ms) override;
    Result<std::vector<ParkedEvent>> queued_behind(const std::string& app, ObjectType type,
                                                   const std::string& id) override;
    // A head whose entry cannot be decoded (or whose member names no object) is left out of the
    // result but stays claimed: the others are returned, its lease runs out and the next claim
    // meets it again, so it blocks its own object (whose order cannot be kept without it) and
    // nothing else. Each such head is counted in corrupt_heads() and described, naming its
    // queue key, in last_corrupt_head(), for the worker's metrics and operators.
    Result<std::vector<ClaimedHead>> claim_due(const std::string& app, std::int64_t now_ms,
                                               std::chrono::milliseconds lease, std::size_t max,
                                               const std::string& owner) override;
    Result<LeaseStatus> reschedule(const HeadLease& lease, const ParkedEvent& updated,
                                   std::int64_t due_ms) override;
    Result<LeaseStatus> stage(const HeadLease& lease, const ParkedEvent& updated, std::int64_t staged_ms,
                              const OutcomeRecord& logged) override;
    Result<ParkStatus> park_staged(const ParkedEvent& event, std::int64_t staged_ms, const OutcomeRecord& logged) override;
    // One script over the window's buckets (KeyScheme::deletions, a string counter each), the
    // app's staged set and, for max_percent, its linked set.
    Result<DeletionWindow> admit_deletion(const std::string& app, std::int64_t now_ms,
                                          const DeletionThresholdConfig& threshold, bool allowed) override;
    // The number of the app's linked objects (KeyScheme::linked), after making the set complete
    // once per app and Redis: links written before the commit script kept the set (an older
    // version's) are found by one SCAN of the app's link keys, page by page, and the set is then
    // marked complete, which admit_deletion waits for before it applies max_percent. Safe beside
    // other workers doing the same and beside commits. For start-up, never per event.
    Result<std::int64_t> count_linked(const std::string& app);

    const KeyScheme& keys() const { return keys_; }
    std::int64_t reconnects() const { return connection_.reconnects(); }
    // Heads claim_due() met but could not return (see there), since construction.
    std::int64_t corrupt_heads() const { return corrupt_heads_; }
    const std::optional<Error>& last_corrupt_head() const { return last_corrupt_head_; }

private:
    struct Script {
        std::string_view name;  // for messages
        std::string_view source;
        std::string sha;
    };
    // EVALSHA, falling back to EVAL on NOSCRIPT. argv[0] and argv[1] are left free for the
    // command and the sha (or source); numkeys, keys and arguments follow.
    Result<RedisReplyPtr> run(const Script& script, RedisArgv& argv);
    // The park script: mode "1" behind, "0" anywhere, "2" staged (with its log entry).
    Result<ParkStatus> park_with(const ParkedEvent& event, const char* mode_arg, std::int64_t due_ms,
                                 const OutcomeRecord* logged);

    RedisConnection connection_;
    KeyScheme keys_;
    std::chrono::seconds dedupe_ttl_;
    std::int64_t log_max_entries_;
    std::chrono::milliseconds log_max_age_{0};
    // Stamps committed_at_ms on log entries; stream ids and expiries are left to the Redis
    // server's clock so that all workers agree on one.
    // Also the time at which a commit makes the next event of a queue due.
    const Clock& clock_;
    Script commit_script_;
    Script park_script_;
    Script claim_script_;
    Script reschedule_script_;
    Script stage_script_;
    Script admit_script_;
    Script drop_scheduled_script_;
    std::int64_t corrupt_heads_ = 0;
    std::optional<Error> last_corrupt_head_;
};

// Keeps every offset gap a consumer finds (the GapListener of `provbridge run`), for operators:
// one field per partition of the hash KeyScheme::offset_gaps() holding the latest gap, with the
// partition's gap count, lost total and first detection carried forward in the same script.
// One connection, used from the polling thread; not thread-safe.
class RedisOffsetGapStore final : public GapListener {
public:
    // Told of every gap before it is written, whether or not the write succeeds (the worker's
    // counters).
    using Observer = std::function<void(const OffsetGap&)>;

    // Connects; throws std::runtime_error at start-up like RedisConnection.
    RedisOffsetGapStore(RedisOptions options, KeyScheme keys, const Clock& clock,
                        std::shared_ptr<spdlog::logger> log);

    void set_observer(Observer observer) { observer_ = std::move(observer); }
    // The partition's value as it is after this gap.
    Result<OffsetGapRecord> record(const std::string& group, const TopicPartition& partition, const OffsetGap& gap,
                                   std::int64_t detected_at_ms);
    // Records at the clock's time; a failed write is logged (the consumer has logged the gap).
    void on_offset_gap(const std::string& group, const TopicPartition& partition, const OffsetGap& gap) override;

private:
    RedisConnection connection_;
    KeyScheme keys_;
    const Clock& clock_;
    std::shared_ptr<spdlog::logger> log_;
    Observer observer_;
};

// One entry of a provisioning-log or dead-letter stream.
struct StreamEntry {
    std::string id;  // stream id, e.g. "1712345678901-0"
    std::map<std::string, std::string> fields;
    OutcomeRecord record;  // decoded from the "json" field
    // Only from the dead-letter listings, which keep going past an entry they cannot decode:
    // why its "json" field could not be read (record is then left default).
    std::string decode_error;
};

// The original record kept in a dead-letter index entry ("record"): nullopt when the entry has
// none (indexed before originals were kept, or over RedisStateStore::kMaxIndexedRecordBytes),
// an Error when it cannot be decoded.
Result<std::optional<InboundRecord>> original_record(const StreamEntry& entry);

// A dead-letter index selection: which entries of an app, oldest first.
struct DeadLetterFilter {
    std::string code;           // only entries with this error code (empty: any)
    std::int64_t since_ms = 0;  // only entries added at or after this (stream id time)
    // false: the "record" field's value is emptied as each page is read (the field stays, so
    // the entry still says it has one), for listings of many large originals.
    bool keep_records = true;
};

// Read-only access to what the store wrote, for operators and tests. Owns its own connection
// (so a blocking log_since never holds up a worker); not thread-safe.
class ProvisioningLogReader {
public:
    // Connects; throws std::runtime_error at start-up like RedisConnection.
    ProvisioningLogReader(RedisOptions options, KeyScheme keys);
    ProvisioningLogReader(RedisConnection connection, KeyScheme keys);

    // The app's counters (HGETALL of the stats hash); empty when nothing was recorded.
    Result<std::map<std::string, std::int64_t>> stats(const std::string& app);
    // The app's per-minute counters from `first` to `last` (epoch minutes, both included), oldest
    // first; a minute nothing was recorded in is all zeros.
    Result<std::vector<MinuteStats>> minutes(const std::string& app, std::int64_t first, std::int64_t last);
    // What waits in the app's queues and indexes, each a cardinality read in one round trip.
    struct Depths {
        std::int64_t waiting_events = 0;   // every parked event (HLEN parked)
        std::int64_t due_heads = 0;        // queue heads due or scheduled (ZCARD due): retries
        std::int64_t staged = 0;           // heads held by the deletion threshold
        std::int64_t dead_letters = 0;     // the dead-letter index (XLEN)
        std::int64_t reference_waits = 0;  // objects within their reference timeout
        std::int64_t scheduled_hard_deletes = 0;  // deleted users' accounts waiting for their hard delete
    };
    Result<Depths> depths(const std::string& app);
    // The newest `count` log entries, newest first (XREVRANGE).
    Result<std::vector<OutcomeRecord>> recent_log(const std::string& app, std::int64_t count);
    // Entries after `last_id` (oldest first), waiting up to `block` for the first one to arrive
    // (XREAD COUNT n BLOCK ms STREAMS key id). Empty when the wait ends with nothing new.
    // A zero `block` does not wait. Pass the id of the last entry seen, "0-0" for everything,
    // or the result of last_log_id() to wait only for outcomes recorded from now on.
    Result<std::vector<StreamEntry>> log_since(const std::string& app, const std::string& last_id,
                                               std::int64_t count, std::chrono::milliseconds block);
    // Up to `count` log entries from `end` back to `start` (both inclusive stream ids; "+" the
    // newest, "-" the oldest), newest first (XREVRANGE); previous_id() gives the next page's end.
    Result<std::vector<StreamEntry>> log_before(const std::string& app, const std::string& end,
                                                const std::string& start, std::int64_t count);
    // The largest stream id before `id` ("0-0" stays "0-0").
    static std::string previous_id(const std::string& id);
    // The id of the newest log entry, "0-0" when the log is empty.
    Result<std::string> last_log_id(const std::string& app);
    Result<std::int64_t> count_log(const std::string& app);
    // The oldest `count` dead-letter index entries, oldest first (replay order).
    Result<std::vector<StreamEntry>> dead_letters(const std::string& app, std::int64_t count);
    // Every dead-letter index entry of the app that passes the filter, oldest first, read in
    // pages of `page` entries (XRANGE ... COUNT), so an index of any size is listed without one
    // huge reply. An entry whose JSON cannot be decoded is kept, with decode_error set.
    Result<std::vector<StreamEntry>> all_dead_letters(const std::string& app,
                                                      const DeadLetterFilter& filter = {},
                                                      std::int64_t page = 500);
    // One page: up to `count` entries from `start` (a stream id, inclusive; "-" for the
    // beginning), oldest first, lenient like all_dead_letters. next_start() gives the next page.
    Result<std::vector<StreamEntry>> dead_letter_page(const std::string& app, const std::string& start,
                                                      std::int64_t count);
    // The smallest stream id after `id` (for paging without Redis 6.2's exclusive ranges).
    static std::string next_start(const std::string& id);
    // The entry with this id (XRANGE id id), nullopt when the app's index has none. `id` must
    // be a stream id (is_stream_id).
    Result<std::optional<StreamEntry>> dead_letter(const std::string& app, const std::string& id);
    Result<std::int64_t> count_dead_letters(const std::string& app);
    // XDEL of these ids from the app's index (in batches); returns how many were removed.
    Result<std::int64_t> delete_dead_letters(const std::string& app, const std::vector<std::string>& ids);
    Result<std::optional<OutcomeRecord>> outcome(const std::string& app, const std::string& source,
                                                 const std::string& event_id);
    // The outcome of a record without an event id, by where it was read (see outcome_key).
    Result<std::optional<OutcomeRecord>> invalid_outcome(const std::string& app, const std::string& topic,
                                                         std::int32_t partition, std::int64_t offset);
    Result<std::optional<LinkState>> link(const std::string& app, ObjectType type,
                                          const std::string& source_id);
    // Every partition's offset gaps (RedisOffsetGapStore), by topic and partition. A value that
    // cannot be decoded is kept, with decode_error set.
    Result<std::vector<OffsetGapRecord>> offset_gaps();

    RedisConnection& connection() { return connection_; }

private:
    RedisConnection connection_;
    KeyScheme keys_;
};

}  // namespace provbridge::consumers
