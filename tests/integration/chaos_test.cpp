// Chaos end to end: 5,000 user events (assign, update, unassign, delete, redelivered and stale
// events mixed) while the SCIM target throttles, fails, drops connections and answers slowly;
// two worker processes in one consumer group, one of them killed with SIGKILL three times and
// restarted. Nothing may be lost or applied twice: the target ends exactly as expected and
// every event has exactly one outcome.
#include <csignal>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bridge_harness.hpp"
#include "provbridge/consumers/redis.hpp"
#include "redis_fixture.hpp"

namespace provbridge {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using test_support::BridgeHarness;

constexpr const char* kApp = "chaos";

// Reads the app's provisioning log as it grows (blocking reads, no sleeping) until it holds n
// entries or the deadline passes; returns how many it holds.
std::int64_t wait_log_length(BridgeHarness& bridge, std::int64_t n, std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string last = "0-0";
    std::int64_t seen = 0;
    while (seen < n && std::chrono::steady_clock::now() < deadline) {
        auto entries = bridge.reader().log_since(kApp, last, 1000, 2s);
        if (!entries.ok()) {
            ADD_FAILURE() << entries.error().message;
            return seen;
        }
        if (!entries->empty()) last = entries->back().id;
        seen += static_cast<std::int64_t>(entries->size());
    }
    return seen;
}

// Copies of earlier events under new ids: each is older than what its user ends with, so it
// must be skipped as stale and change nothing.
std::vector<std::string> stale_copies(const std::vector<std::string>& lines, std::size_t n, std::mt19937& rng) {
    std::map<std::string, std::int64_t> latest;
    for (const auto& line : lines) {
        const auto doc = json::parse(line);
        const auto& object = doc["data"]["object"];
        latest[object["id"].get<std::string>()] =
            std::max(latest[object["id"].get<std::string>()], object["version"].get<std::int64_t>());
    }
    std::vector<std::string> out;
    std::uniform_int_distribution<std::size_t> pick(0, lines.size() - 1);
    for (std::size_t tries = 0; out.size() < n && tries < 100 * n; ++tries) {
        auto doc = json::parse(lines[pick(rng)]);
        const auto& object = doc["data"]["object"];
        if (object["version"].get<std::int64_t>() >= latest[object["id"].get<std::string>()]) continue;
        doc["id"] = "stale-" + std::to_string(out.size()) + "-" + doc["id"].get<std::string>();
        out.push_back(doc.dump());
    }
    return out;
}

TEST(Chaos, FaultsAndThreeKillsLoseNothingAndApplyNothingTwice) {
    BridgeHarness::Options options;
    options.app = kApp;
    options.group = "chaos";
    options.partitions = 4;
    options.concurrency = 4;
    // Short SCIM timeouts give a short retry lease (10 s), so a killed worker's claims are taken
    // over quickly; many attempts, so that no run of bad luck dead-letters an event.
    options.scim_extra = {{"connect_timeout_ms", 500}, {"timeout_ms", 2000}};
    options.retry["max_attempts"] = 60;
    // The generated stream unassigns and deletes far more users than the deletion threshold
    // allows in an hour, on purpose, and its model of the target knows nothing of staging.
    options.app_extra["deletion_threshold"] = {{"max_operations", 0}};
    BridgeHarness bridge(options);
    bridge.admin(HttpMethod::Post, "/_admin/faults", {}, json{{"status", 429}, {"probability", 0.05}, {"seed", 1}, {"retryAfter", "1"}});
    bridge.admin(HttpMethod::Post, "/_admin/faults", {}, json{{"status", 503}, {"probability", 0.05}, {"seed", 2}});
    bridge.admin(HttpMethod::Post, "/_admin/faults", {}, json{{"drop", true}, {"probability", 0.01}, {"seed", 3}});
    bridge.admin(HttpMethod::Put, "/_admin/latency", {}, json{{"delayMs", 20}});

    test_support::UserEventGenerator gen(kApp, 20261201, 600);
    const auto lines = gen.next(5000);
    std::mt19937 rng(7);
    const auto stale = stale_copies(lines, 100, rng);
    ASSERT_EQ(stale.size(), 100U);
    std::vector<std::string> redelivered;
    std::uniform_int_distribution<std::size_t> pick(0, lines.size() - 1);
    for (int i = 0; i < 200; ++i) redelivered.push_back(lines[pick(rng)]);

    const auto start_worker = [&] { return bridge.start_worker(/*merge_stderr=*/true, "info"); };
    std::unique_ptr<ops::ChildProcess> workers[2] = {start_worker(), start_worker()};
    // What the workers said, for a failure message: the warnings and errors among it.
    const auto transcript = [&] {
        std::string text;
        for (auto& w : workers) {
            std::string last_progress;
            std::deque<std::string> tail;
            while (auto line = w->read_line(0ms)) {
                if (line->rfind("{", 0) == 0) {
                    last_progress = *line;
                    continue;
                }
                tail.push_back(*line);
                if (tail.size() > 15) tail.pop_front();
            }
            text += "worker " + std::to_string(w->pid()) + ": last progress " + last_progress + "\n";
            for (const auto& l : tail) text += "  " + l + "\n";
        }
        return text;
    };
    const std::size_t chunk = 1000;
    std::int64_t kills = 0;
    for (std::size_t start = 0; start < lines.size(); start += chunk) {
        bridge.produce_lines({lines.begin() + static_cast<long>(start),
                              lines.begin() + static_cast<long>(std::min(lines.size(), start + chunk))});
        if (kills < 3) {
            // Kill while the chunk is being worked on: part of it is done, part in flight or parked.
            std::uniform_int_distribution<std::int64_t> moment(200, 700);
            const std::int64_t at = static_cast<std::int64_t>(start) + moment(rng);
            ASSERT_GE(wait_log_length(bridge, at, 180s), at) << "no progress before kill " << kills + 1 << "\n"
                                                             << transcript();
            auto& victim = workers[kills % 2];
            victim->signal(SIGKILL);
            ASSERT_TRUE(victim->wait(30s).has_value());
            victim = start_worker();
            ++kills;
        }
    }
    bridge.produce_lines(stale);
    bridge.produce_lines(redelivered);

    const auto expected_outcomes = static_cast<std::int64_t>(lines.size() + stale.size());
    EXPECT_EQ(wait_log_length(bridge, expected_outcomes, 240s), expected_outcomes) << transcript();
    // Nothing is left waiting in a queue.
    consumers::RedisConnection redis(test_support::redis_options_for_port(bridge.redis().port()));
    auto parked = redis.call({"HLEN", "pb:{chaos}:parked"});
    ASSERT_TRUE(parked.ok());
    EXPECT_EQ(parked->integer, 0);

    bridge.expect_target_matches(gen);
    std::size_t missing = 0;
    for (const auto& id : gen.event_ids()) {
        auto outcome = bridge.reader().outcome(kApp, gen.source(), id);
        ASSERT_TRUE(outcome.ok());
        if (!outcome->has_value()) ++missing;
    }
    EXPECT_EQ(missing, 0U);
    std::size_t stale_skipped = 0;
    for (const auto& line : stale) {
        const auto doc = json::parse(line);
        auto outcome = bridge.reader().outcome(kApp, gen.source(), doc["id"].get<std::string>());
        ASSERT_TRUE(outcome.ok());
        ASSERT_TRUE(outcome->has_value()) << doc["id"];
        // Older than what its object ends with: never applied, whatever else it says.
        EXPECT_EQ((*outcome)->status, OutcomeStatus::Skipped) << to_json(**outcome).dump();
        if ((*outcome)->code == "stale") {
            ++stale_skipped;
        } else {
            std::cout << "[ chaos ] a stale copy skipped as " << (*outcome)->code << ": " << (*outcome)->reason << "\n";
        }
    }
    EXPECT_GE(stale_skipped, stale.size() * 9 / 10);
    // produced = applied + skipped + dead-lettered, one outcome per distinct event id.
    EXPECT_EQ(bridge.log_length(), expected_outcomes);
    auto stats = bridge.reader().stats(kApp);
    ASSERT_TRUE(stats.ok());
    EXPECT_EQ(stats->at("events"), expected_outcomes);
    std::int64_t outcomes = 0;
    for (const auto& [name, value] : *stats) {
        if (name != "events" && name != "duplicates" && name != "last_applied_ms") outcomes += value;
    }
    EXPECT_EQ(outcomes, expected_outcomes) << "every outcome counted once by kind";
    auto dead = bridge.reader().dead_letters(kApp, 10000);
    ASSERT_TRUE(dead.ok());
    for (const auto& entry : *dead) {
        EXPECT_FALSE(entry.record.code.empty());
        EXPECT_FALSE(entry.record.reason.empty());
    }
    EXPECT_EQ(stats->count("dead_lettered") ? stats->at("dead_lettered") : 0, static_cast<std::int64_t>(dead->size()));
    std::cout << "[ chaos ] " << lines.size() << " events + " << stale.size() << " stale + " << redelivered.size()
              << " redelivered; kills: " << kills << "; dead letters: " << dead->size()
              << "; target requests: " << bridge.stats()["requests"] << "\n";
    for (auto& w : workers) {
        w->signal(SIGTERM);
        EXPECT_TRUE(w->wait(60s).has_value());
    }
}

}  // namespace
}  // namespace provbridge
