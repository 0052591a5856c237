#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "provbridge/core/dead_letter.hpp"
#include "provbridge/core/event.hpp"
#include "provbridge/core/result.hpp"
#include "provbridge/producers/kafka.hpp"

namespace provbridge::producers {

// Where the broker put a record.
struct DeliveryReport {
    std::string topic;
    std::int32_t partition = 0;
    std::int64_t offset = 0;
};

// librdkafka log lines (syslog level, facility, text); called from librdkafka threads.
using KafkaLogFn = std::function<void(int level, const std::string& facility, const std::string& message)>;

// An idempotent producer (enable.idempotence=true, acks=all: per-partition order survives
// retries, no duplicates from the producer itself). Thread-safe. Delivery reports resolve
// per-message futures from an internal thread that serves rd_kafka_poll.
// Throws only from the constructor (bad properties, rd_kafka_new failure).
class KafkaProducer {
public:
    struct Options {
        // How long send() keeps waiting for queue space when the local queue is full.
        std::chrono::milliseconds queue_full_wait{10000};
        // How long the destructor lets queued messages drain before purging them.
        std::chrono::milliseconds close_flush_timeout{10000};
        KafkaLogFn log;  // optional; without it librdkafka's own stderr logger is used
    };

    // properties: typically client_properties(...); idempotence settings are enforced on top.
    explicit KafkaProducer(const std::map<std::string, std::string>& properties);
    KafkaProducer(const std::map<std::string, std::string>& properties, Options options);
    ~KafkaProducer();
    KafkaProducer(const KafkaProducer&) = delete;
    KafkaProducer& operator=(const KafkaProducer&) = delete;
    KafkaProducer(KafkaProducer&&) = delete;
    KafkaProducer& operator=(KafkaProducer&&) = delete;

    // Queues one record (bytes are copied). The future is resolved when the broker acked
    // the record, or with the reason it could not be delivered. A record that could not even
    // be queued gives an already-resolved future.
    std::future<Result<DeliveryReport>> send(const std::string& topic,
                                             const std::optional<std::string>& key,
                                             std::string_view value,
                                             const std::vector<Header>& headers = {});

    // send() and wait for the delivery report. A timeout is an error, although the record may
    // still be delivered later (the caller must then treat the write as not durable).
    Result<DeliveryReport> send_and_wait(const std::string& topic,
                                         const std::optional<std::string>& key,
                                         std::string_view value, const std::vector<Header>& headers,
                                         std::chrono::milliseconds timeout);

    // Waits until every queued record has a delivery report; error when the timeout passed first.
    Result<bool> flush(std::chrono::milliseconds timeout);

    // Records sent but without a delivery report yet.
    std::size_t pending() const;

    // Set once librdkafka raised a fatal error (e.g. the idempotent producer lost its state);
    // the producer cannot be used after that and must be recreated.
    std::optional<Error> fatal_error() const;

private:
    static void on_delivery(rd_kafka_t* rk, const rd_kafka_message_t* message, void* opaque);
    static void on_log(const rd_kafka_t* rk, int level, const char* facility, const char* text);
    static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque);

    Options options_;
    KafkaHandlePtr handle_;
    std::atomic<bool> stopping_{false};
    std::atomic<std::size_t> awaiting_report_{0};
    std::thread poller_;
};

// Names of the context headers a dead-lettered record carries in addition to its own.
namespace dead_letter_headers {
inline constexpr std::string_view kErrorCode = "provbridge.error.code";
inline constexpr std::string_view kErrorReason = "provbridge.error.reason";
inline constexpr std::string_view kErrorStage = "provbridge.error.stage";
inline constexpr std::string_view kSourceTopic = "provbridge.source.topic";
inline constexpr std::string_view kSourcePartition = "provbridge.source.partition";
inline constexpr std::string_view kSourceOffset = "provbridge.source.offset";
inline constexpr std::string_view kAttempts = "provbridge.attempts";
inline constexpr std::string_view kFailedAt = "provbridge.failed_at";
}  // namespace dead_letter_headers

// The brief's name for core's DeadLetterReason (code, reason, stage, attempts, failed_at_ms).
using DeadLetterInfo = DeadLetterReason;

// Formats milliseconds since the epoch as RFC 3339 UTC with milliseconds: 2024-05-01T10:00:00.123Z.
std::string format_rfc3339_utc(std::int64_t epoch_ms);

// The headers of a dead-letter record: the original headers in their order, minus any earlier
// provbridge.* context headers (a replayed record that fails again must not carry two
// provbridge.error.code values), then the context headers above.
std::vector<Header> dead_letter_record_headers(const InboundRecord& original,
                                               const DeadLetterInfo& info);

// Writes records that cannot succeed to the dead-letter topic: original key and value bytes,
// original headers plus the context headers. Blocking: returns once the broker acked the
// record (or failed / timed out), so the caller knows whether it may commit the source offset.
class DeadLetterPublisher final : public DeadLetterSink {
public:
    DeadLetterPublisher(KafkaProducer& producer, std::string topic,
                        std::chrono::milliseconds timeout = std::chrono::seconds(60));

    Result<DeliveryReport> publish_with_report(const InboundRecord& original,
                                               const DeadLetterInfo& info);
    // DeadLetterSink: true once durable.
    Result<bool> publish(const InboundRecord& original, const DeadLetterReason& reason) override;

    const std::string& topic() const { return topic_; }

private:
    KafkaProducer& producer_;
    std::string topic_;
    std::chrono::milliseconds timeout_;
};

}  // namespace provbridge::producers
