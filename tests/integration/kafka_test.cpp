#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <vector>

#include <gtest/gtest.h>

#include "broker_fixture.hpp"
#include "kafka_inspect.hpp"
#include "provbridge/consumers/kafka_consumer.hpp"
#include "provbridge/ops/embedded_broker.hpp"
#include "provbridge/ops/process.hpp"
#include "provbridge/producers/event_file.hpp"
#include "provbridge/producers/producer.hpp"

namespace provbridge {
namespace {

using namespace std::chrono_literals;
using consumers::KafkaConsumer;
using producers::DeadLetterInfo;
using producers::DeadLetterPublisher;
using producers::KafkaProducer;
using test_support::BrokerTest;
using test_support::RecordingListener;
using test_support::consume;
using test_support::consumer_properties;
using test_support::poll_until_assigned;
using test_support::test_logger;

constexpr auto kJoinDeadline = 30s;
constexpr auto kDeliveryTimeout = 10s;

std::map<std::string, std::string> producer_properties(const std::string& bootstrap) {
    return {{"bootstrap.servers", bootstrap}, {"linger.ms", "5"}};
}

// Runs a command to completion and returns its stdout lines; fails the test on a non-zero exit.
std::vector<std::string> run_command(std::vector<std::string> argv, std::chrono::milliseconds timeout = 20s) {
    ops::ChildProcess::Options options;
    options.argv = std::move(argv);
    ops::ChildProcess child(std::move(options));
    std::vector<std::string> lines;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        auto line = child.read_line(left);
        if (!line) break;  // EOF (or deadline)
        lines.push_back(std::move(*line));
    }
    const auto status = child.wait(5s);
    EXPECT_TRUE(status.has_value()) << "command did not exit";
    if (status) {
        EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "exit status " << *status;
    }
    return lines;
}

std::string user_event(const std::string& id, const std::string& app, const std::string& user, int version) {
    return R"({"specversion":"1.0","id":")" + id +
           R"(","source":"urn:directory:contoso","type":"provisioning.user.updated","data":{"app":")" + app +
           R"(","object":{"type":"user","id":")" + user + R"(","version":)" + std::to_string(version) +
           R"(,"attributes":{"displayName":"User )" + user + R"("}}}})";
}

const Header* find_header(const std::vector<Header>& headers, const std::string& name) {
    const auto it = std::find_if(headers.begin(), headers.end(), [&](const Header& h) { return h.name == name; });
    return it == headers.end() ? nullptr : &*it;
}

// Gaps as the consumer reports them.
class RecordingGapListener : public consumers::GapListener {
public:
    struct Report {
        std::string group;
        TopicPartition partition;
        consumers::OffsetGap gap;
    };
    void on_offset_gap(const std::string& group, const TopicPartition& partition,
                       const consumers::OffsetGap& gap) override {
        reports.push_back({group, partition, gap});
    }
    std::vector<Report> reports;  // the polling thread is the test's
};

// More than the embedded broker keeps of a partition (5 MB), so its log start moves on.
void overflow_partition(KafkaProducer& producer, const std::string& topic) {
    const std::string filler(100 * 1024, 'f');
    std::vector<std::future<Result<producers::DeliveryReport>>> sent;
    for (int i = 0; i < 60; ++i) sent.push_back(producer.send(topic, "filler", filler, {}));
    for (auto& report : sent) ASSERT_TRUE(report.get().ok());
}

class KafkaIntegration : public BrokerTest {};

TEST_F(KafkaIntegration, KcatListsCreatedTopicsWithPartitionCounts) {
    const std::string six = make_topic("six", 6);
    const std::string one = make_topic("one", 1);
    const auto lines = run_command({"kcat", "-b", bootstrap(), "-L"});
    const auto has = [&](const std::string& needle) {
        return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return l.find(needle) != std::string::npos; });
    };
    EXPECT_TRUE(has("3 brokers:"));
    EXPECT_TRUE(has("topic \"" + six + "\" with 6 partitions:"));
    EXPECT_TRUE(has("topic \"" + one + "\" with 1 partitions:"));
}

