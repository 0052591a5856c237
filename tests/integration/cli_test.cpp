// The provbridge binary as an operator uses it: configuration refusals, the embedded broker
// with kcat, produce, test-connection, the worker's handling of bad input, and the demo.
#include <csignal>
#include <fstream>
#include <sys/wait.h>

#include <regex>
#include <sstream>

#include <httplib.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bridge_harness.hpp"
#include "cli_runner.hpp"
#include "broker_fixture.hpp"
#include "provbridge/consumers/curl_scim_client.hpp"
#include "provbridge/consumers/kafka_consumer.hpp"
#include "provbridge/consumers/redis_store.hpp"
#include "provbridge/core/keys.hpp"
#include "provbridge/ops/embedded_broker.hpp"
#include "provbridge/ops/local_services.hpp"
#include "provbridge/ops/process.hpp"
#include "provbridge/producers/producer.hpp"
#include "redis_fixture.hpp"

namespace provbridge {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

using test_support::CliResult;
using test_support::run_cli;

std::string write_file(const std::string& path, const std::string& content) {
    std::ofstream(path) << content;
    return path;
}

class Cli : public ::testing::Test {
protected:
    ops::TempDir dir_{"provbridge-cli-"};
    std::string path(const std::string& name) const { return dir_.path() + "/" + name; }
};

TEST_F(Cli, BadConfigurationIsRefusedWithFileFieldAndReason) {
    const auto config = write_file(path("bad.json"), R"({"apps":[{"id":"a","scim":{"base_url":"ftp://x","token_env":"T"}}]})");
    const auto r = run_cli({"run", "--config", config});
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find(config + ": apps[0].scim.base_url: must be an http:// or https:// URL"), std::string::npos)
        << r.output;
}

TEST_F(Cli, MissingSecretIsRefusedBeforeAnythingStarts) {
    const auto config = write_file(
        path("bridge.json"), R"({"apps":[{"id":"a","scim":{"base_url":"https://x","token_env":"PB_TEST_UNSET_TOKEN"}}]})");
    const auto r = run_cli({"run", "--config", config});
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("apps[0].scim.token_env: environment variable PB_TEST_UNSET_TOKEN is not set"),
              std::string::npos)
        << r.output;
    EXPECT_EQ(r.output.find("bootstrap.servers="), std::string::npos) << "the broker started anyway";
}

TEST_F(Cli, BadKafkaPropertyIsRefusedWithItsField) {
    const auto config = write_file(path("bridge.json"), R"({"kafka":{"consumer_properties":{"session.timeout.ms":"soon"}},
        "apps":[{"id":"a","scim":{"base_url":"https://x","token_env":"PB_TEST_TOKEN"}}]})");
    const auto r = run_cli({"run", "--config", config}, 60s, {"PB_TEST_TOKEN=x"});
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find(config + ": kafka.consumer_properties.session.timeout.ms: "), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("bootstrap.servers="), std::string::npos) << "the broker started anyway";
}

