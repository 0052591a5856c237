#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

#include "provbridge/core/event.hpp"

namespace provbridge::consumers {

// Tracks which consumed offsets are still in flight, per partition, so the offset committed is
// always the lowest one whose outcome is not yet recorded (at-least-once with out-of-order
// completion across lanes). Thread-safe: the consumer thread begins, lanes complete.
class OffsetTracker {
public:
    // Names one assignment of a partition: a partition forgotten on a revoke and assigned
    // again gets a new epoch, so a late completion from the old assignment cannot clear an
    // offset of the new one.
    using Epoch = std::uint64_t;

    Epoch begin(const TopicPartition& tp, std::int64_t offset);
    // Returns false (and changes nothing) when the partition was forgotten since `begin`, or
    // when the offset is not in flight: a record that finished after its partition was
    // revoked is no longer this worker's to commit.
    bool complete(const TopicPartition& tp, std::int64_t offset, Epoch epoch);
    // The same without an epoch check: whatever assignment currently tracks the partition.
    bool complete(const TopicPartition& tp, std::int64_t offset);

    // Next offsets to store (the next offset to consume) for partitions that advanced since the
    // last call.
    std::vector<std::pair<TopicPartition, std::int64_t>> take_committable();

    std::size_t in_flight() const;
    std::size_t in_flight(const std::vector<TopicPartition>& partitions) const;

    // Blocks until fewer than `limit` offsets are in flight (in the given partitions, or in all
    // when empty), until the deadline, or until `give_up` is set (set it, then call notify());
    // returns whether the condition holds.
    bool wait_below(std::size_t limit, const std::vector<TopicPartition>& partitions,
                    std::chrono::steady_clock::time_point deadline,
                    const std::atomic<bool>* give_up = nullptr) const;

    // Wakes waiters so they look at their `give_up` flag again (fatal error, shutdown).
    void notify() const;

    // Drops state of partitions that were revoked.
    void forget(const std::vector<TopicPartition>& partitions);

private:
    struct Partition {
        std::set<std::int64_t> pending;
        std::int64_t highest_begun = -1;
        std::int64_t last_taken = -1;
        Epoch epoch = 0;
    };
    std::size_t count_locked(const std::vector<TopicPartition>& partitions) const;

    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    std::map<TopicPartition, Partition> partitions_;
    std::size_t total_ = 0;
    Epoch next_epoch_ = 1;
};

}  // namespace provbridge::consumers