TEST_F(KafkaIntegration, KcatProducedRecordsReachOurConsumerWithKeys) {
    const std::string topic = make_topic("in", 3);
    ops::TempDir dir("kcat-in-");
    const std::string file = dir.path() + "/records.txt";
    std::map<std::string, std::string> expected;
    {
        std::ofstream out(file);
        for (int i = 0; i < 12; ++i) {
            const std::string key = "key-" + std::to_string(i);
            const std::string value = "value " + std::to_string(i);
            expected[key] = value;
            out << key << ':' << value << '\n';
        }
    }
    run_command({"kcat", "-b", bootstrap(), "-P", "-t", topic, "-K:", "-l", file});

    RecordingListener listener;
    const auto started = std::chrono::steady_clock::now();
    KafkaConsumer consumer(consumer_properties(bootstrap(), group_name("g")), {topic}, listener,
                           test_logger("kafka-test"));
    auto records = consume(consumer, expected.size(), kJoinDeadline);
    ASSERT_TRUE(listener.first_assigned_at().has_value());
    const auto join_ms = std::chrono::duration_cast<std::chrono::milliseconds>(*listener.first_assigned_at() - started);
    std::printf("[ INFO     ] consumer group join took %lld ms (session.timeout.ms=6000)\n",
                static_cast<long long>(join_ms.count()));
    RecordProperty("group_join_ms", std::to_string(join_ms.count()));

    ASSERT_EQ(records.size(), expected.size());
    std::map<std::string, std::string> got;
    for (const auto& r : records) {
        ASSERT_TRUE(r.key.has_value());
        got[*r.key] = r.value;
        EXPECT_EQ(r.topic, topic);
        EXPECT_GT(r.timestamp_ms, 0);
    }
    EXPECT_EQ(got, expected);
    ASSERT_EQ(listener.assigned().size(), 1U);
    EXPECT_EQ(listener.assigned()[0].size(), 3U);
    EXPECT_EQ(consumer.assignment().size(), 3U);
    consumer.close();
    ASSERT_EQ(listener.revoked().size(), 1U);  // close() revokes through the listener
    EXPECT_EQ(listener.revoked()[0].size(), 3U);
    EXPECT_FALSE(consumer.poll(10ms).has_value());
    EXPECT_FALSE(consumer.fatal_error().has_value());
}

TEST_F(KafkaIntegration, OurProducerOutputIsReadableByKcat) {
    const std::string topic = make_topic("out", 1);
    KafkaProducer producer(producer_properties(bootstrap()));
    std::vector<std::string> expected;
    for (int i = 0; i < 5; ++i) {
        const std::string key = "k" + std::to_string(i);
        const std::string value = "{\"n\":" + std::to_string(i) + "}";
        auto report = producer.send_and_wait(topic, key, value, {{"x-n", std::to_string(i)}}, kDeliveryTimeout);
        ASSERT_TRUE(report.ok()) << report.error().message;
        EXPECT_EQ(report->topic, topic);
        EXPECT_EQ(report->partition, 0);
        EXPECT_EQ(report->offset, i);
        expected.push_back(key + "|" + value + "|x-n=" + std::to_string(i));
    }
    // A record without a key must stay keyless (kcat prints an empty key).
    ASSERT_TRUE(producer.send_and_wait(topic, std::nullopt, "nokey", {}, kDeliveryTimeout).ok());
    expected.push_back("|nokey|");
    ASSERT_TRUE(producer.flush(5s).ok());
    EXPECT_EQ(producer.pending(), 0U);

    const auto lines = run_command({"kcat", "-b", bootstrap(), "-C", "-t", topic, "-e", "-q", "-f", "%k|%s|%h\n"});
    EXPECT_EQ(lines, expected);
}

