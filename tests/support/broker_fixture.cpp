#include "broker_fixture.hpp"

#include <spdlog/sinks/stdout_sinks.h>

namespace provbridge::test_support {

using SteadyClock = std::chrono::steady_clock;

std::unique_ptr<ops::EmbeddedBroker> BrokerTest::broker_;

std::shared_ptr<spdlog::logger> test_logger(const std::string& name) {
    auto log = std::make_shared<spdlog::logger>(name, std::make_shared<spdlog::sinks::stderr_sink_mt>());
    log->set_level(spdlog::level::warn);
    return log;
}

std::map<std::string, std::string> consumer_properties(const std::string& bootstrap,
                                                       const std::string& group) {
    return {{"bootstrap.servers", bootstrap},
            {"group.id", group},
            {"session.timeout.ms", "6000"},
            {"heartbeat.interval.ms", "500"}};
}

void RecordingListener::on_assigned(const std::vector<TopicPartition>& partitions) {
    std::lock_guard lock(mutex_);
    if (!first_assigned_at_) first_assigned_at_ = SteadyClock::now();
    assigned_.push_back(partitions);
}

void RecordingListener::on_revoked(const std::vector<TopicPartition>& partitions) {
    if (revoke_hook_) revoke_hook_(partitions);
    std::lock_guard lock(mutex_);
    revoked_.push_back(partitions);
}

std::vector<std::vector<TopicPartition>> RecordingListener::assigned() const {
    std::lock_guard lock(mutex_);
    return assigned_;
}

std::vector<std::vector<TopicPartition>> RecordingListener::revoked() const {
    std::lock_guard lock(mutex_);
    return revoked_;
}

std::optional<SteadyClock::time_point> RecordingListener::first_assigned_at() const {
    std::lock_guard lock(mutex_);
    return first_assigned_at_;
}

std::vector<InboundRecord> consume(consumers::KafkaConsumer& consumer, std::size_t count,
                                   std::chrono::milliseconds overall) {
    std::vector<InboundRecord> records;
    const auto deadline = SteadyClock::now() + overall;
    while (records.size() < count) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
        if (left.count() <= 0) break;
        if (auto record = consumer.poll(left)) records.push_back(std::move(*record));
    }
    return records;
}

std::vector<InboundRecord> poll_until_assigned(consumers::KafkaConsumer& consumer,
                                               const RecordingListener& listener,
                                               std::chrono::milliseconds overall) {
    std::vector<InboundRecord> records;
    const auto deadline = SteadyClock::now() + overall;
    while (!listener.first_assigned_at() && SteadyClock::now() < deadline) {
        // Short polls: the assignment arrives as a callback inside poll(), not as a record.
        if (auto record = consumer.poll(std::chrono::milliseconds(100))) records.push_back(std::move(*record));
    }
    return records;
}

void BrokerTest::SetUpTestSuite() {
    if (!broker_) broker_ = std::make_unique<ops::EmbeddedBroker>(3, std::vector<ops::EmbeddedBroker::Topic>{});
}

void BrokerTest::TearDownTestSuite() { broker_.reset(); }

std::string BrokerTest::make_topic(const std::string& suffix, int partitions) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info->test_suite_name()) + "." + info->name() + "." + suffix;
    auto created = broker_->create_topic({name, partitions});
    EXPECT_TRUE(created.ok()) << (created.ok() ? "" : created.error().message);
    return name;
}

std::string BrokerTest::group_name(const std::string& suffix) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return std::string(info->test_suite_name()) + "." + info->name() + "." + suffix;
}

}  // namespace provbridge::test_support
