#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <spdlog/logger.h>

#include "provbridge/consumers/kafka_consumer.hpp"
#include "provbridge/ops/embedded_broker.hpp"

namespace provbridge::test_support {

// A logger that is not in spdlog's global registry: warnings and worse go to stderr.
std::shared_ptr<spdlog::logger> test_logger(const std::string& name);

// Consumer properties for the embedded broker. session.timeout.ms=6000 because the mock's
// rebalance wait after a member leaves is session.timeout.ms - 1000 (44 s with the default).
std::map<std::string, std::string> consumer_properties(const std::string& bootstrap,
                                                       const std::string& group);

// Records rebalances; an optional hook runs inside on_revoked (where a worker drains and
// stores offsets).
class RecordingListener : public consumers::RebalanceListener {
public:
    using Hook = std::function<void(const std::vector<TopicPartition>&)>;
    void on_revoked_do(Hook hook) { revoke_hook_ = std::move(hook); }

    void on_assigned(const std::vector<TopicPartition>& partitions) override;
    void on_revoked(const std::vector<TopicPartition>& partitions) override;

    std::vector<std::vector<TopicPartition>> assigned() const;
    std::vector<std::vector<TopicPartition>> revoked() const;
    // Time of the first on_assigned, if any.
    std::optional<std::chrono::steady_clock::time_point> first_assigned_at() const;

private:
    mutable std::mutex mutex_;
    std::vector<std::vector<TopicPartition>> assigned_;
    std::vector<std::vector<TopicPartition>> revoked_;
    std::optional<std::chrono::steady_clock::time_point> first_assigned_at_;
    Hook revoke_hook_;
};

// Polls until `count` records arrived or `overall` passed (each poll blocks on the broker).
std::vector<InboundRecord> consume(consumers::KafkaConsumer& consumer, std::size_t count,
                                   std::chrono::milliseconds overall);

// Polls until the listener saw an assignment or `overall` passed; records that arrive in the
// meantime are returned so the caller does not lose them.
std::vector<InboundRecord> poll_until_assigned(consumers::KafkaConsumer& consumer,
                                               const RecordingListener& listener,
                                               std::chrono::milliseconds overall);

// One in-process embedded broker (3 brokers) per test suite. Tests create their own topics
// (topic_name() is unique per test) so they never see each other's records.
class BrokerTest : public ::testing::Test {
protected:
    static void SetUpTestSuite();
    static void TearDownTestSuite();

    static ops::EmbeddedBroker& broker() { return *broker_; }
    static const std::string& bootstrap() { return broker_->bootstrap_servers(); }
    // "<suite>.<test>.<suffix>", created with `partitions` partitions.
    static std::string make_topic(const std::string& suffix, int partitions);
    static std::string group_name(const std::string& suffix);

private:
    static std::unique_ptr<ops::EmbeddedBroker> broker_;
};

}  // namespace provbridge::test_support
