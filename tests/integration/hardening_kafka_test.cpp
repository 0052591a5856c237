// Hardening against Kafka: records too large to forward, bad or secret-looking settings,
// an unreachable or lost cluster, and restarts against the embedded broker.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <sys/wait.h>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bridge_harness.hpp"
#include "broker_fixture.hpp"
#include "kafka_inspect.hpp"
#include "provbridge/consumers/kafka_consumer.hpp"
#include "provbridge/ops/local_services.hpp"
#include "provbridge/ops/process.hpp"
#include "provbridge/producers/producer.hpp"

namespace provbridge {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;
using test_support::BridgeHarness;
namespace dlh = producers::dead_letter_headers;

double seconds_since(SteadyClock::time_point start) {
    return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

struct CliResult {
    int exit_code = -1;
    std::string output;
    double seconds = 0;
};

// Runs the binary to completion (stdout and stderr together) within a deadline.
CliResult run_cli(std::vector<std::string> args, std::vector<std::string> env = {}, std::chrono::seconds timeout = 60s) {
    ops::ChildProcess::Options options;
    options.argv = {PROVBRIDGE_BINARY};
    options.argv.insert(options.argv.end(), args.begin(), args.end());
    options.merge_stderr = true;
    options.extra_env = std::move(env);
    const auto start = SteadyClock::now();
    ops::ChildProcess process(std::move(options));
    CliResult result;
    const auto deadline = start + timeout;
    while (auto line = process.read_line(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()))) {
        result.output += *line + "\n";
    }
    const auto status = process.wait(5s);
    result.seconds = seconds_since(start);
    if (status && WIFEXITED(*status)) result.exit_code = WEXITSTATUS(*status);
    return result;
}

const Header* find_header(const InboundRecord& record, std::string_view name) {
    const auto it = std::find_if(record.headers.begin(), record.headers.end(),
                                 [&](const Header& h) { return h.name == name; });
    return it == record.headers.end() ? nullptr : &*it;
}

json user_event(const std::string& id, const std::string& user, int version, const std::string& app = "app") {
    return json{{"specversion", "1.0"},
                {"id", id},
                {"source", "urn:directory:hardening"},
                {"type", "provisioning.user.assigned"},
                {"data",
                 {{"app", app},
                  {"object",
                   {{"type", "user"},
                    {"id", user},
                    {"version", version},
                    {"attributes", {{"userPrincipalName", user + "@contoso.example"}}}}},
                  {"assignment", {{"role", "User"}}}}}};
}

// ---------------------------------------------------------------------------------------------
// Start-up: what is refused before anything connects, and an unreachable Kafka.

class KafkaStartup : public ::testing::Test {
protected:
    ops::TempDir dir_{"provbridge-kafka-startup-"};

    std::string write_config(const json& kafka) const {
        const std::string path = dir_.path() + "/bridge.json";
        std::ofstream(path) << json{{"kafka", kafka},
                                    {"ops", {{"listen", "127.0.0.1:0"}}},
                                    {"apps", json::array({json{{"id", "a"},
                                                               {"scim", {{"base_url", "https://x.example"},
                                                                         {"token_env", "PB_TEST_TOKEN"}}}}})}}
                                   .dump(2);
        return path;
    }

