#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "provbridge/consumers/offset_gap.hpp"
#include "provbridge/core/event.hpp"
#include "provbridge/core/result.hpp"
#include "provbridge/producers/kafka.hpp"

namespace provbridge::consumers {

// TopicPartition comes from core/event.hpp.

// Told about partition ownership changes. Both calls run on the thread that calls
// KafkaConsumer::poll() (or close()), inside librdkafka's rebalance callback.
class RebalanceListener {
public:
    virtual ~RebalanceListener() = default;
    virtual void on_assigned(const std::vector<TopicPartition>& partitions) = 0;
    // Called BEFORE the partitions are given up: drain in-flight work for them and store
    // their offsets here; the consumer commits synchronously right after this returns.
    virtual void on_revoked(const std::vector<TopicPartition>& partitions) = 0;
};

// Decides when "every broker is down" has lasted long enough to ask whether Kafka is gone.
// librdkafka reports _ALL_BROKERS_DOWN once per outage and nothing when brokers come back, so
// the clock stops only on evidence: a record, or an answered metadata request.
class BrokerLossTracker {
public:
    using TimePoint = std::chrono::steady_clock::time_point;
    // The confirming metadata request gets `probe` of the bound (at most half), so the verdict
    // comes at the bound, not one probe later.
    explicit BrokerLossTracker(std::chrono::milliseconds bound,
                               std::chrono::milliseconds probe = std::chrono::milliseconds(2000))
        : bound_(bound), probe_(std::min(probe, bound / 2)) {}
    // The first report of an outage starts the clock; repeats do not move it.
    void all_brokers_down(TimePoint now) {
        if (!down_since_) down_since_ = now;
    }
    void reachable() { down_since_.reset(); }
    // Down for the bound less the probe: time to confirm with a metadata request.
    bool due(TimePoint now) const { return down_since_ && now - *down_since_ >= bound_ - probe_; }
    std::chrono::milliseconds probe() const { return probe_; }
    std::chrono::milliseconds down_for(TimePoint now) const {
        return down_since_ ? std::chrono::duration_cast<std::chrono::milliseconds>(now - *down_since_)
                           : std::chrono::milliseconds(0);
    }
    std::chrono::milliseconds bound() const { return bound_; }

private:
    std::chrono::milliseconds bound_;
    std::chrono::milliseconds probe_;
    std::optional<TimePoint> down_since_;
};

// A Kafka group consumer for at-least-once processing. It enforces:
//   enable.auto.offset.store=false  only offsets the worker stored (after recording the
//                                   outcome) are ever committed;
//   enable.auto.commit=true         the stored offsets are committed periodically;
//   auto.offset.reset=earliest, enable.partition.eof=false,
//   partition.assignment.strategy=range,roundrobin  (eager: revoke-all then assign).
// With a lost_timeout, every broker unreachable for that long and a failing metadata request
// make fatal_error() report "lost Kafka at <bootstrap>", so a worker stops instead of waiting
// forever on a cluster that is gone.
// Retention gaps: auto.offset.reset=earliest silently carries on from the log start when the
// group's offset is no longer in the log. So the consumer follows each assigned partition's
// position (the committed offset read at assignment, then each record's offset + 1); a record
// past that position while the broker's log starts past it too is an OffsetGap: logged as an
// error and told to the GapListener, and consumption goes on from the log start.
// Throws only from the constructor. poll()/close() must be called from one thread;
// pause/resume/store_offset/commit_sync/assignment may be called from any thread.
// The listener must outlive the consumer (the destructor closes, which revokes).
class KafkaConsumer {
public:
    // properties: client_properties(...) plus group.id (and e.g. session.timeout.ms).
    // lost_timeout zero: never give up on the cluster.
    // gaps: told about retention gaps (may be null; they are logged either way); must outlive
    // the consumer.
    KafkaConsumer(std::map<std::string, std::string> properties, std::vector<std::string> topics,
                  RebalanceListener& listener, std::shared_ptr<spdlog::logger> log,
                  std::chrono::milliseconds lost_timeout = std::chrono::milliseconds(0),
                  GapListener* gaps = nullptr);
    ~KafkaConsumer();
    KafkaConsumer(const KafkaConsumer&) = delete;
    KafkaConsumer& operator=(const KafkaConsumer&) = delete;
    KafkaConsumer(KafkaConsumer&&) = delete;
    KafkaConsumer& operator=(KafkaConsumer&&) = delete;

    // The next record, or nullopt when none arrived within timeout (or after close / a fatal
    // error). Rebalance callbacks run inside. Consumer errors are logged and skipped.
    std::optional<InboundRecord> poll(std::chrono::milliseconds timeout);

    void pause(const std::vector<TopicPartition>& partitions);
    void resume(const std::vector<TopicPartition>& partitions);

    // Marks everything before next_offset as done (record offset + 1). Error when the
    // partition is not assigned to this consumer (anymore).
    Result<bool> store_offset(const TopicPartition& partition, std::int64_t next_offset);
    // Commits the stored offsets now; false when there was nothing new to commit.
    Result<bool> commit_sync();
    // Revokes (listener.on_revoked), commits the stored offsets and leaves the group; after a
    // fatal error (a lost cluster) it does none of that, which would only wait on the network.
    // Idempotent; also called by the destructor.
    void close();
    // Sends the stored offsets without waiting for the answer and gives the group up without a
    // consumer close, whose revoke, commit and leave could each wait on an unreachable
    // coordinator for a socket timeout. For fatal stops.
    void abandon();

    std::vector<TopicPartition> assignment() const;
    std::optional<Error> fatal_error() const;

    // The properties the consumer really runs with: `properties` plus the enforced ones.
    static std::map<std::string, std::string> effective_properties(std::map<std::string, std::string> properties);

    // Bound of each broker request the gap check makes on the polling thread: the committed
    // offsets at assignment, and the log start when no fetch has reported it.
    static constexpr std::chrono::milliseconds kGapCheckTimeout{5000};

private:
    static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t* partitions, void* opaque);
    static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque);
    static void on_log(const rd_kafka_t* rk, int level, const char* facility, const char* text);
    void handle_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions);
    void note_fatal(rd_kafka_t* rk);
    std::optional<InboundRecord> poll_once(std::chrono::milliseconds timeout);
    void check_lost();
    void read_committed(const rd_kafka_topic_partition_list_t* partitions);
    void follow(const rd_kafka_message_t& message);

    // Declared before handle_ so librdkafka's last log lines in rd_kafka_destroy still have it.
    std::shared_ptr<spdlog::logger> log_;
    RebalanceListener& listener_;
    GapListener* gaps_;
    std::string group_;
    // Per assigned partition, the offset its next record should have. Only the polling thread
    // touches it (the rebalance callback runs inside poll and close).
    std::map<TopicPartition, std::int64_t> expected_;
    producers::KafkaHandlePtr handle_;
    bool closed_ = false;
    bool abandoned_ = false;  // closed after a fatal error: destroyed without a consumer close
    mutable std::mutex fatal_mutex_;
    std::optional<Error> fatal_;
    std::string bootstrap_;
    BrokerLossTracker loss_;  // under fatal_mutex_: written from the error callback
};

}  // namespace provbridge::consumers