TEST_F(Cli, EmbeddedBrokerServesKcat) {
    ops::ChildProcess::Options options;
    options.argv = {PROVBRIDGE_BINARY, "broker", "--bootstrap-file", path("bootstrap")};
    ops::ChildProcess broker(std::move(options));
    const auto line = broker.wait_for_line("bootstrap.servers=", 30s);
    ASSERT_TRUE(line.has_value());
    const std::string bootstrap = line->substr(line->find('=') + 1);
    std::ifstream file(path("bootstrap"));
    std::string from_file;
    std::getline(file, from_file);
    EXPECT_EQ(from_file, bootstrap);

    const auto kcat = [&](std::vector<std::string> args) {
        ops::ChildProcess::Options o;
        o.argv = {"kcat", "-b", bootstrap};
        o.argv.insert(o.argv.end(), args.begin(), args.end());
        o.merge_stderr = true;
        ops::ChildProcess p(std::move(o));
        std::string out;
        while (auto l = p.read_line(30s)) out += *l + "\n";
        const auto status = p.wait(5s);
        EXPECT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << out;
        return out;
    };
    const auto metadata = kcat({"-L"});
    EXPECT_NE(metadata.find("3 brokers"), std::string::npos) << metadata;
    EXPECT_NE(metadata.find("topic \"provisioning.events\" with 6 partitions"), std::string::npos) << metadata;
    EXPECT_NE(metadata.find("topic \"provisioning.deadletter\" with 1 partitions"), std::string::npos) << metadata;

    write_file(path("records"), "k1:hello\nk2:world\n");
    kcat({"-P", "-t", "provisioning.deadletter", "-K:", "-l", path("records")});
    const auto consumed = kcat({"-C", "-t", "provisioning.deadletter", "-e", "-f", "%k=%s\\n"});
    EXPECT_NE(consumed.find("k1=hello"), std::string::npos) << consumed;
    EXPECT_NE(consumed.find("k2=world"), std::string::npos) << consumed;

    broker.signal(SIGTERM);
    const auto status = broker.wait(30s);
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
}

TEST_F(Cli, ProduceSendsValidLinesAndReportsTheOthers) {
    ops::EmbeddedBroker broker(1, {{"provisioning.events", 2}});
    const auto config = write_file(path("bridge.json"), R"({"apps":[{"id":"leapsome","scim":{"base_url":"https://x","token_env":"T"}}]})");
    const std::string ok1 = R"({"specversion":"1.0","id":"p1","source":"s","type":"provisioning.user.assigned","data":{"app":"leapsome","object":{"type":"user","id":"u1","version":1}}})";
    const std::string ok2 = R"({"specversion":"1.0","id":"p2","source":"s","type":"provisioning.user.updated","data":{"app":"leapsome","object":{"type":"user","id":"u2","version":4}}})";
    const std::string unknown_app = R"({"specversion":"1.0","id":"p3","source":"s","type":"provisioning.user.assigned","data":{"app":"nope","object":{"type":"user","id":"u3","version":1}}})";
    const auto events = write_file(path("events.jsonl"), ok1 + "\n{oops\n\n" + ok2 + "\n" + unknown_app + "\n");
    const auto r = run_cli({"produce", "--config", config, "--bootstrap", broker.bootstrap_servers(), "--input", events});
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("sent 2 event(s) to provisioning.events; rejected 2"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(events + ":2: invalid JSON"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(events + ":5: "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("nope"), std::string::npos) << r.output;

    test_support::RecordingListener listener;
    consumers::KafkaConsumer consumer(test_support::consumer_properties(broker.bootstrap_servers(), "cli-produce"),
                                      {"provisioning.events"}, listener, test_support::test_logger("cli"));
    const auto records = test_support::consume(consumer, 2, 30s);
    ASSERT_EQ(records.size(), 2U);
    std::set<std::string> keys;
    for (const auto& rec : records) keys.insert(rec.key.value_or(""));
    EXPECT_EQ(keys, (std::set<std::string>{"leapsome/user/u1", "leapsome/user/u2"}));
}

class CliWithTarget : public ::testing::Test {
protected:
    void SetUp() override {
        target_ = std::make_unique<ops::LocalScimTarget>(ops::default_scim_target_script(), "cli-token-91aa");
        write_file(path("token"), "cli-token-91aa\n");
        write_file(path("wrong-token"), "not-the-token\n");
    }
    std::string path(const std::string& name) const { return dir_.path() + "/" + name; }
    std::string config(const std::string& token_file, const std::string& extra = "") {
        // Any free port for the ops server: tests run side by side.
        return write_file(path("bridge.json"), R"({"ops":{"listen":"127.0.0.1:0"},)" + extra +
                                                   R"("apps":[{"id":"crm","scim":{"base_url":")" +
                                                   target_->base_url() + R"(","token_file":")" + token_file + R"("}}]})");
    }

    ops::TempDir dir_{"provbridge-cli-"};
    std::unique_ptr<ops::LocalScimTarget> target_;
};

