#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "provbridge/core/quarantine.hpp"

namespace provbridge::test_support {

// QuarantineStore in memory, with the Redis one's rules; the window is every operation recorded
// within `window` of now (exact, where Redis counts in buckets).
class FakeQuarantineStore final : public QuarantineStore {
public:
    Result<QuarantineState> load(const std::string& app) override {
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        const auto it = states.find(app);
        return it == states.end() ? QuarantineState{} : it->second;
    }
    Result<QuarantineState> enter(const std::string& app, const std::string& code, const std::string& reason,
                                  std::int64_t now_ms, std::int64_t next_probe_ms) override {
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        auto& state = states[app];
        if (!state.quarantined) state = QuarantineState{true, code, reason, now_ms, next_probe_ms, 0, ""};
        return state;
    }
    Result<bool> claim_probe(const std::string& app, std::int64_t now_ms, std::chrono::milliseconds lease) override {
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        const auto it = states.find(app);
        if (it == states.end() || it->second.next_probe_ms > now_ms) return false;
        if (probe_locked_until[app] > now_ms) return false;
        probe_locked_until[app] = now_ms + lease.count();
        return true;
    }
    Result<bool> probe_failed(const std::string& app, const std::string& what, std::int64_t next_probe_ms) override {
        std::lock_guard lock(mutex_);
        probe_locked_until.erase(app);
        const auto it = states.find(app);
        if (it == states.end()) return false;
        ++it->second.failed_probes;
        it->second.last_probe = what;
        it->second.next_probe_ms = next_probe_ms;
        return true;
    }
    Result<bool> lift(const std::string& app) override {
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        probe_locked_until.erase(app);
        return states.erase(app) > 0;
    }
    Result<OperationWindow> record_operation(const std::string& app, bool failed, std::int64_t now_ms,
                                             std::chrono::milliseconds window) override {
        std::lock_guard lock(mutex_);
        if (down) return make_error("connection refused");
        auto& ops = operations[app];
        ops.push_back({now_ms, failed});
        OperationWindow totals;
        for (const auto& op : ops) {
            if (op.at_ms <= now_ms - window.count()) continue;
            (op.failed ? totals.failed : totals.succeeded) += 1;
        }
        return totals;
    }

    struct Operation {
        std::int64_t at_ms;
        bool failed;
    };
    bool down = false;
    std::map<std::string, QuarantineState> states;
    std::map<std::string, std::int64_t> probe_locked_until;
    std::map<std::string, std::vector<Operation>> operations;

private:
    std::mutex mutex_;
};

}  // namespace provbridge::test_support
