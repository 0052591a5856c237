#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "provbridge/core/clock.hpp"
#include "provbridge/core/config.hpp"
#include "provbridge/core/quarantine.hpp"
#include "provbridge/core/redact.hpp"
#include "provbridge/core/scim.hpp"

namespace provbridge::consumers {

// One worker's view of its apps' quarantines, shared by its lanes (which ask held() before
// sending and enter() on refused credentials or too many failures) and by the probe loop
// (tick()). The state itself is in the QuarantineStore, so every worker holds and lifts together:
// tick() re-reads it, and a quarantine entered by another worker holds here from the next tick.
class QuarantineGate {
public:
    // Sends the app's probe (the test-connection request) and returns what it got.
    using Prober = std::function<ScimResponse(const std::string& app)>;

    QuarantineGate(QuarantineStore& store, QuarantineConfig policy, const Clock& clock,
                   std::shared_ptr<spdlog::logger> log, const Redactor* redactor = nullptr);

    // Whether the app is quarantined as this worker last saw it.
    bool held(const std::string& app) const;
    std::optional<QuarantineState> state(const std::string& app) const;

    // Quarantines the app (the first reason stands); held() answers true at once here.
    Result<QuarantineState> enter(const std::string& app, const std::string& code, const std::string& reason);

    // Re-reads the apps' states, then runs each due probe this worker claims: a 2xx lifts the
    // quarantine (the parked events become runnable), anything else schedules the next probe
    // at the next, longer interval. Returns how many quarantines were lifted.
    int tick(const std::vector<std::string>& apps, const Prober& probe);

    const QuarantineConfig& policy() const { return policy_; }

private:
    std::string redact(std::string text) const;

    QuarantineStore& store_;  // guarded by mutex_: lanes and the probe loop share it
    QuarantineConfig policy_;
    const Clock& clock_;
    std::shared_ptr<spdlog::logger> log_;
    const Redactor* redactor_;
    mutable std::mutex mutex_;
    std::map<std::string, QuarantineState> held_;
};

}  // namespace provbridge::consumers
