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
    // be queued gives an already-resolved future. A record over message.max.bytes (refused
    // here) or over the topic's limit (refused by the broker) fails with ErrorKind::TooLarge.
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

    // Waits until a broker answers a metadata request and returns the cluster id (empty when
    // the cluster reports none). Error (Transient) when none answered within timeout.
    Result<std::string> cluster_id(std::chrono::milliseconds timeout);

    // The properties the producer really runs with: `properties` plus the enforced ones.
    static std::map<std::string, std::string> effective_properties(std::map<std::string, std::string> properties);

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
// Set when known: the app, the error class (transient, permanent, auth), the last HTTP status,
// the SCIM scimType, the first failure (RFC 3339) and the error trail (a JSON array of
// {at, code, http_status, detail}, oldest first).
inline constexpr std::string_view kApp = "provbridge.app";
inline constexpr std::string_view kErrorClass = "provbridge.error.class";
inline constexpr std::string_view kHttpStatus = "provbridge.error.http_status";
inline constexpr std::string_view kScimType = "provbridge.error.scim_type";
inline constexpr std::string_view kFirstFailedAt = "provbridge.first_failed_at";
inline constexpr std::string_view kErrorTrail = "provbridge.error.trail";
// Only on a record too large for the dead-letter topic, which then carries the original's first
// bytes: "true", the original value's size in bytes and its SHA-256 (lower-case hex), the
// original key's size when the key was cut too, and how many original headers were left out.
inline constexpr std::string_view kTruncated = "provbridge.truncated";
inline constexpr std::string_view kOriginalSize = "provbridge.original.size";
inline constexpr std::string_view kOriginalSha256 = "provbridge.original.sha256";
inline constexpr std::string_view kOriginalKeySize = "provbridge.original.key_size";
inline constexpr std::string_view kHeadersDropped = "provbridge.original.headers_dropped";
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

// SHA-256 of bytes as 64 lower-case hex digits (OpenSSL EVP).
std::string sha256_hex(std::string_view bytes);

// A record as it is written to the dead-letter topic.
struct DeadLetterRecord {
    std::optional<std::string> key;
    std::string value;
    std::vector<Header> headers;
};

// How much of an original a truncated dead-letter record keeps.
struct TruncationLimits {
    std::size_t value_bytes = 64 * 1024;
    std::size_t key_bytes = 1024;
    std::size_t header_bytes = 16 * 1024;  // original headers, name + value, in their order
    std::size_t reason_bytes = 4096;
};

// The dead-letter record for an original too large for the topic: its first bytes (key and
// value), the original headers that fit, the context headers (reason cut to reason_bytes) and
// the kTruncated / kOriginalSize / kOriginalSha256 headers. Never larger than the limits plus
// the context headers, whatever the original's size.
DeadLetterRecord truncated_dead_letter(const InboundRecord& original, const DeadLetterInfo& info,
                                       const TruncationLimits& limits = {});

// Writes records that cannot succeed to the dead-letter topic: original key and value bytes,
// original headers plus the context headers. A record too large for the producer or the topic
// (ErrorKind::TooLarge) is written truncated instead (truncated_dead_letter), and with only
// the context headers and digest if even that is refused, so size never stops the worker.
// Blocking: returns once the broker acked the record (or failed / timed out), so the caller
// knows whether it may commit the source offset.
class DeadLetterPublisher final : public DeadLetterSink {
public:
    DeadLetterPublisher(KafkaProducer& producer, std::string topic,
                        std::chrono::milliseconds timeout = std::chrono::seconds(60),
                        TruncationLimits limits = {});

    Result<DeliveryReport> publish_with_report(const InboundRecord& original,
                                               const DeadLetterInfo& info);
    // DeadLetterSink: true once durable.
    Result<bool> publish(const InboundRecord& original, const DeadLetterReason& reason) override;

    const std::string& topic() const { return topic_; }
    // Records written truncated so far.
    std::uint64_t truncated() const { return truncated_.load(std::memory_order_relaxed); }

private:
    Result<DeliveryReport> send(const DeadLetterRecord& record);

    KafkaProducer& producer_;
    std::string topic_;
    std::chrono::milliseconds timeout_;
    TruncationLimits limits_;
    std::atomic<std::uint64_t> truncated_{0};
};

}  // namespace provbridge::producers
