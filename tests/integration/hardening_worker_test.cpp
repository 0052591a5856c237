// The worker when a required service dies under it: the provbridge binary against the embedded
// broker, a redis-server that is killed mid-run and restarted, and the SCIMMY target.
#include <chrono>
#include <csignal>
#include <iostream>
#include <sys/wait.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bridge_harness.hpp"
#include "kafka_inspect.hpp"
#include "provbridge/consumers/redis.hpp"
#include "redis_fixture.hpp"
#include "user_event_generator.hpp"

namespace provbridge {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kApp = "hardening";
constexpr const char* kGroup = "provbridge-hardening";
constexpr int kPartitions = 3;
constexpr int kExitUnavailable = 3;

class HardeningWorker : public ::testing::Test {
protected:
    void SetUp() override {
        test_support::BridgeHarness::Options options;
        options.app = kApp;
        options.group = kGroup;
        options.partitions = kPartitions;
        options.concurrency = 8;
        options.max_in_flight = 400;
        options.consumer_properties["auto.commit.interval.ms"] = "1000";
        // The generated stream unassigns and deletes far more users than the deletion threshold
        // allows in an hour, on purpose, and its model of the target knows nothing of staging.
        options.app_extra["deletion_threshold"] = {{"max_operations", 0}};
        bridge_ = std::make_unique<test_support::BridgeHarness>(options);
        // An acknowledged commit must be on disk before the SIGKILL, or the test would measure
        // Redis's everysec window instead of the worker: with everysec, Redis may answer a
        // write it has not yet passed to write(2) while a background fsync is slow.
        consumers::RedisConnection admin(test_support::redis_options_for_port(bridge_->redis().port()));
        auto set = admin.call({"CONFIG", "SET", "appendfsync", "always"});
        ASSERT_TRUE(set) << set.error().message;
    }

    void produce(const std::vector<std::string>& lines) { bridge_->produce_lines(lines); }

    std::unique_ptr<test_support::BridgeHarness> bridge_;
};

TEST_F(HardeningWorker, RedisKilledMidRunStopsWithExit3AndLosesNothingAfterRestart) {
    test_support::UserEventGenerator gen(kApp, 20260601, 300);
    const auto batch = gen.next(3000);

    auto worker = bridge_->start_worker(/*merge_stderr=*/true);
    produce(batch);
    test_support::BridgeHarness::wait_finished(*worker, 300);
    ASSERT_FALSE(HasFailure());

    const auto killed_at = std::chrono::steady_clock::now();
    bridge_->redis().kill();
    // Well below the 60 s revoke timeout: a worker that waited for work that can never
    // finish would not make it.
    const auto status = worker->wait(45s);
    const auto stopped_after =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killed_at);
    ASSERT_TRUE(status.has_value()) << "the worker kept running with Redis dead";
    ASSERT_TRUE(WIFEXITED(*status)) << "the worker died of a signal: " << *status;
    EXPECT_EQ(WEXITSTATUS(*status), kExitUnavailable);
    std::string last_lines;
    while (auto line = worker->read_line(1s)) last_lines.append(*line).append("\n");

    const auto at_stop = test_support::group_position(bridge_->broker().bootstrap_servers(), kGroup,
                                                      test_support::BridgeHarness::kTopic, kPartitions);
    ASSERT_EQ(at_stop.end_total(), static_cast<std::int64_t>(batch.size()));
    const auto redelivered = static_cast<std::uint64_t>(at_stop.end_total() - at_stop.committed_total());
    ASSERT_GT(redelivered, 0U) << "the kill came after everything was done: nothing was tested";

    // Same port, same data directory: what Redis acknowledged is back.
    bridge_->redis().restart();
    const std::int64_t outcomes_after_restart = bridge_->log_length();
    // Committed offsets never pass an outcome that is not durable.
    EXPECT_GE(outcomes_after_restart, at_stop.committed_total());

    worker = bridge_->start_worker();
    const auto progress = test_support::BridgeHarness::wait_finished(*worker, redelivered);
    ASSERT_FALSE(HasFailure());
    EXPECT_EQ(progress["consumed"].get<std::uint64_t>(), redelivered);
    bridge_->expect_one_outcome_each(gen);
    bridge_->expect_target_matches(gen);

    worker->signal(SIGTERM);
    const auto clean = worker->wait(60s);
    ASSERT_TRUE(clean.has_value());
    EXPECT_TRUE(WIFEXITED(*clean) && WEXITSTATUS(*clean) == 0);

    std::cout << "[ hardening ] worker exited " << WEXITSTATUS(*status) << " " << stopped_after.count()
              << " ms after Redis was killed; committed " << at_stop.committed_total() << "/" << batch.size()
              << ", outcomes kept " << outcomes_after_restart << ", redelivered " << redelivered << " ("
              << progress["duplicates"] << " already recorded)\n"
              << "[ hardening ] the stopped worker's last lines:\n"
              << last_lines;
}

}  // namespace
}  // namespace provbridge
