#include <string>

#include <gtest/gtest.h>

#include "provbridge/core/config.hpp"
#include "provbridge/ops/bridge.hpp"
#include "provbridge/ops/embedded_broker.hpp"

namespace provbridge::ops {
namespace {

Config config_with(const std::string& kafka) {
    return parse_config(R"({"kafka":)" + kafka +
                            R"(,"apps":[{"id":"a","scim":{"base_url":"https://x","token_env":"T"}}]})",
                        "bridge.json", {});
}

ConfigError refusal(const Config& config, const Environment& env = {}) {
    try {
        Bridge::check_kafka_properties(config, env);
    } catch (const ConfigError& e) {
        return e;
    }
    ADD_FAILURE() << "the Kafka properties were accepted";
    return ConfigError("", "", "");
}

TEST(KafkaPropertyCheck, AcceptsAWorkingConfiguration) {
    EXPECT_NO_THROW(Bridge::check_kafka_properties(
        config_with(R"({"properties": {"client.id": "w"}, "consumer_properties": {"session.timeout.ms": "6000"},
                        "producer_properties": {"linger.ms": "5"}})"),
        {}));
}

TEST(KafkaPropertyCheck, NamesTheFieldOfABadValueInEachSection) {
    const auto props = refusal(config_with(R"({"properties": {"socket.timeout.ms": "soon"}})"));
    EXPECT_EQ(props.file(), "bridge.json");
    EXPECT_EQ(props.field(), "kafka.properties.socket.timeout.ms");
    EXPECT_EQ(refusal(config_with(R"({"consumer_properties": {"session.timeout.ms": "soon"}})")).field(),
              "kafka.consumer_properties.session.timeout.ms");
    EXPECT_EQ(refusal(config_with(R"({"producer_properties": {"linger.ms": "soon"}})")).field(),
              "kafka.producer_properties.linger.ms");
    EXPECT_EQ(refusal(config_with(R"({"producer_properties": {"no.such.property": "1"}})")).field(),
              "kafka.producer_properties.no.such.property");
}

TEST(KafkaPropertyCheck, NamesTheFieldOfWhatOnlyClientCreationRefuses) {
    // Each value is valid alone; librdkafka refuses them only when it builds the client.
    const auto fetch = refusal(config_with(R"({"consumer_properties": {"fetch.max.bytes": "1000"}})"));
    EXPECT_EQ(fetch.field(), "kafka.consumer_properties.fetch.max.bytes");
    EXPECT_FALSE(fetch.reason().empty());
    EXPECT_EQ(refusal(config_with(R"({"properties": {"security.protocol": "ssl", "ssl.ca.location": "/nonexistent/ca.pem"}})"))
                  .field()
                  .rfind("kafka.properties.", 0),
              0U);
    const auto linger = refusal(config_with(R"({"producer_properties": {"linger.ms": "20000"}, "lost_timeout_ms": 10000})"));
    EXPECT_EQ(linger.field(), "kafka.producer_properties.linger.ms");  // must stay below the delivery timeout
}

TEST(KafkaPropertyCheck, SecretPropertiesAreResolvedAndNeverQuoted) {
    const auto config = config_with(R"({"properties": {"security.protocol": "sasl_plaintext", "sasl.mechanisms": "PLAIN",
                                                         "sasl.username": "bridge"},
                                        "secret_properties": {"sasl.password": {"env": "KAFKA_PASSWORD"}}})");
    EXPECT_NO_THROW(Bridge::check_kafka_properties(config, {{"KAFKA_PASSWORD", "pw-secret-1"}}));
    EXPECT_EQ(refusal(config, {}).field(), "kafka.secret_properties.sasl.password.env");
    // A refused secret value is named by its field, its value is never repeated.
    const auto bad = config_with(R"({"secret_properties": {"sasl.kerberos.min.time.before.relogin": {"env": "V"}}})");
    const auto e = refusal(bad, {{"V", "not-a-number-secret"}});
    EXPECT_EQ(e.field(), "kafka.secret_properties.sasl.kerberos.min.time.before.relogin");
    EXPECT_EQ(std::string(e.what()).find("not-a-number-secret"), std::string::npos) << e.what();
}

