#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "provbridge/core/result.hpp"
#include "provbridge/producers/producer.hpp"

namespace provbridge::ops {

// librdkafka's mock cluster, hosted in this process: a real Kafka-protocol listener on
// 127.0.0.1 (one random port per broker) that kcat and any other client on this host can use.
// For development and tests only: everything is in memory and gone with the object, and each
// partition keeps only ~5 MB (older records are silently trimmed). It has no record size limit
// of its own: it takes any request up to receive.message.max.bytes of its hosting handle (set to
// librdkafka's maximum here) and serves a record of any size. Group rebalances use fixed timers
// (~3 s first join, session.timeout.ms - 1000 after any join, leave or session expiry).
// Move-only RAII; a moved-from broker may only be destroyed or assigned to.
class EmbeddedBroker {
public:
    struct Topic {
        std::string name;
        int partitions = 1;
    };

    // Starts `brokers` brokers and creates `topics` (replication factor min(3, brokers)).
    // Throws std::runtime_error on failure (start-up only). log: optional sink for the
    // cluster's librdkafka log lines; without it only errors reach stderr.
    EmbeddedBroker(int brokers, const std::vector<Topic>& topics, producers::KafkaLogFn log = {});
    ~EmbeddedBroker();
    EmbeddedBroker(EmbeddedBroker&&) noexcept;
    EmbeddedBroker& operator=(EmbeddedBroker&&) noexcept;
    EmbeddedBroker(const EmbeddedBroker&) = delete;
    EmbeddedBroker& operator=(const EmbeddedBroker&) = delete;

    // host:port,host:port,… for bootstrap.servers.
    const std::string& bootstrap_servers() const;
    int broker_count() const;

    // Creates another topic (any topic named in a Metadata request is auto-created with 4
    // partitions anyway; this fixes the partition count).
    Result<bool> create_topic(const Topic& topic);

    // Fault injection: a down broker drops its connections and refuses new ones (partition
    // leadership does not move). broker_id runs from 1 to broker_count(); -1 means all.
    Result<bool> set_broker_up(std::int32_t broker_id, bool up);

    // Fault injection: the next requests of one API (kProduceApi, ...), from any client, are
    // answered with these errors, one request each, e.g. MSG_SIZE_TOO_LARGE as a broker whose
    // topic limit a record exceeds would.
    static constexpr std::int16_t kProduceApi = 0;
    Result<bool> fail_next_requests(std::int16_t api_key, const std::vector<rd_kafka_resp_err_t>& errors);

    // Whether a cluster id (from a metadata answer) is an embedded broker's, so a worker that
    // reaches `provbridge broker` by address still knows it talks to the mock and can use its
    // short group timers. librdkafka names every mock cluster "mockCluster<hex>".
    static bool is_embedded_cluster_id(std::string_view cluster_id);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace provbridge::ops