TEST_F(KafkaIntegration, ProduceEventLinesSendsValidLinesAndReportsTheRest) {
    const std::string topic = make_topic("events", 3);
    Config config;
    for (const char* id : {"leapsome", "elium"}) {
        AppConfig app;
        app.id = id;
        config.apps.push_back(app);
    }
    // 5 users x 4 versions, interleaved, so per-key order is observable on every partition.
    std::ostringstream file;
    std::map<std::string, std::vector<std::string>> expected_ids_by_key;
    std::size_t line_no = 0;
    std::vector<std::size_t> bad_lines;
    const auto add_line = [&](const std::string& line) {
        file << line << '\n';
        ++line_no;
    };
    for (int version = 1; version <= 4; ++version) {
        for (int user = 0; user < 5; ++user) {
            const std::string app = user % 2 == 0 ? "leapsome" : "elium";
            const std::string uid = "u" + std::to_string(user);
            const std::string id = "e-" + uid + "-v" + std::to_string(version);
            add_line(user_event(id, app, uid, version));
            expected_ids_by_key[app + "/user/" + uid].push_back(id);
        }
        if (version == 2) {
            add_line("{ not json");
            bad_lines.push_back(line_no);
            add_line("");  // blank lines are skipped, not rejected
            add_line(user_event("e-unknown", "workday", "u9", 1));
            bad_lines.push_back(line_no);
        }
    }
    add_line(R"({"specversion":"1.0","source":"s","type":"provisioning.user.assigned","data":{}})");
    bad_lines.push_back(line_no);

    KafkaProducer producer(producer_properties(bootstrap()));
    std::istringstream in(file.str());
    std::vector<producers::ProduceProgress> progress;
    const auto report = producers::produce_event_lines(in, producer, topic, &config,
                                                       [&](const producers::ProduceProgress& p) { progress.push_back(p); });
    EXPECT_EQ(report.sent, 20U);
    EXPECT_EQ(report.rejected, 3U);
    EXPECT_EQ(report.failed, 0U);
    ASSERT_EQ(report.problems.size(), 3U);
    for (std::size_t i = 0; i < bad_lines.size(); ++i) {
        EXPECT_EQ(report.problems[i].line_number, bad_lines[i]);
        EXPECT_FALSE(report.problems[i].reason.empty());
    }
    EXPECT_NE(report.problems[1].reason.find("workday"), std::string::npos) << report.problems[1].reason;
    EXPECT_NE(report.problems[2].reason.find("id"), std::string::npos) << report.problems[2].reason;
    ASSERT_EQ(progress.size(), 1U);  // fewer than 1,000 lines: only the final call
    EXPECT_TRUE(progress.back().done);
    EXPECT_EQ(progress.back().lines_read, line_no);
    EXPECT_EQ(progress.back().sent, 20U);

    RecordingListener listener;
    KafkaConsumer consumer(consumer_properties(bootstrap(), group_name("g")), {topic}, listener,
                           test_logger("kafka-test"));
    auto records = consume(consumer, 20, kJoinDeadline);
    // Anything beyond the 20 valid events would be a bug: give it a moment to show up.
    auto extra = consume(consumer, 1, 1s);
    EXPECT_TRUE(extra.empty()) << "unexpected record: " << extra[0].value;
    ASSERT_EQ(records.size(), 20U);
    std::map<std::string, std::vector<std::string>> got_ids_by_key;
    std::map<std::string, std::int32_t> partition_of_key;
    for (const auto& r : records) {
        ASSERT_TRUE(r.key.has_value());
        auto event = parse_record(r);
        ASSERT_TRUE(event.ok()) << event.error().message;
        EXPECT_EQ(*r.key, record_key(*event));
        got_ids_by_key[*r.key].push_back(event->id);
        const auto [it, inserted] = partition_of_key.emplace(*r.key, r.partition);
        EXPECT_EQ(it->second, r.partition) << "key " << *r.key << " spans partitions";
        const Header* ct = find_header(r.headers, "content-type");
        ASSERT_NE(ct, nullptr);
        EXPECT_EQ(ct->value, "application/cloudevents+json");
    }
    EXPECT_EQ(got_ids_by_key, expected_ids_by_key);
}

