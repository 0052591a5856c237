#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "provbridge/consumers/worker.hpp"
#include "provbridge/core/clock.hpp"
#include "provbridge/core/membership.hpp"
#include "provbridge/core/state_store.hpp"

namespace provbridge::consumers {

// Claims due retries from the state store for one worker, app by app. The apps take turns at
// the front, so a backlog of one app cannot keep another's due retries waiting.
class StoreParkedSource final : public ParkedWorkSource {
public:
    StoreParkedSource(std::unique_ptr<StateStore> store, std::vector<std::string> apps, std::chrono::milliseconds lease,
                      const Clock& clock, std::string owner);
    // Takes a store it does not own (tests).
    StoreParkedSource(StateStore& store, std::vector<std::string> apps, std::chrono::milliseconds lease,
                      const Clock& clock, std::string owner);

    Result<std::vector<ClaimedHead>> claim(std::size_t max, const AppRoom& room) override;
    // Apps whose heads are not claimed now (quarantined ones): their events keep waiting.
    void set_hold(std::function<bool(const std::string&)> held) { held_ = std::move(held); }
    // Where reference deadlines are kept: before claiming, each deadline that passed becomes a
    // reference check parked in its object's queue (due at once, in order behind what waits
    // there), looked for at most once per `every`.
    void set_reference_deadlines(MembershipStore& deadlines, std::chrono::milliseconds every = std::chrono::seconds(1)) {
        deadlines_ = &deadlines;
        sweep_every_ = every;
    }

private:
    std::unique_ptr<StateStore> owned_;
    StateStore& store_;
    std::vector<std::string> apps_;
    std::chrono::milliseconds lease_;
    const Clock& clock_;
    std::string owner_;
    std::size_t next_app_ = 0;
    std::function<bool(const std::string&)> held_;
    MembershipStore* deadlines_ = nullptr;
    std::chrono::milliseconds sweep_every_{1000};
    std::int64_t next_sweep_ms_ = 0;

    // Parks the follow-ups whose time came: the hard deletes of the store (always), the reference
    // checks of `deadlines_` (when set); at most once per sweep_every_.
    Result<bool> park_due_follow_ups(std::int64_t now_ms);
};

// A worker's name in leases: host, process id and a random suffix, so a restarted process on the
// same host is a different owner.
std::string worker_owner_id();

}  // namespace provbridge::consumers
