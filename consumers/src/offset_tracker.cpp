#include "provbridge/consumers/offset_tracker.hpp"

#include <algorithm>

namespace provbridge::consumers {

OffsetTracker::Epoch OffsetTracker::begin(const TopicPartition& tp, std::int64_t offset) {
    std::lock_guard lock(mutex_);
    auto [it, created] = partitions_.try_emplace(tp);
    auto& p = it->second;
    if (created) p.epoch = next_epoch_++;
    if (p.pending.insert(offset).second) ++total_;
    p.highest_begun = std::max(p.highest_begun, offset);
    return p.epoch;
}

bool OffsetTracker::complete(const TopicPartition& tp, std::int64_t offset, Epoch epoch) {
    {
        std::lock_guard lock(mutex_);
        const auto it = partitions_.find(tp);
        if (it == partitions_.end() || it->second.epoch != epoch) return false;
        if (it->second.pending.erase(offset) == 0) return false;
        --total_;
    }
    changed_.notify_all();
    return true;
}

bool OffsetTracker::complete(const TopicPartition& tp, std::int64_t offset) {
    Epoch epoch = 0;
    {
        std::lock_guard lock(mutex_);
        const auto it = partitions_.find(tp);
        if (it == partitions_.end()) return false;
        epoch = it->second.epoch;
    }
    return complete(tp, offset, epoch);
}

std::vector<std::pair<TopicPartition, std::int64_t>> OffsetTracker::take_committable() {
    std::vector<std::pair<TopicPartition, std::int64_t>> out;
    std::lock_guard lock(mutex_);
    for (auto& [tp, p] : partitions_) {
        if (p.highest_begun < 0) continue;
        const std::int64_t next = p.pending.empty() ? p.highest_begun + 1 : *p.pending.begin();
        if (next > p.last_taken) {
            p.last_taken = next;
            out.emplace_back(tp, next);
        }
    }
    return out;
}

std::size_t OffsetTracker::in_flight() const {
    std::lock_guard lock(mutex_);
    return total_;
}

std::size_t OffsetTracker::count_locked(const std::vector<TopicPartition>& partitions) const {
    if (partitions.empty()) return total_;
    std::size_t n = 0;
    for (const auto& tp : partitions) {
        const auto it = partitions_.find(tp);
        if (it != partitions_.end()) n += it->second.pending.size();
    }
    return n;
}

std::size_t OffsetTracker::in_flight(const std::vector<TopicPartition>& partitions) const {
    std::lock_guard lock(mutex_);
    return count_locked(partitions);
}

bool OffsetTracker::wait_below(std::size_t limit, const std::vector<TopicPartition>& partitions,
                               std::chrono::steady_clock::time_point deadline,
                               const std::atomic<bool>* give_up) const {
    std::unique_lock lock(mutex_);
    changed_.wait_until(lock, deadline, [&] {
        return count_locked(partitions) < limit || (give_up != nullptr && give_up->load());
    });
    return count_locked(partitions) < limit;
}

void OffsetTracker::notify() const {
    // Taking the lock orders the caller's flag write before a waiter's next predicate check;
    // without it a waiter that just read the flag as unset could miss this wake-up.
    { std::lock_guard lock(mutex_); }
    changed_.notify_all();
}

void OffsetTracker::forget(const std::vector<TopicPartition>& partitions) {
    std::lock_guard lock(mutex_);
    for (const auto& tp : partitions) {
        const auto it = partitions_.find(tp);
        if (it == partitions_.end()) continue;
        total_ -= it->second.pending.size();
        partitions_.erase(it);
    }
}

}  // namespace provbridge::consumers