TEST_F(KafkaIntegration, ProduceEventLinesReportsDeliveryFailures) {
    // A private broker, taken down, so nothing can be delivered.
    ops::EmbeddedBroker down(1, {{"events", 1}});
    ASSERT_TRUE(down.set_broker_up(-1, false).ok());
    auto props = producer_properties(down.bootstrap_servers());
    props["message.timeout.ms"] = "1500";
    KafkaProducer producer(props, KafkaProducer::Options{.log = [](int, const std::string&, const std::string&) {}});
    std::istringstream in(user_event("e1", "a", "u1", 1) + "\n" + "oops\n" + user_event("e2", "a", "u2", 1) + "\n");
    const auto report = producers::produce_event_lines(in, producer, "events", nullptr, nullptr);
    EXPECT_EQ(report.sent, 0U);
    EXPECT_EQ(report.rejected, 1U);
    EXPECT_EQ(report.failed, 2U);
    ASSERT_EQ(report.problems.size(), 3U);
    EXPECT_EQ(report.problems[0].line_number, 1U);
    EXPECT_EQ(report.problems[1].line_number, 2U);
    EXPECT_EQ(report.problems[2].line_number, 3U);
    EXPECT_NE(report.problems[0].reason.find("timed out"), std::string::npos) << report.problems[0].reason;
}

TEST_F(KafkaIntegration, DestroyingTheProducerResolvesEveryPendingDelivery) {
    ops::EmbeddedBroker down(1, {{"events", 1}});
    ASSERT_TRUE(down.set_broker_up(-1, false).ok());
    std::vector<std::future<Result<producers::DeliveryReport>>> futures;
    {
        KafkaProducer producer(producer_properties(down.bootstrap_servers()),
                               KafkaProducer::Options{.close_flush_timeout = 200ms,
                                                      .log = [](int, const std::string&, const std::string&) {}});
        for (int i = 0; i < 3; ++i) futures.push_back(producer.send("events", "k", "v", {}));
        EXPECT_EQ(producer.pending(), 3U);
        auto flushed = producer.flush(100ms);
        ASSERT_FALSE(flushed.ok());
        EXPECT_NE(flushed.error().message.find("3 record(s) still undelivered"), std::string::npos)
            << flushed.error().message;
        auto waited = producer.send_and_wait("events", "k", "v", {}, 100ms);
        ASSERT_FALSE(waited.ok());
        EXPECT_NE(waited.error().message.find("no delivery report"), std::string::npos) << waited.error().message;
    }  // the default message.timeout.ms is 5 minutes: only the purge on destruction resolves these
    for (auto& f : futures) {
        ASSERT_EQ(f.wait_for(0s), std::future_status::ready);
        auto result = f.get();
        ASSERT_FALSE(result.ok());
        EXPECT_NE(result.error().message.find("urge"), std::string::npos) << result.error().message;
    }
}

TEST_F(KafkaIntegration, FullLocalQueueIsRetriedForABoundedTime) {
    ops::EmbeddedBroker down(1, {{"events", 1}});
    ASSERT_TRUE(down.set_broker_up(-1, false).ok());
    auto props = producer_properties(down.bootstrap_servers());
    props["queue.buffering.max.messages"] = "2";
    KafkaProducer producer(props, KafkaProducer::Options{.queue_full_wait = 300ms,
                                                         .close_flush_timeout = 100ms,
                                                         .log = [](int, const std::string&, const std::string&) {}});
    auto a = producer.send("events", "k", "a", {});
    auto b = producer.send("events", "k", "b", {});
    const auto started = std::chrono::steady_clock::now();
    auto c = producer.send("events", "k", "c", {});
    const auto waited = std::chrono::steady_clock::now() - started;
    ASSERT_EQ(c.wait_for(0s), std::future_status::ready);
    auto result = c.get();
    ASSERT_FALSE(result.ok());
    EXPECT_NE(result.error().message.find("_QUEUE_FULL"), std::string::npos) << result.error().message;
    EXPECT_GE(waited, 300ms);
    EXPECT_LT(waited, 5s);
    EXPECT_EQ(producer.pending(), 2U);
}

