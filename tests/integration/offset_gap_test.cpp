// Retention gaps against the real binary, redis-server, the embedded broker and the SCIMMY
// target: a group whose committed offset the broker no longer holds is told so loudly (log,
// counters, Redis, `quarantine status`) and goes on with what is still in the log.
#include <csignal>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bridge_harness.hpp"
#include "kafka_inspect.hpp"

namespace provbridge {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using test_support::BridgeHarness;

constexpr const char* kGroup = "gaps";

json user_event(const std::string& event_id, const std::string& type, const std::string& user, json attributes) {
    return {{"specversion", "1.0"},
            {"id", event_id},
            {"source", "urn:directory:gaps"},
            {"type", "provisioning.user." + type},
            {"data",
             {{"app", "app"},
              {"object", {{"type", "user"}, {"id", user}, {"version", 1}, {"attributes", std::move(attributes)}}},
              {"assignment", {{"role", "User"}}}}}};
}

json person(const std::string& user) {
    return {{"userPrincipalName", user + "@contoso.com"}, {"mailNickname", user}, {"givenName", user},
            {"surname", "Tester"}, {"displayName", user + " Tester"}, {"accountEnabled", true}};
}

void stop(ops::ChildProcess& worker) {
    worker.signal(SIGTERM);
    const auto status = worker.wait(60s);
    ASSERT_TRUE(status.has_value()) << "the worker did not stop";
}

TEST(OffsetGaps, ACommittedOffsetRetentionRemovedIsReportedAndTheRestOfTheLogIsProcessed) {
    BridgeHarness::Options options;
    options.group = kGroup;
    options.partitions = 1;
    BridgeHarness bridge(options);
    const std::string bootstrap = bridge.broker().bootstrap_servers();

    // 1. Three accounts; the worker commits offset 3 when it stops.
    {
        auto worker = bridge.start_worker();
        for (int i = 0; i < 3; ++i) {
            const std::string user = "early" + std::to_string(i);
            bridge.send_event(user_event("e" + std::to_string(i), "assigned", user, person(user)));
        }
        BridgeHarness::wait_finished(*worker, 3, 60s);
        ASSERT_FALSE(::testing::Test::HasFailure());
        stop(*worker);
    }
    ASSERT_EQ(test_support::group_position(bootstrap, kGroup, BridgeHarness::kTopic, 1).committed[0], 3);

    // 2. While no worker runs, more than the broker keeps of a partition (5 MB): unassignments of
    // users the app never had (skipped without a SCIM call), then two new accounts.
    const std::string padding(100 * 1024, 'p');
    constexpr int kFillers = 60;
    for (int i = 0; i < kFillers; ++i) {
        const std::string user = "gone" + std::to_string(i);
        json attributes = person(user);
        attributes["padding"] = padding;
        bridge.send_event(user_event("f" + std::to_string(i), "unassigned", user, attributes));
    }
    for (int i = 0; i < 2; ++i) {
        const std::string user = "late" + std::to_string(i);
        bridge.send_event(user_event("l" + std::to_string(i), "assigned", user, person(user)));
    }
    ASSERT_FALSE(::testing::Test::HasFailure());
    const auto position = test_support::group_position(bootstrap, kGroup, BridgeHarness::kTopic, 1);
    const std::int64_t log_start = position.start[0];
    const std::int64_t end = position.end[0];
    ASSERT_EQ(end, 3 + kFillers + 2);
    ASSERT_GT(log_start, 3) << "the broker kept the whole partition";
    const std::int64_t lost = log_start - 3;

    // 3. The next worker reports the gap and processes everything still in the log.
    auto worker = bridge.start_worker(/*merge_stderr=*/true);
    std::string transcript;
    const json progress = BridgeHarness::wait_finished(*worker, static_cast<std::uint64_t>(end - log_start), 60s,
                                                       &transcript);
    ASSERT_FALSE(::testing::Test::HasFailure()) << transcript;
    EXPECT_EQ(progress["offset_gaps"], 1) << progress.dump();
    EXPECT_EQ(progress["events_lost_to_retention"], lost) << progress.dump();
    EXPECT_EQ(progress["applied"], 2) << progress.dump();
    EXPECT_EQ(progress["skipped"], end - log_start - 2) << progress.dump();
    EXPECT_EQ(progress["dead_lettered"], 0) << progress.dump();
    EXPECT_NE(transcript.find("offset gap on " + std::string(BridgeHarness::kTopic) + "[0]: group gaps was to continue "
                              "at offset 3, but the broker's log starts at " + std::to_string(log_start) + ": " +
                              std::to_string(lost) + " event(s) were removed by retention"),
              std::string::npos)
        << transcript;
    EXPECT_FALSE(bridge.user_named("late0@contoso.com").is_null());
    EXPECT_FALSE(bridge.user_named("late1@contoso.com").is_null());
    EXPECT_EQ(bridge.users().size(), 5U);

    auto gaps = bridge.reader().offset_gaps();
    ASSERT_TRUE(gaps) << gaps.error().message;
    ASSERT_EQ(gaps->size(), 1U);
    const auto& gap = gaps->front();
    EXPECT_EQ(gap.topic, BridgeHarness::kTopic);
    EXPECT_EQ(gap.partition, 0);
    EXPECT_EQ(gap.group, kGroup);
    EXPECT_EQ(gap.gap, (consumers::OffsetGap{3, log_start, lost}));
    EXPECT_EQ(gap.gaps, 1);
    EXPECT_GT(gap.detected_at_ms, 0);

    const auto status = bridge.cli({"quarantine", "status", "--json"});
    EXPECT_EQ(status.exit_code, 1) << "a gap found in the last 24 h: " << status.output;
    const json report = json::parse(status.output.substr(status.output.find('{')), nullptr, false);
    ASSERT_TRUE(report.is_object()) << status.output;
    ASSERT_EQ(report["offset_gaps"].size(), 1U) << status.output;
    const json& row = report["offset_gaps"][0];
    EXPECT_EQ(row["topic"], BridgeHarness::kTopic);
    EXPECT_EQ(row["partition"], 0);
    EXPECT_EQ(row["group"], kGroup);
    EXPECT_EQ(row["committed"], 3);
    EXPECT_EQ(row["log_start"], log_start);
    EXPECT_EQ(row["lost"], lost);
    EXPECT_EQ(row["recent"], true);
    EXPECT_EQ(report["apps"][0]["quarantined"], false) << status.output;
    const auto text = bridge.cli({"quarantine", "status"});
    EXPECT_EQ(text.exit_code, 1) << text.output;
    EXPECT_NE(text.output.find("offsets 3 to " + std::to_string(log_start - 1) + " lost (" + std::to_string(lost) +
                               " event(s))"),
              std::string::npos)
        << text.output;
    stop(*worker);
}

}  // namespace
}  // namespace provbridge
