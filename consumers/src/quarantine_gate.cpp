#include "provbridge/consumers/quarantine_gate.hpp"

#include "provbridge/transforms/failure_policy.hpp"
#include "provbridge/transforms/quarantine_policy.hpp"

namespace provbridge::consumers {

QuarantineGate::QuarantineGate(QuarantineStore& store, QuarantineConfig policy, const Clock& clock,
                               std::shared_ptr<spdlog::logger> log, const Redactor* redactor)
    : store_(store), policy_(std::move(policy)), clock_(clock), log_(std::move(log)), redactor_(redactor) {}

std::string QuarantineGate::redact(std::string text) const {
    return redactor_ == nullptr ? text : redactor_->redact(std::move(text));
}

bool QuarantineGate::held(const std::string& app) const {
    std::lock_guard lock(mutex_);
    return held_.count(app) > 0;
}

std::optional<QuarantineState> QuarantineGate::state(const std::string& app) const {
    std::lock_guard lock(mutex_);
    const auto it = held_.find(app);
    return it == held_.end() ? std::nullopt : std::optional<QuarantineState>(it->second);
}

Result<QuarantineState> QuarantineGate::enter(const std::string& app, const std::string& code,
                                              const std::string& reason) {
    const auto now = clock_.wall_ms();
    std::lock_guard lock(mutex_);
    auto state = store_.enter(app, code, redact(reason), now, now + transforms::probe_delay_ms(policy_, 0));
    if (!state) return state.error();
    const bool fresh = held_.count(app) == 0;
    held_[app] = *state;
    if (fresh && log_) {
        log_->warn("app {} is quarantined ({}): {}; its events wait, the next probe is in {} s", app, state->code,
                   state->reason, (state->next_probe_ms - now + 999) / 1000);
    }
    return state;
}

int QuarantineGate::tick(const std::vector<std::string>& apps, const Prober& probe) {
    int lifted = 0;
    for (const auto& app : apps) {
        const auto now = clock_.wall_ms();
        std::optional<QuarantineState> due;
        {
            std::lock_guard lock(mutex_);
            auto state = store_.load(app);
            if (!state) {
                // The last known state stands until the store answers again.
                if (log_) log_->warn("cannot read the quarantine of app {}: {}", app, state.error().message);
                continue;
            }
            if (!state->quarantined) {
                if (held_.erase(app) > 0 && log_) log_->info("app {}: quarantine lifted", app);
                continue;
            }
            held_[app] = *state;
            if (state->next_probe_ms > now) continue;
            // The lock outlasts the probe's own timeouts; a worker that dies mid-probe frees it then.
            auto mine = store_.claim_probe(app, now, std::chrono::minutes(2));
            if (!mine || !*mine) continue;
            due = *state;
        }
        // The probe runs outside the lock: lanes must not wait on a slow app to check held().
        const auto response = probe(app);
        const bool ok = response.transport == TransportStatus::Ok && response.status >= 200 && response.status < 300;
        std::lock_guard lock(mutex_);
        if (ok) {
            auto done = store_.lift(app);
            if (!done) {
                if (log_) log_->warn("app {}: the probe succeeded but the quarantine could not be lifted: {}", app,
                                     done.error().message);
                continue;
            }
            held_.erase(app);
            ++lifted;
            if (log_) {
                log_->info("app {}: the probe succeeded after {} failed probe(s); quarantine lifted, its waiting "
                           "events run again",
                           app, due->failed_probes);
            }
            continue;
        }
        const auto verdict = transforms::failure_policy(response, transforms::ScimOperation::Probe, now);
        const std::string what = redact(verdict.code + ": " + verdict.detail);
        const auto next = clock_.wall_ms() + transforms::probe_delay_ms(policy_, due->failed_probes + 1);
        (void)store_.probe_failed(app, what, next);
        if (log_) {
            log_->warn("app {}: probe failed ({}); still quarantined, next probe in {} s", app, what,
                       (next - clock_.wall_ms() + 999) / 1000);
        }
    }
    return lifted;
}

}  // namespace provbridge::consumers