TEST(KafkaClientSettings, EmbeddedBrokerGetsShortGroupTimersUnlessConfigured) {
    const auto plain = config_with(R"({"bootstrap_servers": "k:9092"})");
    const auto real = Bridge::consumer_properties(plain, "k:9092", false);
    EXPECT_EQ(real.count("session.timeout.ms"), 0U);  // a real cluster keeps librdkafka's defaults
    const auto mock = Bridge::consumer_properties(plain, "k:9092", true);
    EXPECT_EQ(mock.at("session.timeout.ms"), std::to_string(Bridge::kEmbeddedSessionTimeoutMs));
    EXPECT_EQ(mock.at("heartbeat.interval.ms"), std::to_string(Bridge::kEmbeddedHeartbeatIntervalMs));
    EXPECT_EQ(mock.at("fetch.wait.max.ms"), "10");
    const auto own = Bridge::consumer_properties(
        config_with(R"({"consumer_properties": {"session.timeout.ms": "8000"}})"), "k:9092", true);
    EXPECT_EQ(own.at("session.timeout.ms"), "8000");
    EXPECT_TRUE(EmbeddedBroker::is_embedded_cluster_id("mockCluster1f2e3d"));
    EXPECT_FALSE(EmbeddedBroker::is_embedded_cluster_id("lkc-1234"));
    EXPECT_FALSE(EmbeddedBroker::is_embedded_cluster_id(""));
}

TEST(KafkaClientSettings, StaticMembershipAndSecretsReachTheConsumer) {
    const auto config = config_with(R"({"group_instance_id": "worker-3",
                                        "secret_properties": {"sasl.password": {"env": "P"}}})");
    const auto props = Bridge::consumer_properties(config, "k:9092", false, {{"sasl.password", "pw"}});
    EXPECT_EQ(props.at("group.instance.id"), "worker-3");
    EXPECT_EQ(props.at("group.id"), "provbridge");
    EXPECT_EQ(props.at("sasl.password"), "pw");
    EXPECT_EQ(Bridge::consumer_properties(config_with("{}"), "k:9092", false).count("group.instance.id"), 0U);
}

TEST(KafkaClientSettings, DeadLetterProducerTakesWhatTheConsumerCanReceiveWithinTheLostBound) {
    const auto defaults = Bridge::dead_letter_producer_properties(config_with(R"({"lost_timeout_ms": 4000})"), "k:9092");
    EXPECT_EQ(defaults.at("message.max.bytes"), std::to_string(Bridge::kConsumerReceiveMaxBytes));
    EXPECT_EQ(defaults.at("message.timeout.ms"), "4000");
    const auto receive = Bridge::dead_letter_producer_properties(
        config_with(R"({"consumer_properties": {"receive.message.max.bytes": "300000000"}})"), "k:9092");
    EXPECT_EQ(receive.at("message.max.bytes"), "300000000");
    const auto own = Bridge::dead_letter_producer_properties(
        config_with(R"({"producer_properties": {"message.max.bytes": "2097152"}})"), "k:9092");
    EXPECT_EQ(own.at("message.max.bytes"), "2097152");  // an explicit limit is kept: beyond it, truncated
}

TEST(ConfiguredSecrets, ListsEverySecretTheConfigurationResolvesTo) {
    const auto config = parse_config(
        R"({"kafka": {"secret_properties": {"sasl.password": {"env": "KP"}, "ssl.key.password": {"env": "KK"}}},
            "redis": {"password_env": "RP"},
            "apps": [{"id": "a", "scim": {"base_url": "https://x", "token_env": "TA"}},
                     {"id": "b", "scim": {"base_url": "https://y", "token_env": "TB"}}]})",
        "bridge.json", {});
    auto secrets = configured_secrets(config, {{"KP", "kp"}, {"KK", "kk"}, {"RP", "rp"}, {"TA", "ta"}, {"TB", "tb"}});
    std::sort(secrets.begin(), secrets.end());
    EXPECT_EQ(secrets, (std::vector<std::string>{"kk", "kp", "rp", "ta", "tb"}));
    EXPECT_THROW(configured_secrets(config, {{"KP", "kp"}}), ConfigError);
}

}  // namespace
}  // namespace provbridge::ops
