#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <librdkafka/rdkafka.h>

#include "provbridge/core/config.hpp"
#include "provbridge/core/event.hpp"
#include "provbridge/core/result.hpp"

// The one RAII wrapper per librdkafka handle. Only the Kafka adapter files (producers/,
// consumers/kafka_consumer, ops/embedded_broker) include this header; raw handles stay there.
namespace provbridge::producers {

struct KafkaConfDeleter {
    void operator()(rd_kafka_conf_t* conf) const {
        if (conf != nullptr) rd_kafka_conf_destroy(conf);
    }
};
using KafkaConfPtr = std::unique_ptr<rd_kafka_conf_t, KafkaConfDeleter>;

struct KafkaHandleDeleter {
    void operator()(rd_kafka_t* rk) const {
        if (rk != nullptr) rd_kafka_destroy(rk);
    }
};
using KafkaHandlePtr = std::unique_ptr<rd_kafka_t, KafkaHandleDeleter>;

struct KafkaMessageDeleter {
    void operator()(rd_kafka_message_t* message) const {
        if (message != nullptr) rd_kafka_message_destroy(message);
    }
};
using KafkaMessagePtr = std::unique_ptr<rd_kafka_message_t, KafkaMessageDeleter>;

struct TopicPartitionListDeleter {
    void operator()(rd_kafka_topic_partition_list_t* list) const {
        if (list != nullptr) rd_kafka_topic_partition_list_destroy(list);
    }
};
using TopicPartitionListPtr =
    std::unique_ptr<rd_kafka_topic_partition_list_t, TopicPartitionListDeleter>;

struct KafkaHeadersDeleter {
    void operator()(rd_kafka_headers_t* headers) const {
        if (headers != nullptr) rd_kafka_headers_destroy(headers);
    }
};
using KafkaHeadersPtr = std::unique_ptr<rd_kafka_headers_t, KafkaHeadersDeleter>;

// Builds a librdkafka configuration. Start-up only: a property librdkafka rejects throws
// std::runtime_error whose what() is `kafka property "<name>": <librdkafka's reason>`; the
// caller maps it to ConfigError field kafka.properties.<name>. Values of secret-looking
// properties (password, secret, key, token) are scrubbed from the reason.
KafkaConfPtr make_conf(const std::map<std::string, std::string>& props);

// The property name a make_conf() exception is about (empty if what() has another shape),
// so callers can build the ConfigError field without parsing the text themselves.
std::string property_of_conf_error(const std::string& what);

// Properties shared by every client: bootstrap.servers = `bootstrap` (always wins, it is the
// resolved address), client.id = provbridge unless cfg.properties sets one, then
// cfg.properties. Producer/consumer-specific settings are enforced later by those classes.
std::map<std::string, std::string> client_properties(const KafkaConfig& cfg,
                                                     const std::string& bootstrap);

// rd_kafka headers → value headers. A header with a null value becomes an empty string.
std::vector<Header> headers_from_kafka(const rd_kafka_headers_t* headers);
// Value headers → a fresh rd_kafka header list (nullptr for an empty vector, which is what
// rd_kafka_producev expects for "no headers").
KafkaHeadersPtr headers_to_kafka(const std::vector<Header>& headers);

// A consumed (error-free) message as the worker sees it; timestamp = create time in ms, or 0
// when the broker reports none.
InboundRecord to_inbound_record(const rd_kafka_message_t& message);

// librdkafka's error text with the code name, e.g. "Local: Message timed out (_MSG_TIMED_OUT)".
std::string kafka_error_text(rd_kafka_resp_err_t err);

// What a caller may do about a librdkafka error code: a record over a size limit (local or the
// broker's) is TooLarge, refused credentials or ACLs are Auth, malformed requests Permanent,
// everything else (unreachable, timed out, leader moving) Transient.
ErrorKind error_kind_of(rd_kafka_resp_err_t err);

// Builds a client of `type` from `props` and destroys it again, without connecting (give no
// bootstrap.servers), so the properties librdkafka checks only when a client is created (e.g.
// fetch.max.bytes against message.max.bytes, ssl.ca.location) are checked at start-up too.
// Returns librdkafka's reason when it refuses them. Start-up only.
std::optional<std::string> check_client_properties(rd_kafka_type_t type,
                                                   const std::map<std::string, std::string>& props);

}  // namespace provbridge::producers
