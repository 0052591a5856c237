#pragma once
// The set-up the processor's unit tests share: one app, its runtimes, and retry options with a
// backoff the tests can follow on the fake clock.
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "provbridge/consumers/event_processor.hpp"
#include "provbridge/core/clock.hpp"
#include "provbridge/core/random.hpp"
#include "provbridge/core/state_store.hpp"

namespace provbridge::test_support {

// An app with a SCIM root that is never dialled (the tests' clients are fakes).
inline AppConfig test_app(std::string id, std::string profile = "generic") {
    AppConfig app;
    app.id = std::move(id);
    app.profile = std::move(profile);
    app.scim.base_url = "https://scim.example/scim/v2";
    return app;
}

inline std::vector<consumers::AppRuntime> runtimes_of(const AppConfig& app) {
    Config config;
    config.source = "test.json";
    config.apps.push_back(app);
    return consumers::build_app_runtimes(config);
}

// Backoff from a 1 s base with full jitter drawn by `random` (a FakeRandom in the tests).
inline consumers::ProcessorOptions retry_options(Random& random, std::chrono::milliseconds max_delay,
                                                 int max_attempts = RetryConfig{}.max_attempts,
                                                 std::chrono::milliseconds max_age = RetryConfig{}.max_age) {
    consumers::ProcessorOptions options;
    options.retry.base_delay = std::chrono::milliseconds(1000);
    options.retry.max_delay = max_delay;
    options.retry.max_attempts = max_attempts;
    options.retry.max_age = max_age;
    options.random = &random;
    return options;
}

// What the worker's retry loop does: claims every due head of the app and runs it, round after
// round until none is due (at most 10 rounds); each head with its result, in the order run.
inline std::vector<std::pair<ClaimedHead, consumers::ProcessResult>> run_due_heads(consumers::EventProcessor& processor,
                                                                                  StateStore& store, const Clock& clock,
                                                                                  const std::string& app) {
    std::vector<std::pair<ClaimedHead, consumers::ProcessResult>> out;
    for (int round = 0; round < 10; ++round) {
        auto heads = store.claim_due(app, clock.wall_ms(), std::chrono::hours(1), 100, "w1");
        if (!heads.ok() || heads->empty()) break;
        for (auto& head : *heads) {
            auto result = processor.process_parked(head);
            out.emplace_back(std::move(head), std::move(result));
        }
    }
    return out;
}

}  // namespace provbridge::test_support
