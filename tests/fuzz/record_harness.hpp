#pragma once

// The per-record path without I/O, as the fuzz target and its regression tests drive it:
// a fuzz input is decoded into Kafka records plus a script of SCIM answers, and each record
// goes through consumers::EventProcessor with in-memory fakes behind every interface.
// The input format is described in tests/fuzz/README.md.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "provbridge/consumers/event_processor.hpp"
#include "provbridge/core/event.hpp"
#include "provbridge/core/scim.hpp"

namespace provbridge::fuzz {

// One record of a fuzz input and the answers its SCIM requests get, one script letter each.
struct FuzzRecord {
    InboundRecord record;
    std::string scim_script;
};

// More records than this in one input are ignored: a case stays a few events long, so one
// execution stays fast and a finding stays small.
inline constexpr std::size_t kMaxRecordsPerInput = 8;

std::vector<FuzzRecord> decode_input(std::string_view bytes);

// The retry policy of every run: small and deterministic (jitter always the longest, so a
// retry is due 1 s, then 2 s after a failure, or after the target's Retry-After when longer),
// so that a run is reproducible and a drain takes few rounds.
inline constexpr int kRetryMaxAttempts = 3;
inline constexpr std::chrono::milliseconds kRetryBaseDelay{1000};
inline constexpr std::chrono::milliseconds kRetryMaxDelay{4000};
// The lease on a claimed head: far longer than any clock advance of one drain round (the clock
// only moves between rounds), so a lease can never run out here.
inline constexpr std::chrono::milliseconds kDrainLease{3'600'000};

// What one record did.
struct RecordRun {
    consumers::ProcessResult result;    // what process() returned for the record
    std::vector<ScimRequest> requests;  // in the order the processor sent them
    std::size_t dead_letters = 0;       // records published to the dead-letter sink
    // The outcome the record's event (or invalid record) ended with once the queues were
    // drained: stored at once, or when its parked event ran as a queue head, or (a duplicate)
    // the one an earlier record's event got. nullopt only along with a violation.
    std::optional<OutcomeRecord> outcome;
    std::size_t head_runs = 0;  // how often the event this record parked ran as a queue head
};

// One run of a claimed queue head while the queues are drained.
struct HeadRun {
    std::size_t record = 0;  // the input record that parked the event
    int attempt = 0;         // the attempt this run was (the head's attempts + 1)
    consumers::ProcessResult result;
    std::vector<ScimRequest> requests;
    std::size_t dead_letters = 0;
};

struct FuzzRun {
    std::vector<RecordRun> records;
    std::vector<HeadRun> heads;    // in the order they ran
    std::size_t drain_rounds = 0;  // claim rounds the drain took
    // Broken invariants (what must hold for any input); the fuzz target aborts on any.
    std::vector<std::string> violations;
};

// The apps every input runs against (generic, leapsome, genesys and elium profiles, with
// expressions, a reference and scoping filters), built once because profiles are parsed at
// start-up, not per event.
class RecordHarness {
public:
    RecordHarness();

    // Processes the input's records in order against fresh fakes (state carries from one
    // record to the next within the input, never across inputs), then drains the retry
    // queues: the clock jumps to the next due head, due heads are claimed and run, until no
    // event is left parked. The processor never throws; an exception it caught shows as an
    // InternalError outcome, which is a finding. The invariants are in tests/fuzz/README.md.
    FuzzRun run(std::string_view bytes) const;

    const std::vector<consumers::AppRuntime>& apps() const { return apps_; }

private:
    std::vector<consumers::AppRuntime> apps_;
};

}  // namespace provbridge::fuzz