TEST_F(KafkaIntegration, DeadLetterKeepsOriginalBytesKeyAndHeaders) {
    const std::string dlq = make_topic("dlq", 1);
    InboundRecord original;
    original.topic = "provisioning.events";
    original.partition = 2;
    original.offset = 41;
    original.key = "leapsome/user/7f3c9a";
    original.value = std::string("{\"not\": \"an event\"}\n\0\xff tail", 28);
    original.headers = {{"content-type", "application/cloudevents+json"}, {"x-trace", "abc"}, {"x-trace", "def"}};
    DeadLetterInfo info;
    info.code = "InvalidEvent";
    info.reason = "id: is required";
    info.stage = "parse";
    info.attempts = 2;
    info.failed_at_ms = 1764000000000;

    KafkaProducer producer(producer_properties(bootstrap()));
    DeadLetterPublisher publisher(producer, dlq);
    auto report = publisher.publish_with_report(original, info);
    ASSERT_TRUE(report.ok()) << report.error().message;
    EXPECT_EQ(report->topic, dlq);
    auto durable = publisher.publish(original, info);  // the DeadLetterSink entry point
    ASSERT_TRUE(durable.ok()) << durable.error().message;
    EXPECT_TRUE(*durable);

    RecordingListener listener;
    KafkaConsumer consumer(consumer_properties(bootstrap(), group_name("g")), {dlq}, listener,
                           test_logger("kafka-test"));
    auto records = consume(consumer, 2, kJoinDeadline);
    ASSERT_EQ(records.size(), 2U);
    const InboundRecord& dead = records[0];
    EXPECT_EQ(dead.offset, report->offset);
    EXPECT_EQ(dead.key, original.key);
    EXPECT_EQ(dead.value, original.value);
    ASSERT_EQ(dead.headers.size(), original.headers.size() + 8);
    for (std::size_t i = 0; i < original.headers.size(); ++i) {
        EXPECT_EQ(dead.headers[i].name, original.headers[i].name);
        EXPECT_EQ(dead.headers[i].value, original.headers[i].value);
    }
    const std::map<std::string, std::string> context{
        {"provbridge.error.code", "InvalidEvent"},       {"provbridge.error.reason", "id: is required"},
        {"provbridge.error.stage", "parse"},             {"provbridge.source.topic", "provisioning.events"},
        {"provbridge.source.partition", "2"},            {"provbridge.source.offset", "41"},
        {"provbridge.attempts", "2"},                    {"provbridge.failed_at", "2025-11-24T16:00:00.000Z"}};
    for (const auto& [name, value] : context) {
        const Header* h = find_header(dead.headers, name);
        ASSERT_NE(h, nullptr) << name;
        EXPECT_EQ(h->value, value) << name;
    }
}

TEST_F(KafkaIntegration, UnstoredOffsetsAreRedeliveredToTheNextGroupMember) {
    const std::string topic = make_topic("alo", 1);
    const std::string group = group_name("g");
    KafkaProducer producer(producer_properties(bootstrap()));
    for (int i = 0; i < 10; ++i) {
        ASSERT_TRUE(producer.send_and_wait(topic, "k", "r" + std::to_string(i), {}, kDeliveryTimeout).ok());
    }
    {
        RecordingListener listener;
        KafkaConsumer first(consumer_properties(bootstrap(), group), {topic}, listener, test_logger("kafka-test"));
        auto records = consume(first, 10, kJoinDeadline);
        ASSERT_EQ(records.size(), 10U);
        // Records 0..3 finished; 4..9 were consumed but never finished.
        auto stored = first.store_offset({topic, 0}, 4);
        ASSERT_TRUE(stored.ok()) << stored.error().message;
        auto committed = first.commit_sync();
        ASSERT_TRUE(committed.ok()) << committed.error().message;
        EXPECT_TRUE(*committed);
        EXPECT_FALSE(first.store_offset({"not-assigned", 0}, 1).ok());
        first.close();
        first.close();  // idempotent
    }
    RecordingListener listener;
    const auto started = std::chrono::steady_clock::now();
    KafkaConsumer second(consumer_properties(bootstrap(), group), {topic}, listener, test_logger("kafka-test"));
    auto records = consume(second, 6, kJoinDeadline);
    ASSERT_TRUE(listener.first_assigned_at().has_value());
    std::printf("[ INFO     ] rejoin of a group whose member just left took %lld ms (session.timeout.ms=6000)\n",
                static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           *listener.first_assigned_at() - started)
                                           .count()));
    ASSERT_EQ(records.size(), 6U);
    EXPECT_EQ(records.front().offset, 4);
    EXPECT_EQ(records.front().value, "r4");
    EXPECT_EQ(records.back().offset, 9);
}

