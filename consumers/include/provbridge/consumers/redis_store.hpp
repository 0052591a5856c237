#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "provbridge/consumers/redis.hpp"
#include "provbridge/core/clock.hpp"
#include "provbridge/core/keys.hpp"
#include "provbridge/core/state_store.hpp"

namespace provbridge::consumers {

// The counter in the app's stats hash that an outcome increments (besides "events").
// Applied outcomes count by action: created, updated, disabled, deleted, linked,
// applied_other (action none); then skipped and dead_lettered.
std::string_view stats_counter(const OutcomeRecord& record);

// The key an outcome is recorded under: the event key when the record names an event id,
// else the invalid-record key of (app or KeyScheme::kInvalidApp, topic, partition, offset).
std::string outcome_key(const KeyScheme& keys, const OutcomeRecord& record);

// StateStore on one Redis connection (hiredis).
//
// Not thread-safe: give each worker thread its own instance. load() is one pipelined round
// trip (GET outcome + HGETALL link); commit() is one EVALSHA of a Lua script that writes the
// outcome with SET NX EX (the dedupe guard) and, only when that succeeded, the link hash and
// owner index (unless the stored link has a higher version: RecordedLinkKept), the log stream
// entry, the counters and the dead-letter index, all atomically. Every key a
// call touches carries the same {app} hash tag, so the script stays valid on Redis Cluster.
// After construction nothing throws: failures come back as Error (see RedisErrorKind); a
// broken connection is re-established once on the next call.
class RedisStateStore final : public StateStore {
public:
    // Connects and loads the commit script (SCRIPT LOAD). Start-up only: throws
    // std::runtime_error when Redis cannot be reached or the script is refused, and
    // std::invalid_argument for a non-positive TTL or log cap.
    RedisStateStore(RedisOptions options, KeyScheme keys, std::chrono::seconds dedupe_ttl,
                    std::int64_t log_max_entries, const Clock& clock);

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

    const KeyScheme& keys() const { return keys_; }
    std::int64_t reconnects() const { return connection_.reconnects(); }

private:
    RedisConnection connection_;
    KeyScheme keys_;
    std::chrono::seconds dedupe_ttl_;
    std::int64_t log_max_entries_;
    // Stamps committed_at_ms on log entries; stream ids and expiries are left to the Redis
    // server's clock so that all workers agree on one.
    const Clock& clock_;
    std::string script_sha_;
};

// One entry of a provisioning-log or dead-letter stream.
struct StreamEntry {
    std::string id;  // stream id, e.g. "1712345678901-0"
    std::map<std::string, std::string> fields;
    OutcomeRecord record;  // decoded from the "json" field
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
    // The newest `count` log entries, newest first (XREVRANGE).
    Result<std::vector<OutcomeRecord>> recent_log(const std::string& app, std::int64_t count);
    // Entries after `last_id` (oldest first), waiting up to `block` for the first one to arrive
    // (XREAD COUNT n BLOCK ms STREAMS key id). Empty when the wait ends with nothing new.
    // A zero `block` does not wait. Pass the id of the last entry seen, "0-0" for everything,
    // or the result of last_log_id() to wait only for outcomes recorded from now on.
    Result<std::vector<StreamEntry>> log_since(const std::string& app, const std::string& last_id,
                                               std::int64_t count, std::chrono::milliseconds block);
    // The id of the newest log entry, "0-0" when the log is empty.
    Result<std::string> last_log_id(const std::string& app);
    Result<std::int64_t> count_log(const std::string& app);
    // The oldest `count` dead-letter index entries, oldest first (replay order).
    Result<std::vector<StreamEntry>> dead_letters(const std::string& app, std::int64_t count);
    Result<std::optional<OutcomeRecord>> outcome(const std::string& app, const std::string& source,
                                                 const std::string& event_id);
    Result<std::optional<LinkState>> link(const std::string& app, ObjectType type,
                                          const std::string& source_id);

    RedisConnection& connection() { return connection_; }

private:
    RedisConnection connection_;
    KeyScheme keys_;
};

}  // namespace provbridge::consumers