    // The configuration is refused (exit 2) with "<file>: <field>: " before any client starts.
    void expect_refused(const json& kafka, const std::string& field, std::vector<std::string> env = {}) const {
        const auto config = write_config(kafka);
        env.push_back("PB_TEST_TOKEN=x");
        const auto r = run_cli({"run", "--config", config}, env);
        EXPECT_EQ(r.exit_code, 2) << kafka.dump() << "\n" << r.output;
        EXPECT_NE(r.output.find(config + ": " + field + ": "), std::string::npos) << r.output;
        EXPECT_EQ(r.output.find("bootstrap.servers="), std::string::npos) << "the embedded broker started anyway";
        EXPECT_EQ(r.output.find("terminate"), std::string::npos) << r.output;
    }
};

TEST_F(KafkaStartup, ABadPropertyInAnySectionIsRefusedWithFileAndField) {
    const json unreachable = "127.0.0.1:1";
    expect_refused({{"bootstrap_servers", unreachable}, {"properties", {{"socket.timeout.ms", "soon"}}}},
                   "kafka.properties.socket.timeout.ms");
    expect_refused({{"bootstrap_servers", unreachable}, {"consumer_properties", {{"session.timeout.ms", "soon"}}}},
                   "kafka.consumer_properties.session.timeout.ms");
    expect_refused({{"bootstrap_servers", unreachable}, {"producer_properties", {{"linger.ms", "soon"}}}},
                   "kafka.producer_properties.linger.ms");
    // Valid alone; librdkafka refuses it only when it builds the consumer.
    expect_refused({{"bootstrap_servers", unreachable}, {"consumer_properties", {{"fetch.max.bytes", "1000"}}}},
                   "kafka.consumer_properties.fetch.max.bytes");
    // The embedded broker is refused the same way (it would otherwise start first).
    expect_refused({{"consumer_properties", {{"session.timeout.ms", "soon"}}}},
                   "kafka.consumer_properties.session.timeout.ms");
}

TEST_F(KafkaStartup, SecretsAreNeverInlineAndMustResolve) {
    expect_refused({{"bootstrap_servers", "127.0.0.1:1"}, {"properties", {{"sasl.password", "hunter2"}}}},
                   "kafka.properties.sasl.password");
    expect_refused({{"bootstrap_servers", "127.0.0.1:1"},
                    {"properties", {{"security.protocol", "sasl_plaintext"}, {"sasl.mechanisms", "PLAIN"},
                                    {"sasl.username", "bridge"}}},
                    {"secret_properties", {{"sasl.password", {{"env", "PB_KAFKA_PASSWORD"}}}}}},
                   "kafka.secret_properties.sasl.password.env");
    const auto config = write_config({{"bootstrap_servers", "127.0.0.1:1"}, {"properties", {{"sasl.password", "hunter2"}}}});
    const auto r = run_cli({"run", "--config", config}, {"PB_TEST_TOKEN=x"});
    EXPECT_NE(r.output.find("kafka.secret_properties"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("hunter2"), std::string::npos) << r.output;
}

TEST_F(KafkaStartup, UnreachableKafkaExitsThreeAfterTheBoundNamingTheAddress) {
    const std::string bootstrap = "127.0.0.1:" + std::to_string(ops::pick_free_port());  // nothing listens
    const auto config = write_config({{"bootstrap_servers", bootstrap}, {"connect_timeout_ms", 2000}});
    const auto r = run_cli({"run", "--config", config}, {"PB_TEST_TOKEN=x"}, 60s);
    std::printf("[ measured ] unreachable Kafka reported after %.2f s (kafka.connect_timeout_ms = 2000)\n", r.seconds);
    EXPECT_EQ(r.exit_code, 3) << r.output;
    EXPECT_NE(r.output.find("Kafka unreachable at " + bootstrap), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("stopped cleanly"), std::string::npos) << r.output;
}

// ---------------------------------------------------------------------------------------------
// Records of any size reach the dead-letter topic; the partition goes on.

TEST(KafkaDeadLetterSize, RecordsOfAnySizeAreDeadLetteredAndThePartitionGoesOn) {
    BridgeHarness::Options options;
    options.group = "dlq-size";
    options.concurrency = 2;
    // Below the embedded broker's (absent) limit, so that the 3 MiB record meets a producer
    // limit as it would meet a topic's max.message.bytes on a real cluster.
    options.kafka_extra = {{"producer_properties", {{"message.max.bytes", std::to_string(2 * 1024 * 1024)}}}};
    BridgeHarness bridge(options);
    auto worker = bridge.start_worker(/*merge_stderr=*/true, "info");
    std::string transcript;
    const std::string key = "app/user/big";  // one partition, one lane: the order below holds

    // r0, small: the target refuses it after a delay, and the broker refuses its dead letter as
    // too large (as a topic with a tiny limit would), so it is written truncated.
    bridge.admin(HttpMethod::Post, "/_admin/faults", {},
                 json{{"status", 400}, {"count", 1}, {"match", "POST /Users"}, {"delayMs", 1500},
                      {"scimType", "invalidValue"}, {"detail", "refused"}});
    const std::string r0 = user_event("r0", "big", 1).dump();
    bridge.send(key, r0);
    ASSERT_TRUE(bridge.broker()
                    .fail_next_requests(ops::EmbeddedBroker::kProduceApi, {RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE})
                    .ok());
    // Nothing else may produce until r0's dead letter took the injected refusal.
    BridgeHarness::wait_finished(*worker, 1, 60s, &transcript);
    // r1: 1.5 MiB, not JSON: over worker.max_event_bytes, dead-lettered whole.
    std::string r1 = "{\"this is not json\": \"" + std::string(1536 * 1024, 'a');
    bridge.send(key, r1);
    BridgeHarness::wait_consumed(*worker, 2, 60s, &transcript);
    // r2: just under 1 MiB with an unknown type: its dead letter (record + headers) is over
    // librdkafka's default message.max.bytes.
    json r2_doc = user_event("r2", "big", 1);
    r2_doc["type"] = "provisioning.user.renamed";
    r2_doc["data"]["object"]["attributes"]["padding"] = "";
    const std::size_t r2_size = 1040000;
    r2_doc["data"]["object"]["attributes"]["padding"] = std::string(r2_size - r2_doc.dump().size(), 'p');
    const std::string r2 = r2_doc.dump();
    ASSERT_EQ(r2.size(), r2_size);
    bridge.send(key, r2);
    BridgeHarness::wait_consumed(*worker, 3, 60s, &transcript);
    // r3: 3 MiB, over the dead-letter producer's limit: truncated with its digest.
    std::string r3 = "not json at all " + std::string(3 * 1024 * 1024 - 16, 'z');
    r3[100] = '#';
    bridge.send(key, r3);
    BridgeHarness::wait_consumed(*worker, 4, 60s, &transcript);
    // r4: the next good record of the same partition is applied.
    bridge.send(key, user_event("r4", "big", 2).dump());
    const auto start = SteadyClock::now();
    auto progress = BridgeHarness::wait_finished(*worker, 5, 120s, &transcript);
    std::printf("[ measured ] the four dead letters and the good record finished %.2f s after the last send\n",
                seconds_since(start));
    EXPECT_EQ(progress.value("dead_lettered", 0), 4) << progress.dump();
    EXPECT_EQ(progress.value("applied", 0), 1) << progress.dump();
    EXPECT_FALSE(bridge.user_named("big@contoso.example").is_null());

    test_support::RecordingListener listener;
    consumers::KafkaConsumer consumer(test_support::consumer_properties(bridge.broker().bootstrap_servers(), "dlq-read"),
                                      {BridgeHarness::kDeadLetterTopic}, listener, test_support::test_logger("dlq"));
    const auto dead = test_support::consume(consumer, 4, 60s);
    ASSERT_EQ(dead.size(), 4U);
    std::map<std::string, const InboundRecord*> by_offset;
    for (const auto& rec : dead) {
        const auto* offset = find_header(rec, dlh::kSourceOffset);
        ASSERT_NE(offset, nullptr);
        by_offset[offset->value] = &rec;
        EXPECT_EQ(rec.key, key);
        ASSERT_NE(find_header(rec, dlh::kErrorReason), nullptr);
        EXPECT_FALSE(find_header(rec, dlh::kErrorReason)->value.empty());
    }
    ASSERT_EQ(by_offset.size(), 4U);
    std::vector<const InboundRecord*> in_order;
    for (const auto& [offset, rec] : by_offset) in_order.push_back(rec);
    std::sort(in_order.begin(), in_order.end(), [](const InboundRecord* a, const InboundRecord* b) {
        return std::stoll(find_header(*a, dlh::kSourceOffset)->value) < std::stoll(find_header(*b, dlh::kSourceOffset)->value);
    });

    const auto& d0 = *in_order[0];  // refused by the broker as too large: truncated form
    EXPECT_EQ(find_header(d0, dlh::kErrorCode)->value, "BadRequest");
    ASSERT_NE(find_header(d0, dlh::kTruncated), nullptr);
    EXPECT_EQ(find_header(d0, dlh::kOriginalSize)->value, std::to_string(r0.size()));
    EXPECT_EQ(find_header(d0, dlh::kOriginalSha256)->value, producers::sha256_hex(r0));
    EXPECT_EQ(d0.value, r0);  // small enough to keep whole even so

    const auto& d1 = *in_order[1];
    EXPECT_EQ(find_header(d1, dlh::kErrorCode)->value, "InvalidEvent");
    EXPECT_EQ(find_header(d1, dlh::kTruncated), nullptr);
    EXPECT_EQ(d1.value, r1);
    const auto& d2 = *in_order[2];
    EXPECT_EQ(find_header(d2, dlh::kErrorCode)->value, "InvalidEvent");
    EXPECT_EQ(find_header(d2, dlh::kTruncated), nullptr);
    EXPECT_EQ(d2.value, r2);
    const auto& d3 = *in_order[3];
    EXPECT_EQ(find_header(d3, dlh::kErrorCode)->value, "InvalidEvent");
    ASSERT_NE(find_header(d3, dlh::kTruncated), nullptr);
    EXPECT_EQ(find_header(d3, dlh::kTruncated)->value, "true");
    EXPECT_EQ(find_header(d3, dlh::kOriginalSize)->value, std::to_string(r3.size()));
    EXPECT_EQ(find_header(d3, dlh::kOriginalSha256)->value, producers::sha256_hex(r3));
    EXPECT_EQ(d3.value, r3.substr(0, producers::TruncationLimits{}.value_bytes));

    // Still running: one more event is applied, then a clean stop.
    bridge.send_event(user_event("r5", "after", 1));
    progress = BridgeHarness::wait_finished(*worker, 6, 60s, &transcript);
    EXPECT_EQ(progress.value("applied", 0), 2) << progress.dump();
    worker->signal(SIGTERM);
    while (auto line = worker->read_line(30s)) transcript += *line + "\n";
    const auto status = worker->wait(10s);
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << transcript.substr(0, 20000);
}

// ---------------------------------------------------------------------------------------------
// Kafka lost while running: the worker stops (exit 3) and commits nothing that is not durable.

TEST(KafkaLoss, LostKafkaStopsTheWorkerWithoutCommittingWhatIsNotDurable) {
    BridgeHarness::Options options;
    options.group = "loss";
    options.partitions = 2;
    options.kafka_extra = {{"lost_timeout_ms", 2000}};
    BridgeHarness bridge(options);
    auto worker = bridge.start_worker(/*merge_stderr=*/true, "info");
    std::string transcript;
    const std::string key = "app/user/loss";  // one partition: its committed offset counts outcomes
    for (int v = 1; v <= 3; ++v) bridge.send(key, user_event("l" + std::to_string(v), "loss", v).dump());
    BridgeHarness::wait_finished(*worker, 3, 60s, &transcript);

    // The fourth is in a SCIM call when Kafka goes; the call then fails, and its dead letter
    // cannot be written: it must not be committed.
    bridge.admin(HttpMethod::Post, "/_admin/faults", {}, json{{"status", 400}, {"count", 1}, {"delayMs", 1500}});
    auto changed = user_event("l4", "loss", 4);
    changed["data"]["object"]["attributes"]["displayName"] = "Changed";  // a PATCH, not no_change
    bridge.send(key, changed.dump());
    BridgeHarness::wait_consumed(*worker, 4, 60s, &transcript);
    ASSERT_TRUE(bridge.broker().set_broker_up(-1, false).ok());
    const auto lost_at = SteadyClock::now();
    while (auto line = worker->read_line(60s)) transcript += *line + "\n";
    const auto status = worker->wait(10s);
    std::printf("[ measured ] the worker exited %.2f s after every broker went down (kafka.lost_timeout_ms = 2000)\n",
                seconds_since(lost_at));
    ASSERT_TRUE(status.has_value()) << "the worker hangs";
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 3) << transcript.substr(0, 20000);
    EXPECT_NE(transcript.find("lost Kafka at " + bridge.broker().bootstrap_servers()), std::string::npos)
        << transcript.substr(0, 20000);
    EXPECT_EQ(transcript.find("stopped cleanly"), std::string::npos);

    ASSERT_TRUE(bridge.broker().set_broker_up(-1, true).ok());
    int durable = 0;
    for (int v = 1; v <= 4; ++v) {
        const auto outcome = bridge.reader().outcome("app", "urn:directory:hardening", "l" + std::to_string(v));
        ASSERT_TRUE(outcome.ok());
        if (outcome->has_value()) ++durable;
    }
    EXPECT_EQ(durable, 3) << transcript.substr(0, 20000);
    if (std::getenv("PB_DEBUG_TRANSCRIPT")) std::printf("%s\n", transcript.c_str());
    const auto position =
        test_support::group_position(bridge.broker().bootstrap_servers(), "loss", BridgeHarness::kTopic, 2);
    EXPECT_EQ(position.end_total(), 4);
    EXPECT_LE(position.committed_total(), durable) << "an offset was committed for an outcome that is not durable";
}

// ---------------------------------------------------------------------------------------------
// Restart after kill -9 against `provbridge broker`, reached by address.

TEST(KafkaRestart, AWorkerKilledAndRestartedGetsItsPartitionsBackFromProvbridgeBroker) {
    ops::TempDir dir("provbridge-restart-");
    ops::ChildProcess::Options broker_options;
    broker_options.argv = {PROVBRIDGE_BINARY, "broker", "--bootstrap-file", dir.path() + "/bootstrap"};
    ops::ChildProcess broker(std::move(broker_options));
    const auto announced = broker.wait_for_line("bootstrap.servers=", 30s);
    ASSERT_TRUE(announced.has_value());
    const std::string bootstrap = announced->substr(announced->find('=') + 1);
    ops::LocalRedis redis;
    const std::string token = "restart-token-5c1d";
    ops::LocalScimTarget target(ops::default_scim_target_script(), token);
    std::ofstream(dir.path() + "/token") << token << "\n";
    const std::string config = dir.path() + "/bridge.json";
    std::ofstream(config) << json{{"kafka", {{"bootstrap_servers", bootstrap}, {"group_id", "restart"}}},
                                  {"redis", {{"url", redis.url()}}},
                                  {"worker", {{"concurrency", 2}}},
                                  {"ops", {{"listen", "127.0.0.1:0"}}},
                                  {"apps", json::array({json{{"id", "app"},
                                                             {"scim", {{"base_url", target.base_url()},
                                                                       {"token_file", dir.path() + "/token"}}}}})}}
                                 .dump();
    const auto start_worker = [&] {
        ops::ChildProcess::Options o;
        o.argv = {PROVBRIDGE_BINARY, "run", "--config", config, "--json-progress", "--log-level", "info"};
        o.merge_stderr = true;
        return std::make_unique<ops::ChildProcess>(std::move(o));
    };
    const auto time_to_partitions = [](ops::ChildProcess& worker, SteadyClock::time_point since) {
        const auto line = worker.wait_for_line("kafka partitions assigned", 60s);
        EXPECT_TRUE(line.has_value()) << "no partitions within the deadline";
        return seconds_since(since);
    };

    auto start = SteadyClock::now();
    auto first = start_worker();
    const double first_join = time_to_partitions(*first, start);
    first->signal(SIGKILL);
    first->wait(10s);
    start = SteadyClock::now();
    auto second = start_worker();
    const double restart = time_to_partitions(*second, start);
    std::printf("[ measured ] against provbridge broker: first join %.2f s, restart after kill -9 %.2f s\n",
                first_join, restart);

    // The restarted worker is the group's only member and works.
    producers::KafkaProducer producer(std::map<std::string, std::string>{{"bootstrap.servers", bootstrap}});
    const auto event = user_event("after-restart", "ada", 1);
    ASSERT_TRUE(producer.send_and_wait("provisioning.events", std::string("app/user/ada"), event.dump(), {}, 30s).ok());
    const auto progress = BridgeHarness::wait_finished(*second, 1, 60s);
    EXPECT_EQ(progress.value("applied", 0), 1) << progress.dump();
    second->signal(SIGTERM);
    const auto status = second->wait(30s);
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
}

}  // namespace
}  // namespace provbridge
