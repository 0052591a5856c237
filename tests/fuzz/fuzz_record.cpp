// libFuzzer entry point: one input is a few Kafka records plus the SCIM answers they get
// (format: tests/fuzz/README.md), run through the worker's per-record path with fakes.
// Any sanitizer report, escaped exception or broken invariant is a finding.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "record_harness.hpp"

namespace {

// PROVBRIDGE_FUZZ_VERBOSE=1 prints what each record did, then each queue head the drain ran,
// to read a finding or check a seed.
void print_step(const char* what, const provbridge::consumers::ProcessResult& result,
                const std::vector<provbridge::ScimRequest>& requests) {
    using Status = provbridge::consumers::ProcessResult::Status;
    if (result.status == Status::Parked) {
        std::fprintf(stderr, "%s: parked (%s) after %zu requests\n", what,
                     result.due_ms == 0 ? "behind an earlier event" : "for a retry", requests.size());
    } else if (!result.record) {
        std::fprintf(stderr, "%s: no outcome (%s)\n", what, result.fatal_reason.c_str());
    } else {
        const auto& out = *result.record;
        std::fprintf(stderr, "%s: %s%s %s %s [%s] attempt %d, %zu requests: %.300s\n", what,
                     result.status == Status::Duplicate ? "duplicate of " : "", out.app.c_str(),
                     std::string(to_string(out.status)).c_str(), std::string(to_string(out.action)).c_str(),
                     out.code.c_str(), out.attempts, requests.size(), out.reason.c_str());
    }
    for (const auto& r : requests) {
        std::fprintf(stderr, "    %s %.200s%s%.200s\n", std::string(to_string(r.method)).c_str(), r.path.c_str(),
                     r.query.empty() ? "" : "?filter=", r.query.empty() ? "" : r.query.front().second.c_str());
    }
}

void print_run(const provbridge::fuzz::FuzzRun& run) {
    for (std::size_t i = 0; i < run.records.size(); ++i) {
        const std::string what = "record " + std::to_string(i);
        print_step(what.c_str(), run.records[i].result, run.records[i].requests);
    }
    for (const auto& head : run.heads) {
        const std::string what = "record " + std::to_string(head.record) + ", attempt " + std::to_string(head.attempt);
        print_step(what.c_str(), head.result, head.requests);
    }
    std::fprintf(stderr, "drained in %zu rounds\n", run.drain_rounds);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // Built once: profiles are parsed at start-up in the worker too, not per record.
    static const provbridge::fuzz::RecordHarness harness;
    static const bool verbose = std::getenv("PROVBRIDGE_FUZZ_VERBOSE") != nullptr;
    const auto run = harness.run(std::string_view(reinterpret_cast<const char*>(data), size));
    if (verbose) print_run(run);
    if (!run.violations.empty()) {
        for (const auto& v : run.violations) std::fprintf(stderr, "invariant broken: %s\n", v.c_str());
        std::abort();
    }
    return 0;
}
