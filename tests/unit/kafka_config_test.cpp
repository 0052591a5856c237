#include <string>

#include <gtest/gtest.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/null_sink.h>

#include "provbridge/consumers/kafka_consumer.hpp"
#include "provbridge/producers/kafka.hpp"
#include "provbridge/producers/producer.hpp"

namespace provbridge::producers {
namespace {

std::string conf_get(rd_kafka_conf_t* conf, const char* name) {
    char value[512] = {0};
    std::size_t size = sizeof value;
    EXPECT_EQ(rd_kafka_conf_get(conf, name, value, &size), RD_KAFKA_CONF_OK) << name;
    return value;
}

std::string conf_error(const std::map<std::string, std::string>& props) {
    try {
        make_conf(props);
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    ADD_FAILURE() << "make_conf accepted the properties";
    return {};
}

TEST(KafkaConf, AppliesKnownProperties) {
    KafkaConfPtr conf = make_conf({{"linger.ms", "7"}, {"client.id", "abc"}});
    ASSERT_NE(conf, nullptr);
    EXPECT_EQ(conf_get(conf.get(), "linger.ms"), "7");
    EXPECT_EQ(conf_get(conf.get(), "client.id"), "abc");
}

TEST(KafkaConf, RejectsUnknownPropertyNamingIt) {
    const std::string what = conf_error({{"linger.ms", "5"}, {"no.such.property", "1"}});
    EXPECT_NE(what.find("\"no.such.property\""), std::string::npos) << what;
    EXPECT_NE(what.find("No such configuration property"), std::string::npos) << what;
    EXPECT_EQ(property_of_conf_error(what), "no.such.property");
}

TEST(KafkaConf, RejectsBadValueWithLibrdkafkasReason) {
    const std::string what = conf_error({{"acks", "banana"}});
    EXPECT_EQ(property_of_conf_error(what), "acks");
    EXPECT_NE(what.find("Invalid value"), std::string::npos) << what;
}

TEST(KafkaConf, PropertyOfConfErrorIgnoresOtherMessages) {
    EXPECT_EQ(property_of_conf_error("something else"), "");
    EXPECT_EQ(property_of_conf_error("kafka property \"unterminated"), "");
}

TEST(KafkaConf, ClientPropertiesMergeConfigAndKeepTheResolvedBootstrap) {
    KafkaConfig cfg;
    cfg.properties = {{"session.timeout.ms", "6000"}, {"bootstrap.servers", "stale:9092"}};
    auto props = client_properties(cfg, "127.0.0.1:1234,127.0.0.1:5678");
    EXPECT_EQ(props.at("bootstrap.servers"), "127.0.0.1:1234,127.0.0.1:5678");
    EXPECT_EQ(props.at("session.timeout.ms"), "6000");
    EXPECT_EQ(props.at("client.id"), "provbridge");

    cfg.properties["client.id"] = "bridge-7";
    EXPECT_EQ(client_properties(cfg, "b:1").at("client.id"), "bridge-7");
}

TEST(KafkaHeaders, RoundTripKeepsOrderDuplicatesAndBinaryValues) {
    const std::string binary("a\0b\xff", 4);
    const std::vector<Header> headers{
        {"ce_id", "e1"}, {"x-dup", "1"}, {"x-empty", ""}, {"x-dup", "2"}, {"bin", binary}};
    KafkaHeadersPtr kafka = headers_to_kafka(headers);
    ASSERT_NE(kafka, nullptr);
    EXPECT_EQ(rd_kafka_header_cnt(kafka.get()), headers.size());
    const auto back = headers_from_kafka(kafka.get());
    ASSERT_EQ(back.size(), headers.size());
    for (std::size_t i = 0; i < headers.size(); ++i) {
        EXPECT_EQ(back[i].name, headers[i].name) << i;
        EXPECT_EQ(back[i].value, headers[i].value) << i;
    }
}

TEST(KafkaHeaders, NullValueBecomesEmptyAndEmptyListIsNull) {
    EXPECT_EQ(headers_to_kafka({}), nullptr);
    EXPECT_TRUE(headers_from_kafka(nullptr).empty());
    KafkaHeadersPtr kafka(rd_kafka_headers_new(1));
    rd_kafka_header_add(kafka.get(), "tombstone", -1, nullptr, 0);
    const auto back = headers_from_kafka(kafka.get());
    ASSERT_EQ(back.size(), 1U);
    EXPECT_EQ(back[0].name, "tombstone");
    EXPECT_EQ(back[0].value, "");
}

TEST(KafkaProducerSetup, BadPropertyFailsAtConstruction) {
    try {
        KafkaProducer producer({{"bootstrap.servers", "127.0.0.1:1"}, {"linger.msx", "5"}});
        FAIL() << "producer accepted an unknown property";
    } catch (const std::runtime_error& e) {
        EXPECT_EQ(property_of_conf_error(e.what()), "linger.msx") << e.what();
    }
}

TEST(DeadLetterHeaders, KeepOriginalsAndAddContext) {
    InboundRecord original;
    original.topic = "provisioning.events";
    original.partition = 3;
    original.offset = 1234;
    original.headers = {{"content-type", "application/cloudevents+json"},
                        {"provbridge.error.code", "Old"},
                        {"x-trace", "abc"}};
    DeadLetterInfo info;
    info.code = "InvalidEvent";
    info.reason = "id: is required";
    info.stage = "parse";
    info.attempts = 4;
    info.failed_at_ms = 1700000000123;
    const auto headers = dead_letter_record_headers(original, info);
    ASSERT_EQ(headers.size(), 10U);
    EXPECT_EQ(headers[0].name, "content-type");
    EXPECT_EQ(headers[1].name, "x-trace");  // the stale context header is replaced, not kept
    const std::vector<std::pair<std::string, std::string>> expected{
        {"provbridge.error.code", "InvalidEvent"},
        {"provbridge.error.reason", "id: is required"},
        {"provbridge.error.stage", "parse"},
        {"provbridge.source.topic", "provisioning.events"},
        {"provbridge.source.partition", "3"},
        {"provbridge.source.offset", "1234"},
        {"provbridge.attempts", "4"},
        {"provbridge.failed_at", "2023-11-14T22:13:20.123Z"}};
    for (std::size_t i = 0; i < expected.size(); ++i) {
        EXPECT_EQ(headers[2 + i].name, expected[i].first);
        EXPECT_EQ(headers[2 + i].value, expected[i].second) << expected[i].first;
    }
}

TEST(Rfc3339, FormatsUtcWithMilliseconds) {
    EXPECT_EQ(format_rfc3339_utc(0), "1970-01-01T00:00:00.000Z");
    EXPECT_EQ(format_rfc3339_utc(1700000000123), "2023-11-14T22:13:20.123Z");
    EXPECT_EQ(format_rfc3339_utc(951782400000), "2000-02-29T00:00:00.000Z");
    EXPECT_EQ(format_rfc3339_utc(-1), "1969-12-31T23:59:59.999Z");
}

}  // namespace
}  // namespace provbridge::producers

namespace provbridge::consumers {
namespace {

class NoopListener final : public RebalanceListener {
public:
    void on_assigned(const std::vector<TopicPartition>&) override {}
    void on_revoked(const std::vector<TopicPartition>&) override {}
};

TEST(KafkaConsumerSetup, RequiresGroupIdBeforeTouchingTheNetwork) {
    NoopListener listener;
    auto log = std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
    try {
        KafkaConsumer consumer({{"bootstrap.servers", "127.0.0.1:1"}}, {"t"}, listener, log);
        FAIL() << "consumer without group.id was accepted";
    } catch (const std::runtime_error& e) {
        EXPECT_EQ(producers::property_of_conf_error(e.what()), "group.id") << e.what();
    }
}

TEST(KafkaConsumerSetup, BadPropertyFailsAtConstruction) {
    NoopListener listener;
    auto log = std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
    try {
        KafkaConsumer consumer({{"group.id", "g"}, {"session.timeout.ms", "soon"}}, {"t"}, listener, log);
        FAIL() << "bad session.timeout.ms was accepted";
    } catch (const std::runtime_error& e) {
        EXPECT_EQ(producers::property_of_conf_error(e.what()), "session.timeout.ms") << e.what();
    }
}

}  // namespace
}  // namespace provbridge::consumers