TEST_F(KafkaIntegration, OffsetsStoredInsideOnRevokedAreCommittedBeforeLeaving) {
    const std::string topic = make_topic("revoke", 1);
    const std::string group = group_name("g");
    KafkaProducer producer(producer_properties(bootstrap()));
    for (int i = 0; i < 8; ++i) {
        ASSERT_TRUE(producer.send_and_wait(topic, "k", "r" + std::to_string(i), {}, kDeliveryTimeout).ok());
    }
    {
        RecordingListener listener;
        KafkaConsumer* self = nullptr;
        bool stored_in_revoke = false;
        // The worker drains in-flight work in on_revoked and stores its offsets there.
        listener.on_revoked_do([&](const std::vector<TopicPartition>& partitions) {
            ASSERT_EQ(partitions.size(), 1U);
            stored_in_revoke = self->store_offset(partitions[0], 6).ok();
        });
        KafkaConsumer first(consumer_properties(bootstrap(), group), {topic}, listener, test_logger("kafka-test"));
        self = &first;
        ASSERT_EQ(consume(first, 8, kJoinDeadline).size(), 8U);
        first.close();
        EXPECT_TRUE(stored_in_revoke);
    }
    RecordingListener listener;
    KafkaConsumer second(consumer_properties(bootstrap(), group), {topic}, listener, test_logger("kafka-test"));
    auto records = consume(second, 2, kJoinDeadline);
    ASSERT_EQ(records.size(), 2U);
    EXPECT_EQ(records[0].offset, 6);
    EXPECT_EQ(records[1].offset, 7);
}

TEST_F(KafkaIntegration, BinaryModeEventIsParsedAndPauseHoldsRecordsBack) {
    const std::string topic = make_topic("binary", 1);
    RecordingListener listener;
    KafkaConsumer consumer(consumer_properties(bootstrap(), group_name("g")), {topic}, listener,
                           test_logger("kafka-test"));
    ASSERT_TRUE(poll_until_assigned(consumer, listener, kJoinDeadline).empty());
    ASSERT_TRUE(listener.first_assigned_at().has_value());
    const std::vector<TopicPartition> partitions{{topic, 0}};
    EXPECT_EQ(consumer.assignment(), partitions);
    consumer.pause(partitions);

    KafkaProducer producer(producer_properties(bootstrap()));
    const std::string data = R"({"app":"leapsome","object":{"type":"user","id":"7f3c9a","version":7,)"
                             R"("attributes":{"mail":"ada@contoso.com"}},"assignment":{"role":"User"}})";
    const std::vector<Header> headers{{"ce_specversion", "1.0"},
                                      {"ce_id", "evt-bin-1"},
                                      {"ce_source", "urn:directory:contoso"},
                                      {"ce_type", "provisioning.user.assigned"},
                                      {"ce_time", "2026-11-23T10:00:00Z"},
                                      {"content-type", "application/json"}};
    auto report = producer.send_and_wait(topic, "leapsome/user/7f3c9a", data, headers, kDeliveryTimeout);
    ASSERT_TRUE(report.ok()) << report.error().message;

    // Paused: the record is on the broker but must not be handed out.
    EXPECT_TRUE(consume(consumer, 1, 1500ms).empty());
    consumer.resume(partitions);
    auto records = consume(consumer, 1, 10s);
    ASSERT_EQ(records.size(), 1U);
    EXPECT_EQ(records[0].value, data);
    auto event = parse_record(records[0]);
    ASSERT_TRUE(event.ok()) << event.error().message;
    EXPECT_EQ(event->id, "evt-bin-1");
    EXPECT_EQ(event->source, "urn:directory:contoso");
    EXPECT_EQ(event->type, EventType::UserAssigned);
    EXPECT_EQ(event->time, "2026-11-23T10:00:00Z");
    EXPECT_EQ(event->app, "leapsome");
    EXPECT_EQ(event->object_id, "7f3c9a");
    EXPECT_EQ(event->version, 7);
    ASSERT_TRUE(event->role.has_value());
    EXPECT_EQ(*event->role, "User");
    EXPECT_EQ(event->attributes["mail"], "ada@contoso.com");
}

