#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "provbridge/consumers/redis.hpp"
#include "provbridge/core/config.hpp"
#include "provbridge/core/keys.hpp"
#include "provbridge/core/outcome.hpp"
#include "provbridge/core/state_store.hpp"

namespace provbridge::consumers {

// One disable or delete the deletion threshold staged: the head of its object's queue, waiting
// for an operator.
struct StagedOperation {
    ObjectType object_type = ObjectType::User;
    std::string object_id;
    Action action = Action::None;
    std::string source;
    std::string event_id;
    std::int64_t staged_at_ms = 0;
    std::int64_t waiting_behind = 0;  // later events of the object, parked behind it
};

// An app's deletion threshold as it stands.
struct DeletionStatus {
    std::int64_t counted = 0;           // disables and deletes sent within the window ending now
    std::int64_t staged = 0;            // heads in the app's staged set
    std::int64_t oldest_staged_ms = 0;  // 0 when none is staged
    // The app's linked accounts (the base of max_percent); nullopt until a worker has counted
    // them (RedisStateStore::count_linked).
    std::optional<std::int64_t> linked;
    std::vector<StagedOperation> operations;  // oldest first
    // Hard deletes scheduled after users' deletions (apps[].hard_delete_after_days), soonest first.
    std::vector<ScheduledHardDelete> scheduled;
    // Staged members whose head could not be read (named by their queue key, with the reason);
    // they stay staged and are not released.
    std::vector<std::string> unreadable;
};

// What the deletion threshold staged, for operators (`provbridge deletes`): the counted window,
// the staged heads, and their release. Owns its connection; not thread-safe.
class RedisDeletionControl {
public:
    // Connects; throws std::runtime_error at start-up like RedisConnection.
    RedisDeletionControl(RedisOptions options, KeyScheme keys);

    Result<DeletionStatus> status(const std::string& app, const DeletionThresholdConfig& threshold,
                                  std::int64_t now_ms);

    // Gives the app's staged heads (only `object`'s when set) the mark, DeletionMark::Allowed or
    // Discarded, and makes them due at now_ms, so that a worker claims them like any retry: an
    // allowed one is sent once without asking the threshold, a discarded one is recorded skipped
    // (deletion_discarded) by the worker's processor. Each head moves in one script that first
    // checks it is still the entry read (else it is left alone). Returns those released, oldest
    // first; heads staged after the staged set was read are not among them.
    Result<std::vector<StagedOperation>> release(const std::string& app, const std::optional<QueueMember>& object,
                                                 DeletionMark mark, std::int64_t now_ms);

    // The app's scheduled hard deletes (only `user`'s when set): Allowed makes them due now (they
    // still go through the deletion threshold), Discarded makes them due now marked so that the
    // worker records them skipped (deletion_discarded) and sends nothing: the accounts stay
    // disabled. Returns those released, as they were scheduled.
    Result<std::vector<ScheduledHardDelete>> release_scheduled(const std::string& app, const std::optional<std::string>& user,
                                                               DeletionMark mark, std::int64_t now_ms);

private:
    struct Head {
        std::string member;
        std::string entry;  // the stored queue entry, as read
        ParkedEvent event;
        StagedOperation operation;
    };
    // The staged heads (only `object`'s when set), oldest first; problems go to `unreadable`,
    // and the members of staged queues that are empty (nothing to run) also to `orphans`.
    Result<std::vector<Head>> staged_heads(const std::string& app, const std::optional<QueueMember>& object,
                                           std::vector<std::string>& unreadable, std::vector<std::string>& orphans);
    Result<std::vector<ScheduledHardDelete>> scheduled_hard_deletes(const std::string& app,
                                                                    const std::optional<std::string>& user);
    // The release script for one member: 1 released, 0 not staged (any more), 2 changed since read.
    Result<std::int64_t> run_release(const std::string& app, const std::string& member, const std::string& digest,
                                     const std::string& entry, std::int64_t now_ms);

    RedisConnection connection_;
    KeyScheme keys_;
    std::string release_sha_;
};

}  // namespace provbridge::consumers
