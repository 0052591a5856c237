#include "provbridge/consumers/parked_source.hpp"

#include <unistd.h>

#include <random>

namespace provbridge::consumers {

StoreParkedSource::StoreParkedSource(std::unique_ptr<StateStore> store, std::vector<std::string> apps,
                                     std::chrono::milliseconds lease, const Clock& clock, std::string owner)
    : owned_(std::move(store)),
      store_(*owned_),
      apps_(std::move(apps)),
      lease_(lease),
      clock_(clock),
      owner_(std::move(owner)) {}

StoreParkedSource::StoreParkedSource(StateStore& store, std::vector<std::string> apps, std::chrono::milliseconds lease,
                                     const Clock& clock, std::string owner)
    : store_(store), apps_(std::move(apps)), lease_(lease), clock_(clock), owner_(std::move(owner)) {}

Result<std::vector<ClaimedHead>> StoreParkedSource::claim(std::size_t max, const AppRoom& room) {
    std::vector<ClaimedHead> claimed;
    if (apps_.empty() || max == 0) return claimed;
    const auto now = clock_.wall_ms();
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
