#include "provbridge/consumers/kafka_source.hpp"

namespace provbridge::consumers {

KafkaRecordSource::KafkaRecordSource(std::map<std::string, std::string> properties,
                                     std::vector<std::string> topics, RebalanceListener& listener,
                                     std::shared_ptr<spdlog::logger> log, std::chrono::milliseconds lost_timeout,
                                     GapListener* gaps)
    : log_(log), consumer_(std::move(properties), std::move(topics), listener, std::move(log), lost_timeout, gaps) {}

std::optional<InboundRecord> KafkaRecordSource::poll(std::chrono::milliseconds timeout) {
    return consumer_.poll(timeout);
}

void KafkaRecordSource::pause(const std::vector<TopicPartition>& partitions) { consumer_.pause(partitions); }

void KafkaRecordSource::resume(const std::vector<TopicPartition>& partitions) { consumer_.resume(partitions); }

void KafkaRecordSource::store_offsets(const std::vector<std::pair<TopicPartition, std::int64_t>>& offsets) {
    for (const auto& [tp, next] : offsets) {
        auto stored = consumer_.store_offset(tp, next);
        // A partition revoked in between is not ours to commit any more; its new owner
        // starts from the last committed offset, which is the at-least-once promise.
        if (!stored && log_) {
            log_->debug("offset {} of {}[{}] not stored: {}", next, tp.topic, tp.partition, stored.error().message);
        }
    }
}

std::vector<TopicPartition> KafkaRecordSource::assignment() const { return consumer_.assignment(); }

void KafkaRecordSource::close() { consumer_.close(); }

void KafkaRecordSource::abandon() { consumer_.abandon(); }

std::optional<std::string> KafkaRecordSource::fatal_error() const {
    auto err = consumer_.fatal_error();
    return err ? std::optional<std::string>(err->message) : std::nullopt;
}

}  // namespace provbridge::consumers
