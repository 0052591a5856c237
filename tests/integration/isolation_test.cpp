// App isolation against the real binary, redis-server, the embedded broker and two SCIMMY
// targets: one app whose target answers only after 5 s must not hold up another app's events,
// which share its partitions; the slow app's backlog waits in Redis and is applied, in order,
// once its target recovers.
#include <csignal>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bridge_harness.hpp"

namespace provbridge {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using test_support::BridgeHarness;

std::string assigned(const std::string& app, const std::string& user, std::int64_t version, const std::string& title) {
    return json{{"specversion", "1.0"},
                {"id", app + "-" + user + "-" + std::to_string(version)},
                {"source", "urn:directory:isolation"},
                {"type", version == 1 ? "provisioning.user.assigned" : "provisioning.user.updated"},
                {"data",
                 {{"app", app},
                  {"object",
                   {{"type", "user"},
                    {"id", user},
                    {"version", version},
                    {"attributes",
                     {{"userPrincipalName", user + "@contoso.com"}, {"mailNickname", user}, {"givenName", user},
                      {"surname", "Tester"}, {"displayName", user + " Tester"}, {"jobTitle", title},
                      {"accountEnabled", true}}}}},
                  {"assignment", {{"role", "User"}}}}}}
        .dump();
}

// Outcomes the app has recorded (its stats count them by kind, and all of them as "events").
std::int64_t recorded(BridgeHarness& bridge, const std::string& app) {
    auto stats = bridge.reader().stats(app);
    EXPECT_TRUE(stats.ok()) << stats.error().message;
    if (!stats.ok()) return -1;
    const auto it = stats->find("events");
    return it == stats->end() ? 0 : it->second;
}

TEST(AppIsolation, ASlowTargetDoesNotHoldUpAnotherAppAndCatchesUpInOrder) {
    BridgeHarness::Options options;
    options.app = "slow";
    options.second_app = "fast";
    options.group = "isolation";
    options.partitions = 2;
    options.concurrency = 4;
    options.app_extra = {{"max_in_flight", 2}};
    options.second_app_extra = {{"max_in_flight", 4}};
    BridgeHarness bridge(options);
    // Every request to the slow app's target waits 5 s: 2 in flight make 0.4 events/s at best,
    // so 60 of them would keep lanes shared with the fast app busy for minutes.
    bridge.admin(HttpMethod::Put, "/_admin/latency", {}, json{{"delayMs", 5000}});
    constexpr int kSlow = 60;
    constexpr int kFast = 300;
    auto worker = bridge.start_worker(false, "info");
    // Interleaved on the same partitions; each slow user also gets an update, which must not
    // overtake its create wherever the create waits.
    for (int i = 0, s = 0; i < kFast; ++i) {
        if (i % 5 == 0 && s < kSlow) {
            const std::string user = "s" + std::to_string(s++);
            bridge.send("slow/user/" + user, assigned("slow", user, 1, "Engineer"));
            bridge.send("slow/user/" + user, assigned("slow", user, 2, "Manager"));
        }
        const std::string user = "f" + std::to_string(i);
        bridge.send("fast/user/" + user, assigned("fast", user, 1, "Engineer"));
    }
    // Every fast event is recorded while the slow app has done only a few: it was not held up.
    const auto deadline = std::chrono::steady_clock::now() + 90s;
    while (recorded(bridge, "fast") < kFast && std::chrono::steady_clock::now() < deadline) {
        // Progress lines pace the loop; an exited worker ends it (its wait status is ready).
        if (!worker->read_line(500ms) && worker->wait(0ms).has_value()) break;
    }
    ASSERT_EQ(recorded(bridge, "fast"), kFast);
    const auto slow_so_far = recorded(bridge, "slow");
    EXPECT_LT(slow_so_far, kSlow) << "the slow app cannot have done this much at 5 s per request";
    EXPECT_EQ(bridge.second_admin(HttpMethod::Get, "/_admin/users").size(), static_cast<std::size_t>(kFast));

    // The slow target recovers: its backlog (in memory and parked in Redis) is applied, in order.
    bridge.admin(HttpMethod::Put, "/_admin/latency", {}, json{{"delayMs", 0}});
    const json progress = BridgeHarness::wait_finished(*worker, kFast + 2 * kSlow, 120s);
    // A slow create that waited in Redis with its update behind it is sent with the update's
    // title, and the update then changes nothing: each slow user's update is applied or, so, skipped.
    const int skipped = progress["skipped"].get<int>();
    EXPECT_LE(skipped, kSlow) << progress.dump();
    EXPECT_EQ(progress["applied"].get<int>() + skipped, kFast + 2 * kSlow) << progress.dump();
    EXPECT_EQ(progress["dead_lettered"], 0) << progress.dump();
    EXPECT_GT(progress["held"].get<int>(), 0) << "the slow app's backlog should have waited in Redis: " << progress.dump();
    const json users = bridge.users();
    ASSERT_EQ(users.size(), static_cast<std::size_t>(kSlow));
    for (const auto& user : users) EXPECT_EQ(user["title"], "Manager") << user.dump();
    worker->signal(SIGTERM);
    EXPECT_TRUE(worker->wait(60s).has_value());
}

}  // namespace
}  // namespace provbridge
