#include "provbridge/producers/kafka.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <stdexcept>

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
std::string scrub(std::string text, const std::string& value) {
    if (value.empty()) return text;
    for (std::size_t pos = text.find(value); pos != std::string::npos;
         pos = text.find(value, pos)) {
        text.replace(pos, value.size(), "<redacted>");
        pos += 10;
    }
    return text;
}

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

}  // namespace provbridge::producers
