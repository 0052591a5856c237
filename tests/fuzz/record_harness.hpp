#pragma once

// The per-record path without I/O, as the fuzz target and its regression tests drive it:
// a fuzz input is decoded into Kafka records plus a script of SCIM answers, and each record
// goes through consumers::EventProcessor with in-memory fakes behind every interface.
// The input format is described in tests/fuzz/README.md.

#include <cstddef>
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

// What one record did.
struct RecordRun {
    consumers::ProcessResult result;
    std::vector<ScimRequest> requests;  // in the order the processor sent them
    std::size_t dead_letters = 0;       // records published to the dead-letter sink
};

struct FuzzRun {
    std::vector<RecordRun> records;
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
    // record to the next within the input, never across inputs). The processor never throws;
    // an exception it caught shows as an InternalError outcome, which is a finding.
    FuzzRun run(std::string_view bytes) const;

    const std::vector<consumers::AppRuntime>& apps() const { return apps_; }

private:
    std::vector<consumers::AppRuntime> apps_;
};

}  // namespace provbridge::fuzz
