#pragma once

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
    void begin(const TopicPartition& tp, std::int64_t offset);
    void complete(const TopicPartition& tp, std::int64_t offset);

    // Next offsets to store (the next offset to consume) for partitions that advanced since the
    // last call.
    std::vector<std::pair<TopicPartition, std::int64_t>> take_committable();

    std::size_t in_flight() const;
    std::size_t in_flight(const std::vector<TopicPartition>& partitions) const;

    // Blocks until fewer than `limit` offsets are in flight (in the given partitions, or in all
    // when empty), or until the deadline; returns whether the condition holds.
    bool wait_below(std::size_t limit, const std::vector<TopicPartition>& partitions,
                    std::chrono::steady_clock::time_point deadline) const;

    // Wakes waiters early (shutdown).
    void notify() const;

    // Drops state of partitions that were revoked.
    void forget(const std::vector<TopicPartition>& partitions);

private:
    struct Partition {
        std::set<std::int64_t> pending;
        std::int64_t highest_begun = -1;
        std::int64_t last_taken = -1;
    };
    std::size_t count_locked(const std::vector<TopicPartition>& partitions) const;

    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    std::map<TopicPartition, Partition> partitions_;
    std::size_t total_ = 0;
};

}  // namespace provbridge::consumers