TEST_F(KafkaIntegration, ACommittedOffsetRetentionRemovedIsReportedAndTheLogStartIsReadOn) {
    const std::string topic = make_topic("gap", 1);
    const std::string group = group_name("g");
    KafkaProducer producer(producer_properties(bootstrap()));
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(producer.send_and_wait(topic, "k", "r" + std::to_string(i), {}, kDeliveryTimeout).ok());
    }
    {
        RecordingListener listener;
        KafkaConsumer first(consumer_properties(bootstrap(), group), {topic}, listener, test_logger("kafka-test"));
        ASSERT_EQ(consume(first, 5, kJoinDeadline).size(), 5U);
        ASSERT_TRUE(first.store_offset({topic, 0}, 3).ok());
        ASSERT_TRUE(first.commit_sync().ok());
        first.close();
    }
    overflow_partition(producer, topic);
    const auto position = test_support::group_position(bootstrap(), group, topic, 1);
    ASSERT_EQ(position.committed[0], 3);
    const std::int64_t log_start = position.start[0];
    ASSERT_GT(log_start, 5) << "the broker kept the whole partition";

    RecordingListener listener;
    RecordingGapListener gaps;
    KafkaConsumer second(consumer_properties(bootstrap(), group), {topic}, listener, test_logger("kafka-test"), 0ms,
                         &gaps);
    const auto left = static_cast<std::size_t>(position.end[0] - log_start);
    auto records = consume(second, left, kJoinDeadline);
    ASSERT_EQ(records.size(), left) << "every record still in the log is read";
    EXPECT_EQ(records.front().offset, log_start);
    ASSERT_EQ(gaps.reports.size(), 1U);
    EXPECT_EQ(gaps.reports[0].group, group);
    EXPECT_EQ(gaps.reports[0].partition, (TopicPartition{topic, 0}));
    EXPECT_EQ(gaps.reports[0].gap, (consumers::OffsetGap{3, log_start, log_start - 3}));
}

TEST_F(KafkaIntegration, APartitionLeftBehindByTheLogStartWhileAssignedIsReported) {
    const std::string topic = make_topic("behind", 1);
    RecordingListener listener;
    RecordingGapListener gaps;
    const std::string group = group_name("g");
    KafkaConsumer consumer(consumer_properties(bootstrap(), group), {topic}, listener, test_logger("kafka-test"), 0ms,
                           &gaps);
    ASSERT_TRUE(poll_until_assigned(consumer, listener, kJoinDeadline).empty());
    KafkaProducer producer(producer_properties(bootstrap()));
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(producer.send_and_wait(topic, "k", "r" + std::to_string(i), {}, kDeliveryTimeout).ok());
    }
    ASSERT_EQ(consume(consumer, 5, 10s).size(), 5U);
    EXPECT_TRUE(gaps.reports.empty()) << "a group without a committed offset starts at the log start by design";
    // Paused as the worker pauses for back-pressure, while retention overtakes it.
    consumer.pause({{topic, 0}});
    overflow_partition(producer, topic);
    const auto position = test_support::group_position(bootstrap(), group, topic, 1);
    const std::int64_t log_start = position.start[0];
    ASSERT_GT(log_start, 5);
    consumer.resume({{topic, 0}});
    auto records = consume(consumer, 1, 10s);
    ASSERT_EQ(records.size(), 1U);
    EXPECT_EQ(records[0].offset, log_start);
    ASSERT_EQ(gaps.reports.size(), 1U);
    EXPECT_EQ(gaps.reports[0].gap, (consumers::OffsetGap{5, log_start, log_start - 5}));
    // Reading on through the log is no further gap.
    EXPECT_EQ(consume(consumer, static_cast<std::size_t>(position.end[0] - log_start - 1), 10s).size(),
              static_cast<std::size_t>(position.end[0] - log_start - 1));
    EXPECT_EQ(gaps.reports.size(), 1U);
}

}  // namespace
}  // namespace provbridge
