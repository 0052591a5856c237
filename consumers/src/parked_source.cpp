#include "provbridge/consumers/parked_source.hpp"

#include <stdexcept>

#include "provbridge/consumers/follow_up.hpp"

#include <unistd.h>

#include <random>

namespace provbridge::consumers {

namespace {

// A claim whose lease ends when it is made is due again at once: the same claim (or the next
// poll) would take the head a second time and run it twice.
void check_lease(std::chrono::milliseconds lease) {
    if (lease.count() <= 0) throw std::invalid_argument("a parked event's lease must be positive");
}

}  // namespace

StoreParkedSource::StoreParkedSource(std::unique_ptr<StateStore> store, std::vector<std::string> apps,
                                     std::chrono::milliseconds lease, const Clock& clock, std::string owner)
    : owned_(std::move(store)),
      store_(*owned_),
      apps_(std::move(apps)),
      lease_(lease),
      clock_(clock),
      owner_(std::move(owner)) {
    check_lease(lease_);
}

StoreParkedSource::StoreParkedSource(StateStore& store, std::vector<std::string> apps, std::chrono::milliseconds lease,
                                     const Clock& clock, std::string owner)
    : store_(store), apps_(std::move(apps)), lease_(lease), clock_(clock), owner_(std::move(owner)) {
    check_lease(lease_);
}

Result<bool> StoreParkedSource::park_due_follow_ups(std::int64_t now_ms) {
    if (now_ms < next_sweep_ms_) return true;
    next_sweep_ms_ = now_ms + sweep_every_.count();
    constexpr std::size_t kBatch = 100;
    for (const auto& app : apps_) {
        // Hard deletes whose grace period ended, the same way: parked first, then dropped.
        auto hard = store_.due_hard_deletes(app, now_ms, kBatch);
        if (!hard) return hard.error();
        for (const auto& scheduled : *hard) {
            auto parked = store_.park(hard_delete_event(app, scheduled, now_ms), ParkMode::Anywhere, now_ms);
            if (!parked) return parked.error();
            if (auto dropped = store_.drop_hard_delete(app, scheduled); !dropped) return dropped.error();
        }
        if (hard->size() == kBatch) next_sweep_ms_ = now_ms;
        if (deadlines_ == nullptr) continue;
        auto due = deadlines_->due_reference_deadlines(app, now_ms, kBatch);
        if (!due) return due.error();
        // Parked before dropped: a crash in between parks the same check again (same id), which
        // finds it parked or its outcome recorded.
        for (const auto& deadline : *due) {
            auto parked = store_.park(reference_check_event(app, deadline, now_ms), ParkMode::Anywhere, now_ms);
            if (!parked) return parked.error();
            if (auto dropped = deadlines_->drop_reference_deadline(app, deadline); !dropped) return dropped.error();
        }
        if (due->size() == kBatch) next_sweep_ms_ = now_ms;  // more may be due
    }
    return true;
}

Result<std::vector<ClaimedHead>> StoreParkedSource::claim(std::size_t max, const AppRoom& room) {
    std::vector<ClaimedHead> claimed;
    if (apps_.empty()) return claimed;
    const auto now = clock_.wall_ms();
    // A sweep that failed must not hold up the retries: they are claimed all the same, and the
    // error is reported when nothing else was (the sweep runs again within a second).
    auto swept = park_due_follow_ups(now);
    if (max == 0) {
        if (!swept) return swept.error();
        return claimed;
    }
    const std::size_t first = next_app_;
    next_app_ = (next_app_ + 1) % apps_.size();
    // An even share per app first, then whatever room is left, so no app claims them all.
    const std::size_t share = std::max<std::size_t>(1, max / apps_.size());
    for (int round = 0; round < 2 && claimed.size() < max; ++round) {
        for (std::size_t i = 0; i < apps_.size() && claimed.size() < max; ++i) {
            const auto& app = apps_[(first + i) % apps_.size()];
            if (held_ && held_(app)) continue;
            std::size_t want = round == 0 ? std::min(share, max - claimed.size()) : max - claimed.size();
            if (room) {
                std::size_t taken = 0;
                for (const auto& head : claimed) taken += head.event.app == app ? 1 : 0;
                const std::size_t free = room(app);
                want = std::min(want, free > taken ? free - taken : 0);
            }
            if (want == 0) continue;
            auto heads = store_.claim_due(app, now, lease_, want, owner_);
            if (!heads) {
                if (!claimed.empty()) return claimed;  // run what was claimed; the error recurs next time
                return heads.error();
            }
            for (auto& head : *heads) claimed.push_back(std::move(head));
        }
    }
    if (!swept && claimed.empty()) return swept.error();
    return claimed;
}

std::string worker_owner_id() {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    std::random_device rd;
    const auto suffix = std::to_string(rd() % 100000);
    return std::string(host[0] != '\0' ? host : "worker") + ":" + std::to_string(getpid()) + ":" + suffix;
}

}  // namespace provbridge::consumers
