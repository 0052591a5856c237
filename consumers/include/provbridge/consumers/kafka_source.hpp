#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "provbridge/consumers/kafka_consumer.hpp"
#include "provbridge/consumers/worker.hpp"

namespace provbridge::consumers {

// The worker's RecordSource on a real Kafka consumer group member.
class KafkaRecordSource final : public RecordSource {
public:
    // lost_timeout and gaps: see KafkaConsumer; zero never gives up on the cluster.
    KafkaRecordSource(std::map<std::string, std::string> properties, std::vector<std::string> topics,
                      RebalanceListener& listener, std::shared_ptr<spdlog::logger> log,
                      std::chrono::milliseconds lost_timeout = std::chrono::milliseconds(0),
                      GapListener* gaps = nullptr);

    std::optional<InboundRecord> poll(std::chrono::milliseconds timeout) override;
    void pause(const std::vector<TopicPartition>& partitions) override;
    void resume(const std::vector<TopicPartition>& partitions) override;
    void store_offsets(const std::vector<std::pair<TopicPartition, std::int64_t>>& offsets) override;
    std::vector<TopicPartition> assignment() const override;
    void close() override;
    void abandon() override;
    std::optional<std::string> fatal_error() const override;

private:
    std::shared_ptr<spdlog::logger> log_;
    KafkaConsumer consumer_;
};

}  // namespace provbridge::consumers
