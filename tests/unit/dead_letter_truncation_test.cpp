#include <algorithm>
#include <string>

#include <gtest/gtest.h>

#include "provbridge/consumers/kafka_consumer.hpp"
#include "provbridge/producers/kafka.hpp"
#include "provbridge/producers/producer.hpp"

namespace provbridge::producers {
namespace {

namespace h = dead_letter_headers;

const Header* find(const std::vector<Header>& headers, std::string_view name) {
    const auto it = std::find_if(headers.begin(), headers.end(), [&](const Header& x) { return x.name == name; });
    return it == headers.end() ? nullptr : &*it;
}

std::size_t count(const std::vector<Header>& headers, std::string_view name) {
    return static_cast<std::size_t>(
        std::count_if(headers.begin(), headers.end(), [&](const Header& x) { return x.name == name; }));
}

InboundRecord big_record(std::size_t value_bytes) {
    InboundRecord r;
    r.topic = "provisioning.events";
    r.partition = 2;
    r.offset = 41;
    r.key = "crm/user/42";
    r.value.assign(value_bytes, 'x');
    r.value.replace(0, 5, "HEAD:");
    r.headers = {{"traceparent", "00-abc-01"}, {"ce_id", "e-1"}};
    return r;
}

DeadLetterInfo why() {
    DeadLetterInfo info;
    info.code = "InvalidEvent";
    info.reason = "event is 3145728 bytes, over the 1048576 allowed";
    info.stage = "parse";
    info.failed_at_ms = 1714557600123;
    return info;
}

TEST(Sha256, MatchesTheStandardVectors) {
    EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(sha256_hex(std::string("a\0b", 3)).size(), 64U);  // binary-safe
}

TEST(TruncatedDeadLetter, KeepsTheFirstBytesWithSizeDigestAndContext) {
    const auto original = big_record(3 * 1024 * 1024);
    const auto out = truncated_dead_letter(original, why());
    EXPECT_EQ(out.value.size(), 64U * 1024);
    EXPECT_EQ(out.value, original.value.substr(0, 64 * 1024));
    EXPECT_EQ(out.key, original.key);
    ASSERT_NE(find(out.headers, h::kTruncated), nullptr);
    EXPECT_EQ(find(out.headers, h::kTruncated)->value, "true");
    EXPECT_EQ(find(out.headers, h::kOriginalSize)->value, std::to_string(original.value.size()));
    EXPECT_EQ(find(out.headers, h::kOriginalSha256)->value, sha256_hex(original.value));
    EXPECT_EQ(find(out.headers, h::kErrorCode)->value, "InvalidEvent");
    EXPECT_EQ(find(out.headers, h::kErrorReason)->value, why().reason);
    EXPECT_EQ(find(out.headers, h::kSourceOffset)->value, "41");
    EXPECT_EQ(find(out.headers, "traceparent")->value, "00-abc-01");  // small originals are kept
    EXPECT_EQ(find(out.headers, h::kHeadersDropped), nullptr);
    EXPECT_EQ(find(out.headers, h::kOriginalKeySize), nullptr);
}

TEST(TruncatedDeadLetter, StaysSmallWhateverIsLarge) {
    auto original = big_record(10);
    original.key = std::string(100000, 'k');
    original.headers = {{"small", "1"}, {"huge", std::string(200000, 'h')}, {"after", "2"}};
    auto info = why();
    info.reason = std::string(100000, 'r');
    TruncationLimits limits;
    const auto out = truncated_dead_letter(original, info, limits);
    ASSERT_TRUE(out.key.has_value());
    EXPECT_EQ(out.key->size(), limits.key_bytes);
    EXPECT_EQ(find(out.headers, h::kOriginalKeySize)->value, "100000");
    EXPECT_EQ(out.value, original.value);  // a short value is kept whole
    EXPECT_NE(find(out.headers, "small"), nullptr);
    EXPECT_EQ(find(out.headers, "huge"), nullptr);
    EXPECT_EQ(find(out.headers, "after"), nullptr);  // kept headers stay a prefix of the originals
    EXPECT_EQ(find(out.headers, h::kHeadersDropped)->value, "2");
    EXPECT_EQ(find(out.headers, h::kErrorReason)->value.size(), limits.reason_bytes);
    std::size_t total = out.key->size() + out.value.size();
    for (const auto& header : out.headers) total += header.name.size() + header.value.size();
    EXPECT_LT(total, limits.value_bytes + limits.key_bytes + limits.header_bytes + limits.reason_bytes + 1024);
}

TEST(TruncatedDeadLetter, MinimalFormCarriesOnlyContextAndDigest) {
    const auto original = big_record(2 * 1024 * 1024);
    const auto out = truncated_dead_letter(original, why(), TruncationLimits{0, 0, 0, 256});
    EXPECT_TRUE(out.value.empty());
    EXPECT_EQ(find(out.headers, "traceparent"), nullptr);
    EXPECT_EQ(find(out.headers, h::kHeadersDropped)->value, "2");
    EXPECT_EQ(find(out.headers, h::kOriginalSha256)->value, sha256_hex(original.value));
    EXPECT_EQ(find(out.headers, h::kErrorCode)->value, "InvalidEvent");
}

TEST(TruncatedDeadLetter, AReplayedTruncatedRecordCarriesEachContextHeaderOnce) {
    const auto first = truncated_dead_letter(big_record(100000), why());
    InboundRecord replayed = big_record(100000);
    replayed.headers = first.headers;
    const auto again = truncated_dead_letter(replayed, why());
    for (const auto name : {h::kTruncated, h::kOriginalSize, h::kOriginalSha256, h::kErrorCode}) {
        EXPECT_EQ(count(again.headers, name), 1U) << name;
    }
    EXPECT_EQ(count(dead_letter_record_headers(replayed, why()), h::kTruncated), 0U);
}

TEST(KafkaErrorKind, SizeAuthAndTransientAreTold) {
    EXPECT_EQ(error_kind_of(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE), ErrorKind::TooLarge);
    EXPECT_EQ(error_kind_of(RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE), ErrorKind::TooLarge);
    EXPECT_EQ(error_kind_of(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED), ErrorKind::Auth);
    EXPECT_EQ(error_kind_of(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT), ErrorKind::Transient);
    EXPECT_EQ(error_kind_of(RD_KAFKA_RESP_ERR__TRANSPORT), ErrorKind::Transient);
}

TEST(KafkaProducerSetup, ARecordOverMessageMaxBytesIsTooLargeAtOnce) {
    // No broker needed (none is configured): librdkafka refuses it before queueing.
    KafkaProducer producer(std::map<std::string, std::string>{{"message.max.bytes", "10000"}, {"log_level", "4"}});
    auto report = producer.send("t", std::nullopt, std::string(20000, 'x')).get();
    ASSERT_FALSE(report.ok());
    EXPECT_EQ(report.error().kind, ErrorKind::TooLarge);
}

TEST(ClientPropertiesCheck, CatchesWhatOnlyClientCreationChecks) {
    EXPECT_FALSE(check_client_properties(RD_KAFKA_CONSUMER, {{"group.id", "g"}}).has_value());
    const auto refused =
        check_client_properties(RD_KAFKA_CONSUMER, {{"group.id", "g"}, {"fetch.max.bytes", "1000"}});
    ASSERT_TRUE(refused.has_value());
    EXPECT_FALSE(refused->empty());
    EXPECT_TRUE(check_client_properties(RD_KAFKA_PRODUCER, {{"linger.ms", "soon"}}).has_value());
}

}  // namespace
}  // namespace provbridge::producers

namespace provbridge::consumers {
namespace {

using namespace std::chrono_literals;

TEST(BrokerLossTracker, ProbesSoThatTheVerdictComesAtTheBound) {
    BrokerLossTracker loss(10s);  // the probe takes 2 s of it
    EXPECT_EQ(loss.probe(), 2s);
    const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
    EXPECT_FALSE(loss.due(t0 + 1h));  // no outage reported
    loss.all_brokers_down(t0);
    loss.all_brokers_down(t0 + 7s);  // a repeat does not restart the clock
    EXPECT_FALSE(loss.due(t0 + 7999ms));
    EXPECT_TRUE(loss.due(t0 + 8s));
    EXPECT_EQ(loss.down_for(t0 + 12s), 12s);
    loss.reachable();
    EXPECT_FALSE(loss.due(t0 + 1h));
    loss.all_brokers_down(t0 + 20s);  // a new outage starts a new clock
    EXPECT_FALSE(loss.due(t0 + 27s));
    EXPECT_TRUE(loss.due(t0 + 28s));
    EXPECT_EQ(BrokerLossTracker(2s).probe(), 1s);  // never more than half a short bound
}

}  // namespace
}  // namespace provbridge::consumers
