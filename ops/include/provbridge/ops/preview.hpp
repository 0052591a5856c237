#pragma once

#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "provbridge/consumers/dry_run.hpp"
#include "provbridge/consumers/event_processor.hpp"
#include "provbridge/core/scim.hpp"
#include "provbridge/core/state_store.hpp"

namespace provbridge::ops {

// What `provbridge preview` found: Entra's on-demand provisioning steps, computed by the
// worker's own EventProcessor against a SCIM client that sends no writes and a store that
// records nothing.
struct PreviewResult {
    using Exchange = consumers::DryRunExchange;
    std::optional<Event> event;
    std::string parse_error;
    std::string app;
    std::string profile;
    transforms::UserDecision decision;       // the pure decision (scope, entitlement, match)
    std::vector<Exchange> exchanges;         // in order: reads that were sent, writes that were not
    std::optional<OutcomeRecord> outcome;    // what would be recorded
    std::optional<OutcomeRecord> already;    // the event id already has this outcome
    std::optional<AttemptFailure> waits;     // no outcome yet: it would be parked for a retry, why
    bool live = false;
};

// Runs the preview. `reads` answers GET requests (the real target when live); null means
// offline: every filter query finds nothing. `state` gives the stored link and outcome when
// live; null means offline: nothing stored.
// `options` as the worker runs with them: the same limits, and the redaction of what the
// target answers.
PreviewResult preview_event(const consumers::AppRuntime& app, const std::vector<consumers::AppRuntime>& apps,
                            const InboundRecord& record, ScimClient* reads, StateStore* state,
                            const consumers::ProcessorOptions& options = {});

// Prints the steps and the exact requests (method, URL under base_url, body).
void print_preview(const PreviewResult& result, const std::string& base_url, std::ostream& out);

}  // namespace provbridge::ops
