#include "provbridge/producers/kafka.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <stdexcept>

#include "provbridge/core/redact.hpp"
#include "provbridge/core/text.hpp"

namespace provbridge::producers {
namespace {

constexpr std::string_view kConfErrorPrefix = "kafka property \"";

bool looks_secret(const std::string& name) {
    const std::string lower = ascii_lower(name);
    constexpr std::array<std::string_view, 5> kMarkers{"password", "secret", "key", "token",
                                                       "jaas"};
    return std::any_of(kMarkers.begin(), kMarkers.end(), [&](std::string_view marker) {
        return lower.find(marker) != std::string::npos;
    });
}

// librdkafka quotes the rejected value in its reason; for a secret that would put it in a
// log line or an exception.
std::string scrub(std::string text, const std::string& value) { return Redactor({value}).redact(std::move(text)); }

}  // namespace

KafkaConfPtr make_conf(const std::map<std::string, std::string>& props) {
    KafkaConfPtr conf(rd_kafka_conf_new());
    if (!conf) throw std::runtime_error("rd_kafka_conf_new failed");
    for (const auto& [name, value] : props) {
        char errstr[512] = {0};
        if (rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK) {
            std::string reason = errstr[0] != '\0' ? errstr : "rejected by librdkafka";
            if (looks_secret(name)) reason = scrub(std::move(reason), value);
            throw std::runtime_error(std::string(kConfErrorPrefix) + name + "\": " + reason);
        }
    }
    return conf;
}

std::string property_of_conf_error(const std::string& what) {
    if (what.rfind(kConfErrorPrefix, 0) != 0) return {};
    const auto end = what.find('"', kConfErrorPrefix.size());
    if (end == std::string::npos) return {};
    return what.substr(kConfErrorPrefix.size(), end - kConfErrorPrefix.size());
}

std::map<std::string, std::string> client_properties(const KafkaConfig& cfg,
                                                     const std::string& bootstrap) {
    std::map<std::string, std::string> props{{"client.id", "provbridge"}};
    for (const auto& [name, value] : cfg.properties) props[name] = value;
    props["bootstrap.servers"] = bootstrap;
    return props;
}

std::vector<Header> headers_from_kafka(const rd_kafka_headers_t* headers) {
    std::vector<Header> out;
    if (headers == nullptr) return out;
    out.reserve(rd_kafka_header_cnt(headers));
    const char* name = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    for (std::size_t i = 0;
         rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
        Header h;
        h.name = name;
        if (value != nullptr) h.value.assign(static_cast<const char*>(value), size);
        out.push_back(std::move(h));
    }
    return out;
}

KafkaHeadersPtr headers_to_kafka(const std::vector<Header>& headers) {
    if (headers.empty()) return nullptr;
    KafkaHeadersPtr out(rd_kafka_headers_new(headers.size()));
    for (const auto& h : headers) {
        rd_kafka_header_add(out.get(), h.name.data(), static_cast<ssize_t>(h.name.size()),
                            h.value.data(), static_cast<ssize_t>(h.value.size()));
    }
    return out;
}

InboundRecord to_inbound_record(const rd_kafka_message_t& message) {
    InboundRecord record;
    if (message.rkt != nullptr) record.topic = rd_kafka_topic_name(message.rkt);
    record.partition = message.partition;
    record.offset = message.offset;
    if (message.key != nullptr) {
        record.key.emplace(static_cast<const char*>(message.key), message.key_len);
    }
    if (message.payload != nullptr) {
        record.value.assign(static_cast<const char*>(message.payload), message.len);
    }
    rd_kafka_headers_t* headers = nullptr;
    if (rd_kafka_message_headers(&message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        record.headers = headers_from_kafka(headers);
    }
    rd_kafka_timestamp_type_t type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
    const std::int64_t ts = rd_kafka_message_timestamp(&message, &type);
    record.timestamp_ms = (type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || ts < 0) ? 0 : ts;
    return record;
}

std::string kafka_error_text(rd_kafka_resp_err_t err) {
    return std::string(rd_kafka_err2str(err)) + " (" + rd_kafka_err2name(err) + ")";
}

ErrorKind error_kind_of(rd_kafka_resp_err_t err) {
    switch (err) {
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
            return ErrorKind::TooLarge;
        case RD_KAFKA_RESP_ERR__AUTHENTICATION:
        case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
        case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
            return ErrorKind::Auth;
        case RD_KAFKA_RESP_ERR_INVALID_MSG:
        case RD_KAFKA_RESP_ERR_INVALID_RECORD:
        case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
        case RD_KAFKA_RESP_ERR__INVALID_ARG:
        case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
        case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
            return ErrorKind::Permanent;
        default:
            return ErrorKind::Transient;
    }
}

std::optional<std::string> check_client_properties(rd_kafka_type_t type,
                                                   const std::map<std::string, std::string>& props) {
    KafkaConfPtr conf(rd_kafka_conf_new());
    if (!conf) return std::string("rd_kafka_conf_new failed");
    char errstr[512] = {0};
    for (const auto& [name, value] : props) {
        if (rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
            return std::string(errstr[0] != '\0' ? errstr : "rejected by librdkafka");
        }
    }
    // The probe never connects; its "no bootstrap.servers" notice and the like would only
    // confuse whoever reads the start-up log.
    rd_kafka_conf_set_log_cb(conf.get(), [](const rd_kafka_t*, int, const char*, const char*) {});
    KafkaHandlePtr handle(rd_kafka_new(type, conf.get(), errstr, sizeof errstr));
    if (!handle) return std::string(errstr[0] != '\0' ? errstr : "rejected by librdkafka");
    conf.release();  // owned by the handle from here on
    // A consumer that never joined has nothing to leave; without the flag destroy would try.
    rd_kafka_destroy_flags(handle.release(), RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    return std::nullopt;
}

}  // namespace provbridge::producers
