// Hermetic parts of the Redis adapter: option mapping, error kinds, RESP decoding (through
// hiredis' reader, no socket), and which counter and key an outcome lands in.

#include <string>

#include <gtest/gtest.h>

#include "provbridge/consumers/redis.hpp"
#include "provbridge/consumers/redis_store.hpp"

namespace provbridge::consumers {
namespace {

using namespace std::chrono_literals;

TEST(RedisOptionsTest, MapsTheConfigurationAndTakesTheResolvedPassword) {
    RedisConfig config;
    config.host = "redis.internal";
    config.port = 6380;
    config.database = 3;
    config.timeout = 750ms;
    config.password.env = "REDIS_PASSWORD";
    const auto options = redis_options(config, "hunter2");
    EXPECT_EQ(options.host, "redis.internal");
    EXPECT_EQ(options.port, 6380);
    EXPECT_EQ(options.database, 3);
    EXPECT_EQ(options.timeout, 750ms);
    EXPECT_EQ(options.password, "hunter2");
}

TEST(RedisErrorKindTest, RoundTripsThroughTheMessage) {
    for (const auto kind : {RedisErrorKind::Io, RedisErrorKind::Timeout, RedisErrorKind::Reply,
                            RedisErrorKind::Protocol}) {
        const auto error = make_redis_error(kind, "127.0.0.1:6379: GET", "detail");
        EXPECT_EQ(redis_error_kind(error), kind) << error.message;
        EXPECT_NE(error.message.find("127.0.0.1:6379: GET: detail"), std::string::npos);
    }
}

TEST(RedisErrorKindTest, OtherErrorsHaveNoKind) {
    EXPECT_EQ(redis_error_kind(make_error("corrupt outcome record at k")), std::nullopt);
    EXPECT_EQ(redis_error_kind(make_error("redis iox: not one of ours")), std::nullopt);
    EXPECT_EQ(redis_error_kind(make_error("")), std::nullopt);
}

TEST(RespParseTest, DecodesScalars) {
    auto status = parse_resp("+OK\r\n");
    ASSERT_TRUE(status) << status.error().message;
    EXPECT_EQ(status->type, RedisValue::Type::Status);
    EXPECT_EQ(status->str, "OK");

    auto integer = parse_resp(":-42\r\n");
    ASSERT_TRUE(integer);
    EXPECT_EQ(integer->type, RedisValue::Type::Integer);
    EXPECT_EQ(integer->integer, -42);

    auto nil = parse_resp("$-1\r\n");
    ASSERT_TRUE(nil);
    EXPECT_TRUE(nil->is_nil());

    auto error = parse_resp("-NOSCRIPT No matching script\r\n");
    ASSERT_TRUE(error);
    EXPECT_EQ(error->type, RedisValue::Type::Error);
    EXPECT_EQ(error->str, "NOSCRIPT No matching script");
}

TEST(RespParseTest, BulkStringsAreBinarySafe) {
    const std::string payload("a\0b\r\nc", 6);
    auto value = parse_resp(std::string("$6\r\n") + payload + "\r\n");
    ASSERT_TRUE(value) << value.error().message;
    EXPECT_EQ(value->type, RedisValue::Type::String);
    EXPECT_EQ(value->str, payload);
}

TEST(RespParseTest, DecodesNestedArraysAsXreadReturnsThem) {
    // [[key, [[id, [field, value]]]]]
    const std::string bytes =
        "*1\r\n*2\r\n$3\r\nlog\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$8\r\nevent_id\r\n$2\r\ne1\r\n";
    auto value = parse_resp(bytes);
    ASSERT_TRUE(value) << value.error().message;
    ASSERT_EQ(value->type, RedisValue::Type::Array);
    const auto& stream = value->elements.at(0);
    EXPECT_EQ(stream.elements.at(0).str, "log");
    const auto& entry = stream.elements.at(1).elements.at(0);
    EXPECT_EQ(entry.elements.at(0).str, "1-0");
    EXPECT_EQ(entry.elements.at(1).elements.at(0).str, "event_id");
    EXPECT_EQ(entry.elements.at(1).elements.at(1).str, "e1");
}

TEST(RespParseTest, IncompleteOrGarbledInputIsAProtocolError) {
    auto incomplete = parse_resp("*2\r\n:1\r\n");
    ASSERT_FALSE(incomplete);
    EXPECT_EQ(redis_error_kind(incomplete.error()), RedisErrorKind::Protocol);

    auto garbled = parse_resp("?what\r\n");
    ASSERT_FALSE(garbled);
    EXPECT_EQ(redis_error_kind(garbled.error()), RedisErrorKind::Protocol);
}

OutcomeRecord outcome(Action action, OutcomeStatus status) {
    OutcomeRecord record;
    record.action = action;
    record.status = status;
    return record;
}

TEST(StatsCounterTest, NamesTheCounterOfEachOutcome) {
    EXPECT_EQ(stats_counter(outcome(Action::Create, OutcomeStatus::Applied)), "created");
    EXPECT_EQ(stats_counter(outcome(Action::Update, OutcomeStatus::Applied)), "updated");
    EXPECT_EQ(stats_counter(outcome(Action::Disable, OutcomeStatus::Applied)), "disabled");
    EXPECT_EQ(stats_counter(outcome(Action::Delete, OutcomeStatus::Applied)), "deleted");
    EXPECT_EQ(stats_counter(outcome(Action::Link, OutcomeStatus::Applied)), "linked");
    EXPECT_EQ(stats_counter(outcome(Action::None, OutcomeStatus::Applied)), "applied_other");
    // Skipped and dead-lettered count as such whatever action had been planned.
    EXPECT_EQ(stats_counter(outcome(Action::Update, OutcomeStatus::Skipped)), "skipped");
    EXPECT_EQ(stats_counter(outcome(Action::Create, OutcomeStatus::DeadLettered)), "dead_lettered");
}

TEST(OutcomeKeyTest, EventsAreKeyedByIdAndInvalidRecordsByPosition) {
    const KeyScheme keys("pb");
    OutcomeRecord record;
    record.app = "leapsome";
    record.source = "urn:directory:contoso";
    record.event_id = "e-1";
    record.topic = "provisioning.events";
    record.partition = 1;
    record.offset = 9;
    EXPECT_EQ(outcome_key(keys, record), keys.event("leapsome", "urn:directory:contoso", "e-1"));

    record.event_id.clear();
    EXPECT_EQ(outcome_key(keys, record),
              keys.invalid_record("leapsome", "provisioning.events", 1, 9));

    record.app.clear();
    EXPECT_EQ(outcome_key(keys, record),
              keys.invalid_record(KeyScheme::kInvalidApp, "provisioning.events", 1, 9));
}

}  // namespace
}  // namespace provbridge::consumers