TEST_F(CliWithTarget, TestConnectionGivesAClearVerdict) {
    auto r = run_cli({"test-connection", "--config", config(path("token")), "--app", "crm"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("crm (" + target_->base_url() + "): OK"), std::string::npos) << r.output;

    r = run_cli({"test-connection", "--config", config(path("wrong-token")), "--app", "crm"});
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("FAILED"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("401"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("not-the-token"), std::string::npos) << "the token leaked";
    EXPECT_EQ(r.output.find("cli-token-91aa"), std::string::npos) << "the token leaked";

    r = run_cli({"test-connection", "--config", config(path("token")), "--app", "nope"});
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("configured: crm"), std::string::npos) << r.output;
}

TEST_F(CliWithTarget, TestConnectionAndPreviewNeverPrintATokenTheTargetEchoes) {
    consumers::ScimClientOptions admin_options;
    admin_options.base_url = target_->root_url();
    admin_options.token = "cli-token-91aa";
    consumers::CurlScimClient admin(admin_options);
    ScimRequest fault;
    fault.method = HttpMethod::Post;
    fault.path = "/_admin/faults";
    fault.body = json{{"status", 400}, {"count", 2}, {"match", "GET /Users"}, {"detail", "rejected"},
                      {"echoAuthorization", true}};
    ASSERT_EQ(admin.send(fault).status, 201);

    ops::LocalRedis redis;
    const auto cfg = config(path("token"), R"("redis":{"url":")" + redis.url() + R"("},)");
    auto r = run_cli({"test-connection", "--config", cfg, "--app", "crm"});
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("received Authorization: Bearer [redacted]"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("cli-token-91aa"), std::string::npos) << "the token leaked: " << r.output;

    write_file(path("event.json"),
               R"({"specversion":"1.0","id":"p-1","source":"urn:directory:cli","type":"provisioning.user.assigned",)"
               R"("data":{"app":"crm","object":{"type":"user","id":"ada","version":1,)"
               R"("attributes":{"userPrincipalName":"ada@contoso.example"}}}})");
    r = run_cli({"preview", "--config", cfg, "--event", path("event.json"), "--live"});
    EXPECT_NE(r.output.find("[redacted]"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("cli-token-91aa"), std::string::npos) << "the token leaked: " << r.output;
}

TEST(CliWorker, DeadLettersBadInputWithTheReasonAndKeepsGoing) {
    test_support::BridgeHarness::Options options;
    options.app = "crm";
    options.group = "cli";
    options.partitions = 2;
    test_support::BridgeHarness bridge(options);
    auto worker = bridge.start_worker(/*merge_stderr=*/true, "info");
    std::string transcript;

    // The target refuses the first create: that event must be dead-lettered with the reason.
    bridge.admin(HttpMethod::Post, "/_admin/faults", {},
                 json{{"status", 400}, {"count", 1}, {"match", "POST /Users"}, {"scimType", "invalidValue"},
                      {"detail", "title is too long"}});

    const auto user_event = [](const std::string& id, const std::string& user, const std::string& upn,
                               const std::string& app = "crm") {
        return json{{"specversion", "1.0"}, {"id", id}, {"source", "urn:directory:cli"}, {"type", "provisioning.user.assigned"},
                    {"data", {{"app", app}, {"object", {{"type", "user"}, {"id", user}, {"version", 1},
                                                         {"attributes", {{"userPrincipalName", upn}}}}},
                              {"assignment", {{"role", "User"}}}}}}
            .dump();
    };
    const std::vector<Header> trace{{"traceparent", "00-abc-01"}};
    // Alone first, so that the injected refusal meets this create and no other.
    bridge.send("crm/user/fails", user_event("t4", "fails", "fails@x"));
    test_support::BridgeHarness::wait_finished(*worker, 1, 60s, &transcript);
    bridge.send(std::nullopt, "{this is not json", trace);
    bridge.send("crm/user/x", R"({"specversion":"1.0","id":"t1","source":"s","type":"provisioning.user.renamed","data":{"app":"crm","object":{"type":"user","id":"x","version":1}}})");
    bridge.send("crm/user/y", R"({"specversion":"1.0","id":"t2","source":"s","type":"provisioning.user.assigned","data":{"app":"crm","object":{"type":"user","id":"y"}}})");
    bridge.send("other/user/z", user_event("t3", "z", "z@x", "hr"));
    // Binary mode: the CloudEvents attributes in ce_ headers, the value is data.
    bridge.send("crm/user/bin", R"({"app":"crm","object":{"type":"user","id":"bin","version":1,"attributes":{"userPrincipalName":"bin@x"}}})",
                {{"ce_specversion", "1.0"}, {"ce_id", "t5"}, {"ce_source", "urn:directory:cli"}, {"ce_type", "provisioning.user.assigned"}});
    bridge.send("crm/user/after", user_event("t6", "after", "after@x"));

    const json progress = test_support::BridgeHarness::wait_finished(*worker, 7, 60s, &transcript);
    ASSERT_EQ(progress.value("finished", 0), 7) << progress.dump();
    EXPECT_EQ(progress["dead_lettered"], 5);
    EXPECT_EQ(progress["applied"], 2);

    auto& reader = bridge.reader();
    auto created = reader.outcome("crm", "urn:directory:cli", "t5");
    ASSERT_TRUE(created.ok() && created->has_value());
    EXPECT_EQ((*created)->action, Action::Create);
    auto after = reader.outcome("crm", "urn:directory:cli", "t6");
    ASSERT_TRUE(after.ok() && after->has_value());
    EXPECT_EQ((*after)->status, OutcomeStatus::Applied);
    auto failed = reader.outcome("crm", "urn:directory:cli", "t4");
    ASSERT_TRUE(failed.ok() && failed->has_value());
    EXPECT_EQ((*failed)->status, OutcomeStatus::DeadLettered);
    EXPECT_EQ((*failed)->http_status, 400);
    EXPECT_NE((*failed)->reason.find("title is too long"), std::string::npos) << (*failed)->reason;
    auto dlq_index = reader.dead_letters("crm", 10);
    ASSERT_TRUE(dlq_index.ok());
    EXPECT_EQ(dlq_index->size(), 3U);  // type, version, SCIM refusal: the records that named crm

    test_support::RecordingListener listener;
    consumers::KafkaConsumer consumer(test_support::consumer_properties(bridge.broker().bootstrap_servers(), "cli-dlq"),
                                      {test_support::BridgeHarness::kDeadLetterTopic}, listener,
                                      test_support::test_logger("cli"));
    const auto dead = test_support::consume(consumer, 5, 30s);
    ASSERT_EQ(dead.size(), 5U);
    std::map<std::string, const InboundRecord*> by_code;
    for (const auto& rec : dead) {
        std::string code;
        for (const auto& h : rec.headers) {
            if (h.name == "provbridge.error.code") code = h.value;
        }
        by_code[code + ":" + rec.key.value_or("-")] = &rec;
    }
    ASSERT_TRUE(by_code.count("InvalidEvent:-")) << "the unparseable record";
    const auto& bad_json = *by_code["InvalidEvent:-"];
    EXPECT_EQ(bad_json.value, "{this is not json");
    EXPECT_EQ(bad_json.headers.front().name, "traceparent");
    EXPECT_TRUE(by_code.count("InvalidEvent:crm/user/x"));
    EXPECT_TRUE(by_code.count("InvalidEvent:crm/user/y"));
    EXPECT_TRUE(by_code.count("UnknownApp:other/user/z"));
    EXPECT_TRUE(by_code.count("BadRequest:crm/user/fails"));
    for (const auto& rec : dead) {
        for (const auto& h : rec.headers) EXPECT_EQ(h.value.find(bridge.token()), std::string::npos) << h.name;
    }

    // The provisioning log as an operator reads it: every record, Entra's fields, filters.
    const auto logs = bridge.cli({"logs", "--json"});
    ASSERT_EQ(logs.exit_code, 0) << logs.output;
    std::map<std::string, json> by_event;
    std::size_t lines = 0;
    std::istringstream in(logs.output);
    for (std::string line; std::getline(in, line);) {
        const auto doc = json::parse(line, nullptr, false);
        ASSERT_TRUE(doc.is_object()) << line;
        ++lines;
        by_event[doc.value("event_id", std::string())] = doc;
    }
    EXPECT_EQ(lines, 7U) << logs.output;
    ASSERT_TRUE(by_event.contains("t4")) << logs.output;
    EXPECT_EQ(by_event["t4"]["status"], "Failure");
    EXPECT_EQ(by_event["t4"]["error_code"], "BadRequest");
    EXPECT_EQ(by_event["t4"]["steps"].back()["step"], "export");
    EXPECT_EQ(by_event["t6"]["status"], "Success");
    EXPECT_EQ(by_event["t6"]["entra_action"], "Create");
    EXPECT_EQ(by_event["t6"]["steps"].size(), 5U) << by_event["t6"].dump();
    const auto failures = bridge.cli({"logs", "--status", "failure", "--app", "crm"});
    ASSERT_EQ(failures.exit_code, 0) << failures.output;
    EXPECT_NE(failures.output.find("STATUS"), std::string::npos) << "a header: " << failures.output;
    EXPECT_NE(failures.output.find("title is too long"), std::string::npos) << failures.output;
    EXPECT_EQ(failures.output.find("Success"), std::string::npos) << failures.output;
    const auto one = bridge.cli({"logs", "--object", "user/after", "--json"});
    EXPECT_EQ(std::count(one.output.begin(), one.output.end(), '\n'), 1) << one.output;
    EXPECT_EQ(bridge.cli({"logs", "--status", "Broken"}).exit_code, 2);
    EXPECT_EQ(bridge.cli({"logs", "--since", "yesterday-ish"}).exit_code, 2);
    EXPECT_EQ(logs.output.find(bridge.token()), std::string::npos);
    {
        // Every app at a glance, the group's lag from the broker.
        const auto status = bridge.cli({"status", "--json", "--bootstrap", bridge.broker().bootstrap_servers()});
        EXPECT_EQ(status.exit_code, 0) << "fewer than 10 events say nothing of health: " << status.output;
        const json doc = json::parse(status.output.substr(status.output.find('{')), nullptr, false);
        ASSERT_TRUE(doc.is_object()) << status.output;
        const json& crm = doc["apps"][0];
        EXPECT_EQ(crm["app"], "crm");
        EXPECT_EQ(crm["state"], "healthy");
        // t4 (refused), t1 and t2 (invalid, naming crm), t5 and t6 (created); the unparseable
        // record and the unknown app's are no app's.
        EXPECT_EQ(crm["events"], 5) << status.output;
        EXPECT_EQ(crm["failed"], 3) << status.output;
        EXPECT_EQ(crm["dlq"], 3) << status.output;
        EXPECT_FALSE(crm["last_success"].is_null()) << status.output;
        EXPECT_FALSE(crm["latency_p50_ms"].is_null()) << status.output;
        ASSERT_TRUE(doc["lag"].is_array()) << status.output;
        EXPECT_EQ(doc["lag"].size(), 2U) << "one row per partition: " << status.output;
        const auto text = bridge.cli({"status", "--app", "crm"});
        EXPECT_EQ(text.exit_code, 0) << text.output;
        EXPECT_NE(text.output.find("healthy"), std::string::npos) << text.output;
        EXPECT_NE(text.output.find("consumer lag of group"), std::string::npos) << text.output;
    }
    {
        // --follow prints what is recorded after it started.
        ops::ChildProcess::Options follow;
        follow.argv = {PROVBRIDGE_BINARY, "logs", "--config", bridge.config_path(), "--app", "crm", "--follow",
                       "--json", "--limit", "1"};
        ops::ChildProcess tail(std::move(follow));
        const auto first = tail.read_line(30s);
        ASSERT_TRUE(first.has_value()) << "the newest record first";
        bridge.send("crm/user/followed", user_event("t7", "followed", "followed@x"));
        const auto next = tail.wait_for_line("\"t7\"", 60s);
        ASSERT_TRUE(next.has_value()) << "--follow did not print the new record";
        EXPECT_EQ(json::parse(*next)["status"], "Success") << *next;
        tail.signal(SIGTERM);
        EXPECT_TRUE(tail.wait(10s).has_value());
    }

    worker->signal(SIGTERM);
    while (auto line = worker->read_line(30s)) transcript += *line + "\n";
    const auto status = worker->wait(10s);
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << transcript;
    EXPECT_NE(transcript.find("dead-lettered"), std::string::npos) << "the worker's log was not captured";
    EXPECT_EQ(transcript.find(bridge.token()), std::string::npos) << "the token leaked into the worker's output";
}

TEST_F(CliWithTarget, RunStartsTheEmbeddedBrokerWhenNoneIsConfiguredAndProduceReadsStdin) {
    ops::LocalRedis redis;
    const auto cfg = config(path("token"), R"("kafka":{"group_id":"embedded"},"redis":{"url":")" + redis.url() + R"("},)");
    ops::ChildProcess::Options options;
    options.argv = {PROVBRIDGE_BINARY, "run", "--config", cfg, "--json-progress", "--bootstrap-file", path("bootstrap")};
    ops::ChildProcess worker(std::move(options));
    const auto first = worker.read_line(60s);
    ASSERT_TRUE(first.has_value());
    const json announced = json::parse(*first);
    ASSERT_EQ(announced["event"], "broker") << *first;
    const std::string bootstrap = announced["bootstrap"];
    std::ifstream file(path("bootstrap"));
    std::string from_file;
    std::getline(file, from_file);
    EXPECT_EQ(from_file, bootstrap);

    write_file(path("events.jsonl"),
               R"({"specversion":"1.0","id":"s-1","source":"urn:directory:cli","type":"provisioning.user.assigned","data":{"app":"crm","object":{"type":"user","id":"ada","version":1,"attributes":{"userPrincipalName":"ada@contoso.example"}},"assignment":{"role":"User"}}})"
               "\n");
    const auto produced = run_cli({"produce", "--bootstrap", bootstrap, "--input", "-"}, 60s, {}, path("events.jsonl"));
    EXPECT_EQ(produced.exit_code, 0) << produced.output;
    EXPECT_NE(produced.output.find("sent 1 event(s) to provisioning.events"), std::string::npos) << produced.output;

    const json progress = test_support::BridgeHarness::wait_finished(worker, 1, 60s);
    EXPECT_EQ(progress["applied"], 1) << progress.dump();
    consumers::ScimClientOptions client_options;
    client_options.base_url = target_->base_url();
    client_options.token = "cli-token-91aa";
    consumers::CurlScimClient client(client_options);
    ScimRequest find;
    find.path = "/Users";
    find.query = {{"filter", R"(userName eq "ada@contoso.example")"}};
    EXPECT_EQ(json::parse(client.send(find).body)["totalResults"], 1);
    worker.signal(SIGTERM);
    const auto status = worker.wait(30s);
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
}

TEST_F(CliWithTarget, PreviewShowsTheStepsAndTheExactRequestWithoutSendingIt) {
    ops::LocalRedis redis;
    const auto cfg = config(path("token"), R"("redis":{"url":")" + redis.url() + R"("},)");
    write_file(path("event.json"),
               R"({"specversion":"1.0","id":"p-1","source":"urn:directory:cli","type":"provisioning.user.assigned",
                   "data":{"app":"crm","object":{"type":"user","id":"ada","version":3,
                   "attributes":{"userPrincipalName":"ada@contoso.example","displayName":"Ada Lovelace","jobTitle":"Countess"}},
                   "assignment":{"role":"User"}}})");
    auto r = run_cli({"preview", "--config", cfg, "--event", path("event.json")});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("3. Match: userName eq \"ada@contoso.example\""), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("not checked (use --live)"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("4. Action: create"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("POST " + target_->base_url() + "/Users"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("\"title\": \"Countess\""), std::string::npos) << r.output;

    // An account already exists in the target: the live preview finds it and would only PATCH.
    consumers::ScimClientOptions client_options;
    client_options.base_url = target_->base_url();
    client_options.token = "cli-token-91aa";
    consumers::CurlScimClient client(client_options);
    ScimRequest create;
    create.method = HttpMethod::Post;
    create.path = "/Users";
    create.body = json{{"schemas", {"urn:ietf:params:scim:schemas:core:2.0:User"}}, {"userName", "ada@contoso.example"},
                       {"displayName", "Ada Lovelace"}, {"title", "Engineer"}, {"active", true}};
    const auto created = client.send(create);
    ASSERT_EQ(created.status, 201) << created.body;
    const std::string id = json::parse(created.body)["id"];

    r = run_cli({"preview", "--config", cfg, "--event", path("event.json"), "--live"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("asked the target: "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("1 found"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("4. Action: update"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("title: Engineer → Countess"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("PATCH " + target_->base_url() + "/Users/" + id), std::string::npos) << r.output;

    // Nothing was written: the account still has its old title.
    ScimRequest get;
    get.path = "/Users/" + id;
    EXPECT_EQ(json::parse(client.send(get).body)["title"], "Engineer");
}

TEST(CliDemo, RunsToASummary) {
    const auto r = run_cli({"demo", "--exit-when-done", "--concurrency", "4"}, 180s);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    // Every sample event, follow-ups (the group's members sync) aside, whenever they finish.
    EXPECT_NE(r.output.find("Summary (21 of 21 events processed"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("created       10"), std::string::npos) << r.output;  // nine users and a group
    // an unassignment, and demo-014's update that sets accountEnabled false (a Disable, as Entra logs it)
    EXPECT_NE(r.output.find("disabled      2"), std::string::npos) << r.output;
    // demo-016 deletes u-006: disabled, its hard delete scheduled (hard_delete_after_days, 30)
    EXPECT_NE(r.output.find("deleted       0"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("soft-deleted  1"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("failed        1"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("(stale) version 1 is older than the applied version 2"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("kcat -b 127.0.0.1:"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("lease ran out"), std::string::npos) << "a parked event was run twice: " << r.output;
}

// `demo --ldap`: a local OpenLDAP directory, followed by `source ldap`, reaches the demo app.
TEST(CliDemo, WithLdapFollowsALocalDirectoryIntoTheApp) {
    const auto r = run_cli({"demo", "--ldap", "--exit-when-done", "--concurrency", "4"}, 240s);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("Summary (21 of 21 events processed"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("Directory (--ldap): OpenLDAP at ldap://127.0.0.1:"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("initial sync: 9 events sent"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("the app now holds 7 of the directory's accounts and the group sales with 3 members."),
              std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("provbridge source ldap --config "), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("local-slapd-admin"), std::string::npos) << "the directory's password was printed";
    EXPECT_EQ(r.output.find("lease ran out"), std::string::npos) << "a parked event was run twice: " << r.output;
}

// `demo --inject-failure`: a newcomer sees a red app with its reason on the dashboard, a dead
// letter to replay there, and the app recovering once its token is restored.
TEST(CliDemo, InjectFailureShowsAQuarantinedAppAReplayableDeadLetterAndTheRecovery) {
    ops::ChildProcess::Options options;
    options.argv = {PROVBRIDGE_BINARY, "demo", "--inject-failure", "--concurrency", "4"};
    options.merge_stderr = true;
    ops::ChildProcess demo(std::move(options));
    std::string transcript;
    std::string url;
    std::string token;
    std::string restore;
    static const std::regex url_re(R"(Dashboard: +(http://127\.0\.0\.1:[0-9]+/)#token=([0-9a-f]+))");
    static const std::regex restore_re(R"(sh (/\S+/restore-crm-token\.sh))");
    bool quarantined = false;
    while (auto line = demo.read_line(180s)) {
        transcript += *line + "\n";
        std::smatch m;
        if (url.empty() && std::regex_search(*line, m, url_re)) {
            url = m[1].str();
            token = m[2].str();
        }
        if (std::regex_search(*line, m, restore_re)) restore = m[1].str();
        if (line->find("app crm is quarantined (Unauthorized)") != std::string::npos) quarantined = true;
        if (quarantined && !restore.empty()) break;
    }
    ASSERT_FALSE(url.empty()) << transcript;
    ASSERT_TRUE(quarantined) << transcript;
    ASSERT_FALSE(restore.empty()) << transcript;
    EXPECT_NE(transcript.find("failed        2"), std::string::npos) << "the refused create is the second failure";

    static const std::regex hp(R"(http://([0-9.]+):([0-9]+)/)");
    std::smatch m;
    ASSERT_TRUE(std::regex_match(url, m, hp));
    httplib::Client client(m[1].str(), std::stoi(m[2].str()));
    auto fleet = client.Get("/api/v1/apps");
    ASSERT_TRUE(fleet && fleet->status == 200);
    const auto doc = json::parse(fleet->body);
    json crm;
    for (const auto& a : doc["apps"]) {
        if (a["app"] == "crm") crm = a;
    }
    ASSERT_TRUE(crm.is_object()) << doc.dump();
    EXPECT_EQ(crm["state"], "quarantined");
    EXPECT_EQ(crm["quarantine"]["code"], "Unauthorized") << crm.dump();

    auto detail = client.Get("/api/v1/apps/demo");
    ASSERT_TRUE(detail && detail->status == 200);
    std::string entry;
    const auto letters = json::parse(detail->body);
    for (const auto& d : letters["dlq"]) {
        if (d["code"] == "BadRequest" && d["replayable"] == true) entry = d["id"].get<std::string>();
    }
    ASSERT_FALSE(entry.empty()) << detail->body;
    auto replay = client.Post(("/api/v1/apps/demo/dlq/" + entry + "/replay").c_str(),
                              httplib::Headers{{"Authorization", "Bearer " + token}}, "", "application/json");
    ASSERT_TRUE(replay);
    EXPECT_EQ(replay->status, 202) << replay->body;

    // The token restored at crm's target: the next probe lifts the quarantine.
    ops::ChildProcess::Options sh;
    sh.argv = {"sh", restore};
    sh.quiet_stderr = true;
    ops::ChildProcess restoring(std::move(sh));
    const auto restored = restoring.wait(30000ms);
    ASSERT_TRUE(restored && WIFEXITED(*restored) && WEXITSTATUS(*restored) == 0);
    const auto lifted = demo.wait_for_line("quarantine lifted", 60000ms);
    ASSERT_TRUE(lifted.has_value()) << "crm stayed quarantined after its token was restored";
    EXPECT_NE(lifted->find("app crm"), std::string::npos) << *lifted;
    auto after = client.Get("/api/v1/apps");
    ASSERT_TRUE(after && after->status == 200);
    const auto healed = json::parse(after->body);
    for (const auto& a : healed["apps"]) {
        if (a["app"] == "crm") {
            EXPECT_NE(a["state"], "quarantined") << a.dump();
        }
    }
    demo.signal(SIGTERM);
    (void)demo.wait(60000ms);
}

}  // namespace
}  // namespace provbridge
