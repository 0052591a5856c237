// libFuzzer entry point: one input is a few Kafka records plus the SCIM answers they get
// (format: tests/fuzz/README.md), run through the worker's per-record path with fakes.
// Any sanitizer report, escaped exception or broken invariant is a finding.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "record_harness.hpp"

namespace {

// PROVBRIDGE_FUZZ_VERBOSE=1 prints what each record did, to read a finding or check a seed.
void print_run(const provbridge::fuzz::FuzzRun& run) {
    for (std::size_t i = 0; i < run.records.size(); ++i) {
        const auto& step = run.records[i];
        if (!step.result.record) {
            std::fprintf(stderr, "record %zu: no outcome (%s)\n", i, step.result.fatal_reason.c_str());
            continue;
        }
        const auto& out = *step.result.record;
        std::fprintf(stderr, "record %zu: %s %s %s [%s] %zu requests: %.300s\n", i, out.app.c_str(),
                     std::string(to_string(out.status)).c_str(), std::string(to_string(out.action)).c_str(),
                     out.code.c_str(), step.requests.size(), out.reason.c_str());
        for (const auto& r : step.requests) {
            std::fprintf(stderr, "    %s %.200s%s%.200s\n", std::string(to_string(r.method)).c_str(), r.path.c_str(),
                         r.query.empty() ? "" : "?filter=", r.query.empty() ? "" : r.query.front().second.c_str());
        }
    }
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
