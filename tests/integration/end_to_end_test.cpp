// The whole product against real parts: the provbridge binary as a separate process, the
// embedded Kafka broker, a throwaway redis-server and the SCIMMY target.
#include <csignal>
#include <fstream>
#include <sys/wait.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bridge_harness.hpp"
#include "kafka_inspect.hpp"
#include "provbridge/consumers/curl_scim_client.hpp"
#include "provbridge/consumers/redis_store.hpp"
#include "provbridge/core/keys.hpp"
#include "provbridge/ops/embedded_broker.hpp"
#include "provbridge/ops/local_services.hpp"
#include "provbridge/ops/process.hpp"
#include "provbridge/producers/kafka.hpp"
#include "provbridge/producers/producer.hpp"
#include "redis_fixture.hpp"
#include "user_event_generator.hpp"

namespace provbridge {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kApp = "e2e";
constexpr const char* kGroup = "provbridge-e2e";
constexpr const char* kTopic = "provisioning.events";
constexpr int kPartitions = 6;

class EndToEnd : public ::testing::Test {
protected:
    void SetUp() override {
        test_support::BridgeHarness::Options options;
        options.app = kApp;
        options.group = kGroup;
        options.brokers = 3;
        options.partitions = kPartitions;
        options.concurrency = 8;
        options.max_in_flight = 400;
        options.consumer_properties["auto.commit.interval.ms"] = "1000";
        // The generated stream unassigns and deletes far more users than the deletion threshold
        // allows in an hour, on purpose, and its model of the target knows nothing of staging.
        options.app_extra["deletion_threshold"] = {{"max_operations", 0}};
        bridge_ = std::make_unique<test_support::BridgeHarness>(options);
    }

    std::unique_ptr<ops::ChildProcess> start_worker() { return bridge_->start_worker(); }

    json wait_finished(ops::ChildProcess& worker, std::uint64_t target) {
        return test_support::BridgeHarness::wait_finished(worker, target);
    }

    void produce(const std::vector<std::string>& lines) { bridge_->produce_lines(lines); }

    json target_users() { return bridge_->users(); }
    json target_stats() { return bridge_->stats(); }

    std::unique_ptr<test_support::BridgeHarness> bridge_;
};

TEST_F(EndToEnd, ThousandUserEventsSurviveRedeliveryAndSigkill) {
    test_support::UserEventGenerator gen(kApp, 20261123, 250);
    const auto batch1 = gen.next(1000);

    // 1. A thousand events: the target ends in the expected state, one outcome per event.
    auto worker = start_worker();
    produce(batch1);
    auto progress = wait_finished(*worker, 1000);
    ASSERT_FALSE(HasFailure());
    EXPECT_EQ(progress["dead_lettered"], 0) << "no event of this set should fail";
    bridge_->expect_target_matches(gen);
    bridge_->expect_one_outcome_each(gen);
    const json users_before = target_users();
    const auto requests_before = target_stats()["requests"].get<std::int64_t>();
    EXPECT_GT(requests_before, 1000);

    // 2. The same thousand events again: recognised by id, nothing sent, nothing changed.
    produce(batch1);
    progress = wait_finished(*worker, 2000);
    ASSERT_FALSE(HasFailure());
    EXPECT_EQ(progress["duplicates"], 1000);
    EXPECT_EQ(target_users(), users_before) << "re-produced events changed the target";
    EXPECT_EQ(target_stats()["requests"].get<std::int64_t>(), requests_before) << "re-produced events sent requests";
    EXPECT_EQ(bridge_->log_length(), 1000);

    // 3. A second batch; SIGKILL the worker halfway through, restart it: nothing lost, nothing
    //    applied twice.
    const auto batch2 = gen.next(1000);
    produce(batch2);
    wait_finished(*worker, 2500);
    ASSERT_FALSE(HasFailure());
    worker->signal(SIGKILL);
    ASSERT_TRUE(worker->wait(30s).has_value());
    const auto at_kill = test_support::group_position(bridge_->broker().bootstrap_servers(), kGroup, kTopic, kPartitions);
    EXPECT_EQ(at_kill.end_total(), 3000);
    const std::int64_t outcomes_at_kill = bridge_->log_length();
    EXPECT_LT(outcomes_at_kill, 2000) << "the kill came too late to test anything";
    // Everything after the committed offsets comes again: some of it already has an outcome.
    const auto redelivered = static_cast<std::uint64_t>(at_kill.end_total() - at_kill.committed_total());
    ASSERT_GT(redelivered, 0U);

    worker = start_worker();
    progress = wait_finished(*worker, redelivered);
    ASSERT_FALSE(HasFailure());
    EXPECT_EQ(progress["consumed"].get<std::uint64_t>(), redelivered);
    bridge_->expect_target_matches(gen);
    bridge_->expect_one_outcome_each(gen);

    // A clean stop commits everything it consumed and leaves the group.
    worker->signal(SIGTERM);
    const auto status = worker->wait(60s);
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
    const auto at_end = test_support::group_position(bridge_->broker().bootstrap_servers(), kGroup, kTopic, kPartitions);
    EXPECT_EQ(at_end.committed, at_end.end);
    std::cout << "[ e2e ] outcomes at SIGKILL: " << outcomes_at_kill << "/2000; records redelivered after restart: "
              << redelivered << " (" << progress["duplicates"] << " recognised as already done)\n";
}

}  // namespace
}  // namespace provbridge
